package cmd

import (
	"bytes"
	"context"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/rules"
)

// TestREADMEConfigurationMatchesFlags keeps the README's configuration
// table honest: every serve flag is there with its variable and default.
func TestREADMEConfigurationMatchesFlags(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	env := &cmdEnv{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer), getenv: func(string) string { return "" }}
	fs := newFlagSet(env, commands["serve"])
	var s serveFlags
	s.register(fs)
	fs.VisitAll(func(f *flag.Flag) {
		row := ""
		for _, line := range strings.Split(string(readme), "\n") {
			if strings.HasPrefix(line, "| `--"+f.Name+"`") {
				row = line
			}
		}
		if row == "" {
			t.Errorf("README: no configuration row for --%s", f.Name)
			return
		}
		if !strings.Contains(row, "`"+EnvName(f.Name)+"`") {
			t.Errorf("README: --%s row lacks `%s`", f.Name, EnvName(f.Name))
		}
		if d := f.DefValue; d != "" && d != "0" && !documented(row, d) {
			t.Errorf("README: --%s row lacks its default `%s`", f.Name, d)
		}
	})
}

// documented reports whether a table row shows the default d (durations
// compare by value: `5m` is 5m0s).
func documented(row, d string) bool {
	if strings.Contains(row, "`"+d+"`") {
		return true
	}
	want, err := time.ParseDuration(d)
	if err != nil {
		return false
	}
	parts := strings.Split(row, "`")
	for i := 1; i < len(parts); i += 2 {
		if got, err := time.ParseDuration(parts[i]); err == nil && got == want {
			return true
		}
	}
	return false
}

// TestREADMEGoSnippetsAreTestedCode: every Go snippet in the README is a
// verbatim part of a test file, so it compiles and runs under go test.
func TestREADMEGoSnippetsAreTestedCode(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var sources strings.Builder
	filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, "_test.go") {
			b, _ := os.ReadFile(p)
			sources.Write(b)
		}
		return nil
	})
	blocks := strings.Split(string(readme), "```go\n")
	if len(blocks) < 2 {
		t.Fatal("the README has no Go snippet; this test expects the custom action's")
	}
	for _, b := range blocks[1:] {
		code, _, _ := strings.Cut(b, "```")
		if !strings.Contains(sources.String(), code) {
			t.Errorf("this README snippet is not the code of any test:\n%s", code)
		}
	}
}

// TestREADMEConversationSnippet: the rules in the Conversations section
// load and their steps: test passes.
func TestREADMEConversationSnippet(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "## Conversations: per-user state")
	_, block, ok := strings.Cut(section, "```yaml\n")
	block, _, _ = strings.Cut(block, "```")
	if !ok || !strings.Contains(block, "steps:") {
		t.Fatal("the README's Conversations section has no rules snippet with steps:")
	}
	loaded, err := rules.Parse("README.md", []byte("version: 1\n"+block))
	if err != nil {
		t.Fatal(err)
	}
	if w := loaded.Diags.Warnings(); len(w) > 0 {
		t.Errorf("warnings: %v", w)
	}
	results := loaded.RunTests(context.Background(), time.UTC)
	if len(results) == 0 {
		t.Fatal("the snippet has no test")
	}
	for _, res := range results {
		if !res.Passed() {
			t.Error(res.String())
		}
	}
}

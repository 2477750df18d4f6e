package cmd

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shellFields splits a README command line as sh would, for the quoting
// the README uses: '…' and plain words.
func shellFields(line string) []string {
	var out []string
	var word strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				out = append(out, word.String())
				word.Reset()
			}
			inWord = false
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, word.String())
	}
	return out
}

// runReadmeLine runs one README command line (wxbot ARGS) in dir.
func runReadmeLine(t *testing.T, dir, line string) (string, int) {
	t.Helper()
	line, _, _ = strings.Cut(line, " #")
	args := shellFields(line)
	if len(args) == 0 || args[0] != "wxbot" {
		t.Fatalf("not a wxbot command: %q", line)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, wxbotBinary(t), args[1:]...)
	c.Dir, c.Env = dir, subprocessEnv([]string{"WXBOT_RULES=", "WXBOT_TIMEZONE="})
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), 0
}

// TestREADMEExplainExampleRuns: the Conversations section's explain line
// runs as written in the repository's root.
func TestREADMEExplainExampleRuns(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "## Conversations: per-user state")
	_, rest, ok := strings.Cut(section, "`wxbot explain ")
	line, _, _ := strings.Cut(rest, "`")
	if !ok {
		t.Fatal("the Conversations section has no `wxbot explain …` example")
	}
	out, code := runReadmeLine(t, "..", "wxbot explain "+line)
	if code != 0 || !strings.Contains(out, "matched: book-phone") || !strings.Contains(out, `step="date"`) {
		t.Errorf("wxbot explain %s: exit %d\n%s", line, code, out)
	}
}

// TestREADMEGettingStartedRuns: the wxbot init snippet's init and check
// lines run as written, in an empty directory (serve and simulate are
// TestSimulatePrintsElapsedAndPayPath's).
func TestREADMEGettingStartedRuns(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "**Getting started with `wxbot init`**")
	_, block, _ := strings.Cut(section, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	if !ok || !strings.Contains(block, "wxbot init") {
		t.Fatal("the README has no Getting started snippet with wxbot init")
	}
	dir := t.TempDir()
	ran := 0
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		if !strings.HasPrefix(line, "wxbot ") {
			continue // serve and simulate need a bot running
		}
		ran++
		if out, code := runReadmeLine(t, dir, line); code != 0 {
			t.Errorf("%s: exit %d\n%s", line, code, out)
		}
	}
	if ran < 2 {
		t.Errorf("ran %d lines of the snippet, want init and check", ran)
	}
	if _, err := os.Stat(filepath.Join(dir, "mybot", "menu.yaml")); err != nil {
		t.Errorf("init wrote no menu: %v", err)
	}
}

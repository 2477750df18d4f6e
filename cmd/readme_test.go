package cmd

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
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

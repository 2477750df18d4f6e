package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelpGolden: `wxbot -h` and every `wxbot COMMAND -h`, run through the
// built binary, read as testdata/help/*.txt hold them (regenerate with
// go test ./cmd -run HelpGolden -update, then read the diff).
func TestHelpGolden(t *testing.T) {
	cases := [][]string{{"-h"}}
	for _, name := range commandNames() {
		cases = append(cases, []string{name, "-h"})
	}
	// no WXBOT_* default from the developer's shell in the help
	env := []string{"WXBOT_ADMIN_LISTEN=", "WXBOT_RULES=", "WXBOT_TIMEZONE="}
	for _, args := range cases {
		name := "wxbot"
		if args[0] != "-h" {
			name = args[0]
		}
		t.Run(name, func(t *testing.T) {
			out, errOut, code := wxbot(t, env, args...)
			if code != 0 {
				t.Fatalf("wxbot %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
			}
			got := []byte(out + errOut)
			for _, bad := range []string{"tint", "bench-baseline", "retry-interval", "Flags (each also read from WXBOT_<NAME>):\n\n"} {
				if bytes.Contains(got, []byte(bad)) {
					t.Errorf("the help shows %q:\n%s", bad, got)
				}
			}
			if bytes.HasSuffix(got, []byte("WXBOT_<NAME>):\n")) {
				t.Errorf("an empty Flags heading:\n%s", got)
			}
			file := filepath.Join("testdata", "help", name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("wxbot %s:\n%s\nwant (%s):\n%s", strings.Join(args, " "), got, file, want)
			}
		})
	}
}

package cmd

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestAsk: on a terminal the operator's answer decides; without one, the
// command refuses with a usage error (exit 2) that names --yes.
func TestAsk(t *testing.T) {
	tests := []struct {
		name        string
		interactive bool
		input       string
		want        error
	}{
		{"yes", true, "y\n", nil},
		{"YES", true, " YES \n", nil},
		{"yes without a newline", true, "yes", nil},
		{"no", true, "n\n", errDeclined},
		{"just enter", true, "\n", errDeclined},
		{"end of input", true, "", errDeclined},
		{"something else", true, "sure\n", errDeclined},
		{"no terminal", false, "y\n", errUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errOut bytes.Buffer
			env := &cmdEnv{stdout: new(bytes.Buffer), stderr: &errOut}
			err := ask(env, strings.NewReader(tt.input), tt.interactive, "delete the custom menu")
			if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.interactive && !strings.HasPrefix(errOut.String(), "Delete the custom menu? This cannot be undone. [y/N] ") {
				t.Errorf("prompt %q", errOut.String())
			}
			if !tt.interactive && (errOut.Len() > 0 || !strings.Contains(err.Error(), "--yes")) {
				t.Errorf("without a terminal: prompt %q, error %v", errOut.String(), err)
			}
		})
	}
}

// TestWrapWords keeps the command table within its column.
func TestWrapWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", []string{""}},
		{"one two three", []string{"one two", "three"}},
		{"averyveryverylongword x", []string{"averyveryverylongword", "x"}},
	}
	for _, tt := range tests {
		if got := wrapWords(tt.in, 8); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("wrapWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadReplacing(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("rules.yaml", "version: 1\nrules:\n  - name: hello\n    on: text\n    actions: [{reply: {text: hi}}]\n")
	write("menu.yaml", "button:\n  - {type: click, name: A, key: A}\n")
	tests := []struct {
		name, data string
		wantRules  []string
		wantErr    string
	}{
		{"added beside the others", "version: 1\nrules:\n  - name: console\n    on: click\n    actions: []\n", []string{"console", "hello"}, ""},
		{"broken", "version: 1\nrules:\n  - name: console\n    on: clack\n", nil, "console.yaml:4:9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := LoadReplacing(dir, "console.yaml", []byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, tt.wantErr)) {
					t.Fatalf("err = %v, want one at %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range l.Set.Rules {
				names = append(names, r.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.wantRules, ",") {
				t.Errorf("rules %v, want %v", names, tt.wantRules)
			}
		})
	}
	// What is on disk is replaced, not added to, and never written.
	write("console.yaml", "version: 1\nrules:\n  - name: old\n    on: click\n    actions: []\n")
	l, err := LoadReplacing(dir, "console.yaml", []byte("version: 1\nrules:\n  - name: new\n    on: click\n    actions: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Set.Rules) != 2 || l.Set.Rules[0].Name != "new" {
		t.Errorf("rules %v", l.Set.Rules)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "console.yaml")); !strings.Contains(string(data), "name: old") {
		t.Errorf("console.yaml was written: %s", data)
	}
}

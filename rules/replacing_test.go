package rules

import (
	"fmt"
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
		{"added beside the others", "version: 1\nrules:\n  - name: console\n    on: click\n    actions: []\n", []string{"hello", "console"}, ""}, // a click after a text fallback: no matter
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
	if len(l.Set.Rules) != 2 || l.Set.Rules[1].Name != "new" {
		t.Errorf("rules %v", l.Set.Rules)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "console.yaml")); !strings.Contains(string(data), "name: old") {
		t.Errorf("console.yaml was written: %s", data)
	}
}

// TestConsoleRulesPlaced: the console's rules come after the operators'
// rules with a condition and before an operator's fallback for the same
// types, whatever the files are called, by Load and LoadReplacing.
func TestConsoleRulesPlaced(t *testing.T) {
	rule := func(name, on, gate string) string {
		return fmt.Sprintf("  - name: %q\n    on: %s\n    %s\n    actions: [{reply: {text: %q}}]\n", name, on, gate, name)
	}
	console := "version: 1\nrules:\n" + rule("console: 关键词 价格", "text", `text: {exact: ["价格"]}`)
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"operators' files before and after console.yaml", map[string]string{
			"aa-ops.yaml": rule("aa", "text", `when: 'event.content == "价格"'`),
			"zz-ops.yaml": rule("zz", "text", `when: 'event.content startsWith "价"'`) + rule("zz sorry", "text", ""),
		}, "aa zz console: 关键词 价格 zz sorry"},
		{"a fallback in a file read first", map[string]string{
			"aa-sorry.yaml": rule("sorry", "text", "") + rule("after sorry", "text", `text: {exact: ["营业时间"]}`),
			"rules.yaml":    rule("welcome", "subscribe", ""),
		}, "console: 关键词 价格 sorry after sorry welcome"},
		{"a fallback for other types only", map[string]string{
			"aa.yaml": rule("welcome", "subscribe", "") + rule("hours", "text", `text: {exact: ["营业时间"]}`),
		}, "welcome hours console: 关键词 价格"},
		{"a fallback that continues", map[string]string{
			"aa.yaml": rule("log", "'*'", "continue: true") + rule("sorry", "text", ""),
		}, "log console: 关键词 价格 sorry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("version: 1\nrules:\n"+text), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			l, err := LoadReplacing(dir, ConsoleFile, []byte(console)) // a first publish: no console.yaml yet
			if err != nil {
				t.Fatal(err)
			}
			if got := loadedNames(l); got != tt.want {
				t.Errorf("LoadReplacing: rules %q, want %q", got, tt.want)
			}
			os.WriteFile(filepath.Join(dir, ConsoleFile), []byte(console), 0o600)
			if l, err = Load(dir); err != nil {
				t.Fatal(err)
			}
			if got := loadedNames(l); got != tt.want {
				t.Errorf("Load: rules %q, want %q", got, tt.want)
			}
		})
	}
}

func loadedNames(l *Loaded) string {
	var names []string
	for _, r := range l.Set.Rules {
		names = append(names, r.Name)
	}
	return strings.Join(names, " ")
}

package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// explain runs an ai action offline: on --ai-answer, or a placeholder.
func TestExplainAI(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(path, []byte("version: 1\nrules:\n  - name: ask\n    on: text\n    actions:\n      - ai: {system: 客服}\n"), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--ai-answer", "周末照常营业"}, "周末照常营业"},
		{nil, "(the model's answer)"},
	} {
		out, errOut, code := runCmd(nil, append([]string{"explain", path, "--event", "type=text content=周末营业吗 from=oX"}, tt.args...)...)
		if code != 0 || !strings.Contains(out, tt.want) {
			t.Errorf("explain %v: exit %d, output\n%s%s\nlacks %q", tt.args, code, out, errOut, tt.want)
		}
	}
}

// The ai flags are checked before anything runs.
func TestAIFlagsChecked(t *testing.T) {
	for _, tt := range []struct {
		a    aiFlags
		want string
	}{
		{aiFlags{concurrency: 0, kefu: true}, "--ai-concurrency 0"},
		{aiFlags{concurrency: 8, pendingText: ""}, "--pending-text: must not be empty"},
		{aiFlags{concurrency: 8, kefu: true, baseURL: "https://api.deepseek.com/v1"}, "--ai-base-url needs --ai-model"},
	} {
		if err := tt.a.check(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("check(%+v) = %v, want %q", tt.a, err, tt.want)
		}
	}
	if err := (&aiFlags{concurrency: 8, kefu: true}).check(); err != nil {
		t.Errorf("the defaults: %v", err)
	}
}

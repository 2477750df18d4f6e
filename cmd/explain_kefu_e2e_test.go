package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine"
)

// TestExplainKefuWindow: explain shows the window the event opens and, for
// each kefu send of the push, whether it fits: its place against the
// quota, its delay against the validity.
func TestExplainKefuWindow(t *testing.T) {
	rulesYAML := `version: 1
rules:
  - name: capped
    on: click
    key: NEVER
    limit: {count: 2, per: 1h, scope: all}
    actions: [{reply: {text: hi}}]
  - name: menu
    on: click
    continue: true
    actions:
      - kefu: {text: one}
      - kefu: {text: two}
  - name: more
    on: [click, text, payment]
    actions:
      - kefu: {text: three}
      - kefu: {text: four, delay: 2m}
`
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(rulesYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		event string
		want  []string
	}{
		{"a click: 3 sends in a minute", "type=click key=MENU from=oX", []string{
			"kefu window: opens 3 sends within 1m0s, until 2026-11-24 10:01:00 CST",
			"  kefu send 1 (menu/kefu, " + path + ":12): fits: send 1 of 3",
			"  kefu send 2 (menu/kefu, " + path + ":13): fits: send 2 of 3",
			"  kefu send 3 (more/kefu, " + path + ":17): fits: send 3 of 3",
			"  kefu send 4 (more/kefu, " + path + ":18): does not fit: send 4 of a window of 3 (WeChat answers 45047)",
		}},
		{"a message: 5 sends in 48 hours", "type=text content=hi from=oX", []string{
			"kefu window: opens 5 sends within 48h0m0s, until 2026-11-26 10:00:00 CST",
			"  kefu send 1 (more/kefu, " + path + ":17): fits: send 1 of 5",
			"  kefu send 2 (more/kefu, " + path + ":18): fits: send 2 of 5, 2m0s after the push, within the window's 48h0m0s",
		}},
		{"a payment opens none", "type=payment from=oX", []string{
			"kefu window: none (a payment event opens none: kefu sends need a window an earlier message opened)",
			"  kefu send 1 (more/kefu, " + path + ":17): does not fit: no window of this event (it may fit one an earlier message opened)",
			"  kefu send 2 (more/kefu, " + path + ":18): does not fit: no window of this event (it may fit one an earlier message opened)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := wxbot(t, nil, "explain", path, "--timezone", "Asia/Shanghai", "--at", "2026-11-24 10:00", "--event", tt.event)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			_, tail, ok := strings.Cut(out, "kefu window:")
			if got := strings.Split(strings.TrimRight("kefu window:"+tail, "\n"), "\n"); !ok || strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("explain's kefu lines:\n%s\nwant:\n%s\nwhole output:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"), out)
			}
		})
	}
}

// TestTraceWordsLimit: explain names the limit that stopped a rule.
func TestTraceWordsLimit(t *testing.T) {
	tests := []struct {
		limit engine.Limit
		want  string
	}{
		{engine.Limit{Count: 3, Per: time.Hour}, "no: limit of 3 per 1h0m0s per user reached"},
		{engine.Limit{Count: 1, Per: time.Minute, All: true}, "no: limit of 1 per 1m0s for all users reached"},
	}
	for _, tt := range tests {
		l := tt.limit
		if got := traceWords(engine.Trace{Rule: &engine.Rule{Limit: &l}, Gate: engine.GateLimit}); got != tt.want {
			t.Errorf("traceWords = %q, want %q", got, tt.want)
		}
	}
}

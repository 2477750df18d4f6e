package actions

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/rules"
)

// TestAIMarkdownParam: the markdown param, as rules.yaml gives it, decides
// what a rule test's ai_answer becomes.
func TestAIMarkdownParam(t *testing.T) {
	const answer = `"## 营业时间\n**周末**照常营业, 详见[门店](https://a.cn/s_1)。"`
	tests := []struct {
		name, param, want, wantErr string
	}{
		{"default is plain", "", "【营业时间】\n周末照常营业, 详见门店（https://a.cn/s_1）。", ""},
		{"plain", "markdown: plain", "【营业时间】\n周末照常营业, 详见门店（https://a.cn/s_1）。", ""},
		{"keep", "markdown: keep", "## 营业时间\n**周末**照常营业, 详见[门店](https://a.cn/s_1)。", ""},
		{"unknown value", "markdown: text", "", `markdown: "text": want plain (Markdown becomes plain text; the default) or keep`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "version: 1\nrules:\n  - name: ask\n    on: text\n    actions:\n      - ai: {" + tt.param + "}\n" +
				"tests:\n  - name: t\n    event: {type: text, content: \"营业时间?\"}\n    ai_answer: " + answer + "\n" +
				"    expect: {reply: {type: text, text: " + quoteYAML(tt.want) + "}}\n"
			loaded, err := rules.Parse("rules.yaml", []byte(src))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range loaded.RunTests(context.Background(), time.UTC) {
				if !r.Passed() {
					t.Error(r.String())
				}
			}
		})
	}
}

func quoteYAML(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// TestAIMarkdownOnlyTheAnswer: the model's answer is converted before it
// is split; the operator's over_limit text is sent as written, and the
// history keeps the answer as the model wrote it (the model reads its own
// style back).
func TestAIMarkdownOnlyTheAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		long := "## 说明\n\n" + strings.Repeat("- **第一条**：这是一段很长的说明文字，用来把答案撑过两千字节。\n", 40)
		m := &fakeModel{answer: func(string) (string, error) { return long, nil }}
		loaded, err := rules.Parse("rules.yaml", []byte(`
version: 1
rules:
  - name: ask
    on: text
    actions:
      - ai: {history: 2, daily_limit: 1, over_limit: "**明天**再来"}
`))
		if err != nil {
			t.Fatal(err)
		}
		st := memory.New(nil)
		kefu := make(chan *outbox.Send, 20)
		ob := outbox.New(st, outbox.Options{Poll: 5 * time.Millisecond})
		ob.Register(outbox.KindKefu, outbox.DelivererFunc(func(_ context.Context, s *outbox.Send) error { kefu <- s; return nil }))
		e := runEngine(t, ob, engine.Options{State: st, Services: map[string]any{AIService: NewAI(m, "m", 1)}}, loaded.Set)
		b := &aiBot{e: e, store: st, kefu: kefu, model: m}

		r, _ := b.ask("oA", "规则?", time.Second)
		first := text(r)
		if !strings.HasPrefix(first, "【说明】\n\n• 第一条：这是") || strings.ContainsAny(first, "*#") || len(first) > MaxTextBytes {
			t.Errorf("first part %q, want the plain text, within %d bytes", first, MaxTextBytes)
		}
		rest := <-kefu
		if !strings.Contains(string(rest.Payload), "• 第一条") {
			t.Errorf("the second part %s is not plain text", rest.Payload)
		}
		if turns, _ := st.AITurns(context.Background(), "oA"); len(turns) != 1 || !strings.HasPrefix(turns[0].A, "## 说明") {
			t.Errorf("history %v, want the model's own Markdown", turns)
		}
		if r, _ := b.ask("oA", "再问", time.Second); text(r) != "**明天**再来" {
			t.Errorf("over_limit %q, want it as written", text(r))
		}
	})
}

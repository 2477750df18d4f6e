package actions

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

const aiHandoffRules = `
version: 1
rules:
  - name: ask
    on: text
    during_handoff: true # the ai action keeps quiet by itself
    actions:
      - ai:
          system: "答不了就写 [转人工]"
          daily_limit: 1
          handoff: {keywords: [转人工, Human], marker: "[转人工]"}
`

const aiHandoffActionsRules = `
version: 1
rules:
  - name: ask
    on: text
    actions:
      - ai:
          handoff:
            keywords: [人工]
            actions:
              - reply: {text: "客服电话 400-000"}
`

func newHandoffBot(t *testing.T, src string, m *fakeModel, holdLate bool) *aiBot {
	t.Helper()
	loaded, err := rules.Parse("rules.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b := &aiBot{store: memory.New(nil), kefu: make(chan *outbox.Send, 20), model: m}
	ob := outbox.New(b.store, outbox.Options{Poll: 5 * time.Millisecond})
	ob.Register(outbox.KindKefu, outbox.DelivererFunc(func(_ context.Context, s *outbox.Send) error { b.kefu <- s; return nil }))
	b.e = runEngine(t, ob, engine.Options{State: b.store, HoldLate: holdLate,
		Services: map[string]any{AIService: NewAI(m, "test-model", 8)}}, loaded.Set)
	return b
}

func TestAIHandoff(t *testing.T) {
	marked := func(q string) (string, error) {
		if strings.Contains(q, "退款") {
			return "这个我答不了 [转人工]", nil
		}
		return "答:" + q, nil
	}
	agent := map[string]any{engine.KfKey: engine.KfState{Account: "mia@kftest", Since: time.Now()}.Value()}
	tests := []struct {
		name    string
		rules   string
		user    map[string]any // the state before the question
		q       string
		reply   string // the reply's text, or its type for a transfer
		calls   int    // model calls
		kfWaits bool   // user.kf says the user waits for an agent after
		kfStays bool   // the agent still holds the conversation after
		history int    // turns kept
	}{
		{name: "an answer", rules: aiHandoffRules, q: "营业吗", reply: "答:营业吗", calls: 1, history: 1},
		{name: "a keyword transfers without the model", rules: aiHandoffRules, q: "我要 human 客服",
			reply: wechat.ReplyTransfer, kfWaits: true},
		{name: "the marker transfers instead of the answer", rules: aiHandoffRules, q: "我要退款",
			reply: wechat.ReplyTransfer, calls: 1, kfWaits: true},
		{name: "quiet while an agent holds the conversation", rules: aiHandoffRules, user: agent, q: "在吗",
			reply: "<none>", kfStays: true},
		{name: "handoff actions of the operator's", rules: aiHandoffActionsRules, q: "找人工", reply: "客服电话 400-000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				b := newHandoffBot(t, tt.rules, &fakeModel{answer: marked}, false)
				if tt.user != nil {
					if err := b.store.PatchUser(ctx, "oA", &store.UserPatch{Set: tt.user}); err != nil {
						t.Fatal(err)
					}
				}
				r, p := b.ask("oA", tt.q, time.Second)
				<-p.Done()
				got := text(r)
				if r != nil && r.Type == wechat.ReplyTransfer {
					got = r.Type
				}
				if got != tt.reply {
					t.Errorf("reply %q, want %q", got, tt.reply)
				}
				if len(b.model.requests) != tt.calls {
					t.Errorf("%d model calls, want %d", len(b.model.requests), tt.calls)
				}
				u, _ := b.store.LoadUser(ctx, "oA")
				k, ok := engine.KfOf(u)
				if ok && k.Waiting != tt.kfWaits || !ok && tt.kfWaits || (ok && k.Account != "") != tt.kfStays {
					t.Errorf("user.kf %v, want waiting %v, an agent %v", u[engine.KfKey], tt.kfWaits, tt.kfStays)
				}
				if turns, _ := b.store.AITurns(ctx, "oA"); len(turns) != tt.history {
					t.Errorf("%d turns kept, want %d (an answer never sent is not history)", len(turns), tt.history)
				}
				if len(b.kefu) > 0 {
					t.Errorf("%d kefu sends, want none (the answer is not sent)", len(b.kefu))
				}
			})
		})
	}
}

// On an account with the kefu API, a marker that comes after the push was
// answered cannot transfer: the user gets the answer, the marker cut out.
func TestAIHandoffMarkerTooLate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &fakeModel{delay: 200 * time.Millisecond, answer: func(string) (string, error) { return "请联系客服 [转人工]", nil }}
		b := newHandoffBot(t, aiHandoffRules, m, false)
		if r, _ := b.ask("oA", "q", 20*time.Millisecond); r != nil {
			t.Fatalf("replied %q before the answer was ready", text(r))
		}
		select {
		case s := <-b.kefu:
			if !strings.Contains(string(s.Payload), "请联系客服") || strings.Contains(string(s.Payload), "[转人工]") {
				t.Errorf("kefu send %s, want the answer without the marker", s.Payload)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the late answer was never sent")
		}
		if u, _ := b.store.LoadUser(context.Background(), "oA"); u[engine.KfKey] != nil {
			t.Errorf("user.kf %v after a transfer that could not happen", u[engine.KfKey])
		}
	})
}

func TestAIHandoffValidate(t *testing.T) {
	tests := []struct {
		h    AIHandoff
		want string
	}{
		{AIHandoff{}, "give keywords, a marker or both"},
		{AIHandoff{Keywords: []string{"人工", " "}}, "keywords[1]: empty"},
		{AIHandoff{Marker: "  "}, "marker: only spaces"},
		{AIHandoff{Keywords: []string{"人工"}}, ""},
		{AIHandoff{Marker: "[转人工]"}, ""},
	}
	for _, tt := range tests {
		err := tt.h.Validate()
		if got := ""; err != nil {
			got = err.Error()
			if tt.want == "" || !strings.Contains(got, tt.want) {
				t.Errorf("Validate(%+v) = %v, want %q", tt.h, err, tt.want)
			}
		} else if tt.want != "" {
			t.Errorf("Validate(%+v) = nil, want %q", tt.h, tt.want)
		}
	}
}

// Rule tests see the handoff too: the canned answer holds the marker.
func TestAIHandoffRuleTests(t *testing.T) {
	src := aiHandoffRules + `
tests:
  - name: the marker transfers
    event: {type: text, content: "退款"}
    ai_answer: "答不了 [转人工]"
    expect: {reply: {type: transfer_customer_service}, state: {kf: {waiting: true, since: "2026-01-05T10:00:00+08:00"}}}
    at: "2026-01-05 10:00"
  - name: a keyword transfers
    event: {type: text, content: "转人工"}
    expect: {reply: {type: transfer_customer_service}}
`
	loaded, err := rules.Parse("rules.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range loaded.RunTests(context.Background(), time.FixedZone("CST", 8*3600)) {
		if !r.Passed() {
			t.Errorf("%v", r)
		}
	}
}

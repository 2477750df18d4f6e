package actions

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wxbot/wxbot/actions/llm"
	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

// fakeModel answers with answer(question), after delay, and records the
// requests.
//
// The tests that talk to it run in a synctest bubble: its delay, the ai
// action's timeout, the reply deadlines and the outbox's polls are all on
// the bubble's fake clock, which moves only when every goroutine waits.
// So an answer delayed past a deadline is late, one without delay is in
// time, and pushes sent together are in flight together, however busy
// the machine.
type fakeModel struct {
	delay    time.Duration
	answer   func(q string) (string, error)
	mu       sync.Mutex
	requests []*llm.Request
	inFlight atomic.Int32
	maxIn    atomic.Int32
}

func (m *fakeModel) Chat(ctx context.Context, req *llm.Request) (*llm.Answer, error) {
	n := m.inFlight.Add(1)
	defer m.inFlight.Add(-1)
	for {
		old := m.maxIn.Load()
		if n <= old || m.maxIn.CompareAndSwap(old, n) {
			break
		}
	}
	m.mu.Lock()
	m.requests = append(m.requests, req)
	m.mu.Unlock()
	select {
	case <-time.After(m.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	text, err := m.answer(req.Messages[len(req.Messages)-1].Content)
	if err != nil {
		return nil, err
	}
	return &llm.Answer{Text: text, TokensIn: 10, TokensOut: 5}, nil
}

func (m *fakeModel) last() *llm.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requests[len(m.requests)-1]
}

const aiRules = `
version: 1
vars: {shop: 小店}
rules:
  - name: ask
    on: text
    actions:
      - ai: {system: "你是${vars.shop}的客服", history: 2, daily_limit: 3, timeout: 2s}
`

type aiBot struct {
	e     *engine.Engine
	store *memory.Memory
	kefu  chan *outbox.Send
	model *fakeModel
}

func newAIBot(t *testing.T, m *fakeModel, holdLate bool, concurrency int) *aiBot {
	t.Helper()
	loaded, err := rules.Parse("rules.yaml", []byte(aiRules))
	if err != nil {
		t.Fatal(err)
	}
	b := &aiBot{store: memory.New(nil), kefu: make(chan *outbox.Send, 20), model: m}
	ob := outbox.New(b.store, outbox.Options{Poll: 5 * time.Millisecond})
	ob.Register(outbox.KindKefu, outbox.DelivererFunc(func(_ context.Context, s *outbox.Send) error { b.kefu <- s; return nil }))
	b.e = runEngine(t, ob, engine.Options{State: b.store, HoldLate: holdLate,
		Services: map[string]any{AIService: NewAI(m, "test-model", concurrency)}}, loaded.Set)
	return b
}

func (b *aiBot) ask(from, q string, deadline time.Duration) (*wechat.Reply, *engine.Push) {
	ev := textEvent(q)
	ev.From = from
	p := b.e.Dispatch(ev)
	r, _ := p.Wait(time.After(deadline))
	return r, p
}

func text(r *wechat.Reply) string {
	if r == nil {
		return "<none>"
	}
	return r.Content
}

func TestAIAnswersWithHistoryPerUser(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &fakeModel{answer: func(q string) (string, error) { return "答:" + q, nil }}
		b := newAIBot(t, m, false, 8)
		for _, q := range []string{"q1", "q2", "q3"} {
			if r, _ := b.ask("oA", q, time.Second); text(r) != "答:"+q {
				t.Fatalf("answer %q, want 答:%s", text(r), q)
			}
		}
		var got []string
		for _, msg := range m.last().Messages {
			got = append(got, msg.Role+":"+msg.Content)
		}
		want := "system:你是小店的客服 user:q1 assistant:答:q1 user:q2 assistant:答:q2 user:q3"
		if strings.Join(got, " ") != want {
			t.Errorf("messages %v, want %s (the system prompt interpolated, the last 2 turns)", got, want)
		}
		if r, _ := b.ask("oB", "other", time.Second); text(r) != "答:other" || len(m.last().Messages) != 2 {
			t.Errorf("another user's question carried %d messages, want 2 (no history of oA's)", len(m.last().Messages))
		}
		if m.last().Model != "test-model" {
			t.Errorf("model %q, want --ai-model's", m.last().Model)
		}
	})
}

func TestAIDailyLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &fakeModel{answer: func(q string) (string, error) { return "ok", nil }}
		b := newAIBot(t, m, false, 8)
		for i := range 3 {
			if r, _ := b.ask("oA", fmt.Sprint("q", i), time.Second); text(r) != "ok" {
				t.Fatalf("answer %d: %q", i, text(r))
			}
		}
		if r, _ := b.ask("oA", "q4", time.Second); text(r) != DefaultOverLimit {
			t.Errorf("past the limit: %q, want the over_limit text", text(r))
		}
		if r, _ := b.ask("oB", "q", time.Second); text(r) != "ok" {
			t.Errorf("another user past oA's limit: %q", text(r))
		}
		if len(m.requests) != 4 {
			t.Errorf("%d model calls, want 4 (none past the limit)", len(m.requests))
		}
	})
}

func TestAIFailuresApologise(t *testing.T) {
	tests := []struct {
		name string
		m    *fakeModel
	}{
		{"upstream error", &fakeModel{answer: func(string) (string, error) {
			return "", &llm.StatusError{Status: 500, Body: "internal upstream detail"}
		}}},
		{"refused", &fakeModel{answer: func(string) (string, error) { return "", llm.ErrRefused }}},
		{"timeout", &fakeModel{delay: 5 * time.Second, answer: func(string) (string, error) { return "late", nil }}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newAIBot(t, tt.m, false, 8)
				r, p := b.ask("oA", "q", 3*time.Second)
				if text(r) != DefaultApology {
					t.Errorf("reply %q, want the apology", text(r))
				}
				res, _ := p.Finish(context.Background())
				if res.Err == nil {
					t.Error("the failure is not reported to the engine (logs, wxbot_action_failures_total)")
				}
			})
		})
	}
}

func longAnswer() string {
	var paras []string
	for i := range 6 {
		paras = append(paras, fmt.Sprintf("第%d段:", i+1)+strings.Repeat("内容很长。", 60))
	}
	return strings.Join(paras, "\n\n")
}

func TestAILongAnswerByKefuInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &fakeModel{answer: func(string) (string, error) { return longAnswer(), nil }}
		b := newAIBot(t, m, false, 8)
		r, _ := b.ask("oA", "q", time.Second)
		parts := SplitText(longAnswer(), MaxTextBytes, "")
		if len(parts) < 2 || text(r) != parts[0] {
			t.Fatalf("passive part %q, want the first of %d", text(r), len(parts))
		}
		for i, want := range parts[1:] {
			select {
			case s := <-b.kefu:
				if !strings.Contains(string(s.Payload), want[:30]) {
					t.Errorf("kefu send %d: %s, want part %d", i, s.Payload[:80], i+2)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("part %d never sent by kefu", i+2)
			}
		}
	})
}

func TestAIHoldsLateAnswerForTheNextPush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &fakeModel{delay: 300 * time.Millisecond, answer: func(string) (string, error) { return longAnswer(), nil }}
		b := newAIBot(t, m, true, 8)
		r, p := b.ask("oA", "q", 50*time.Millisecond)
		if r != nil {
			t.Fatalf("replied %q before the answer was ready", text(r))
		}
		<-p.Done()
		parts := SplitText(longAnswer(), MaxTextBytes, MoreNote)
		for i, want := range parts {
			raw, err := b.store.TakeHeldReply(context.Background(), "oA")
			if err != nil || raw == nil {
				t.Fatalf("held part %d: %v", i+1, err)
			}
			held, err := engine.UnmarshalReply(raw)
			if err != nil || held.Content != want {
				t.Fatalf("held part %d: %q, want %q", i+1, held.Content, want)
			}
			if last := i == len(parts)-1; strings.HasSuffix(held.Content, MoreNote) == last {
				t.Errorf("part %d of %d: note that more follows %v", i+1, len(parts), !last)
			}
		}
		if len(b.kefu) > 0 {
			t.Error("a kefu send with --kefu=false")
		}
	})
}

func TestAIConcurrencyBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &fakeModel{delay: 100 * time.Millisecond, answer: func(string) (string, error) { return "ok", nil }}
		b := newAIBot(t, m, false, 2)
		var pushes []*engine.Push
		for i := range 6 {
			ev := textEvent("q")
			ev.From = fmt.Sprint("oU", i)
			pushes = append(pushes, b.e.Dispatch(ev))
		}
		for _, p := range pushes {
			<-p.Done()
		}
		if got := m.maxIn.Load(); got != 2 {
			t.Errorf("%d answers in flight at most, want 2", got)
		}
	})
}

func TestAIValidate(t *testing.T) {
	two := 2.5
	tests := []struct {
		p    AIParams
		want string
	}{
		{AIParams{History: 51, MaxTokens: 1, Timeout: time.Second, Apology: tpl("x")}, "history: 51"},
		{AIParams{MaxTokens: 0, Timeout: time.Second, Apology: tpl("x")}, "max_tokens: 0"},
		{AIParams{MaxTokens: 1, Temperature: &two, Timeout: time.Second, Apology: tpl("x")}, "temperature: 2.5"},
		{AIParams{MaxTokens: 1, Timeout: 11 * time.Minute, Apology: tpl("x")}, "timeout: 11m0s"},
		{AIParams{MaxTokens: 1, Timeout: time.Second}, "apology: must not be empty"},
		{AIParams{MaxTokens: 1, Timeout: time.Second, Apology: tpl("x"), DailyLimit: 2}, "over_limit: must not be empty"},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.p, err, tt.want)
		}
	}
}

// Rule tests run the ai action offline on ai_answer: no model is called.
func TestAIRuleTestsUseTheCannedAnswer(t *testing.T) {
	src := aiRules + `
tests:
  - name: canned
    event: {type: text, content: "营业时间?"}
    ai_answer: "每天 9:00-21:00"
    expect: {rules: [ask], actions: [ai], reply: {type: text, text: "每天 9:00-21:00"}}
  - name: no canned answer
    event: {type: text, content: "营业时间?"}
    expect: {reply: {type: text, text: "(the model's answer)"}}
  - name: wrong
    event: {type: text, content: "营业时间?"}
    ai_answer: "abc"
    expect: {reply: {text: "xyz"}}
`
	loaded, err := rules.Parse("rules.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	res := loaded.RunTests(context.Background(), time.UTC)
	if len(res) != 3 || !res[0].Passed() || !res[1].Passed() || res[2].Passed() {
		t.Errorf("results %v, want the first two to pass and the last to fail", res)
	}
}

// An unsubscribe forgets the user's history (as it does their state).
func TestAIUnsubscribeForgetsHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &fakeModel{answer: func(q string) (string, error) { return "答:" + q, nil }}
		b := newAIBot(t, m, false, 8)
		b.ask("oA", "q1", time.Second)
		if turns, _ := b.store.AITurns(context.Background(), "oA"); len(turns) != 1 {
			t.Fatalf("turns %v after one question", turns)
		}
		<-b.e.Dispatch(&engine.Event{Type: "unsubscribe", From: "oA"}).Done()
		if turns, _ := b.store.AITurns(context.Background(), "oA"); len(turns) != 0 {
			t.Errorf("turns %v after the user unsubscribed", turns)
		}
	})
}

// A long answer that comes after the deadline goes by kefu whole: the
// first part (the late reply) first, the rest after it.
func TestAILateLongAnswerByKefuInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &fakeModel{delay: 200 * time.Millisecond, answer: func(string) (string, error) { return longAnswer(), nil }}
		b := newAIBot(t, m, false, 8)
		if r, _ := b.ask("oA", "q", 20*time.Millisecond); r != nil {
			t.Fatalf("replied %q before the answer was ready", text(r))
		}
		parts := SplitText(longAnswer(), MaxTextBytes, "")
		for i, want := range parts {
			select {
			case s := <-b.kefu:
				if !strings.Contains(string(s.Payload), want[:30]) {
					t.Errorf("kefu send %d: %.80s, want part %d", i+1, s.Payload, i+1)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("part %d never sent by kefu", i+1)
			}
		}
	})
}

package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/memory"
)

// waitForAgent stands in for the transfer action: the user waits.
type waitForAgent struct{}

func (waitForAgent) Run(ctx context.Context, c *Call) error {
	return c.SetHandoff(ctx, &KfState{Waiting: true, Since: c.Now()})
}

// TestHandoffIndex: the engine's index of open handoffs follows user.kf
// (a transfer's wait, the kf events, an unsubscribe) and ends a handoff
// at the rules' timeout with no write; HandoffSessions counts the held.
func TestHandoffIndex(t *testing.T) {
	clock := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	e := New(Options{State: memory.New(now), Now: now})
	defer e.Close(context.Background())
	rs := NewRuleSet([]*Rule{rule("human", []string{"text"}, exact("人工"),
		func(r *Rule) { r.Steps = append(r.Steps, Step{Name: "transfer", Action: waitForAgent{}}) })}, nil)
	rs.Handoff = DefaultHandoff
	e.SetRules(rs)
	steps := []struct {
		name     string
		ev       *Event
		later    time.Duration
		want     string
		sessions int
	}{
		{"a transfer: waiting", &Event{Type: "text", From: "oA", Content: "人工"}, 0, "oA:waiting", 0},
		{"an agent takes it", &Event{Type: "kf_create_session", From: "oA", KfAccount: "a@gh"}, time.Minute, "oA:a@gh", 1},
		{"another session", &Event{Type: "kf_create_session", From: "oB", KfAccount: "b@gh"}, time.Minute, "oA:a@gh oB:b@gh", 2},
		{"switched", &Event{Type: "kf_switch_session", From: "oA", KfAccount: "c@gh"}, time.Minute, "oB:b@gh oA:c@gh", 2},
		{"closed", &Event{Type: "kf_close_session", From: "oA", KfAccount: "c@gh"}, time.Minute, "oB:b@gh", 1},
		{"unsubscribed", &Event{Type: "unsubscribe", From: "oB"}, time.Minute, "", 0},
		{"another wait", &Event{Type: "text", From: "oC", Content: "人工"}, 0, "oC:waiting", 0},
		{"its timeout, no write", nil, 30 * time.Minute, "", 0},
	}
	ctx := context.Background()
	for _, st := range steps {
		clock = clock.Add(st.later)
		if st.ev != nil {
			if _, err := e.Dispatch(st.ev).Finish(ctx); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		hs, err := e.Handoffs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := handoffsString(hs); got != st.want {
			t.Errorf("%s: handoffs %q, want %q", st.name, got, st.want)
		}
		if n, err := e.HandoffSessions(ctx); err != nil || n != st.sessions {
			t.Errorf("%s: %d sessions (%v), want %d", st.name, n, err, st.sessions)
		}
	}
}

func handoffsString(hs []store.Handoff) string {
	out := ""
	for i, h := range hs {
		who := h.Account
		if h.Waiting {
			who = "waiting"
		}
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf("%s:%s", h.OpenID, who)
	}
	return out
}

// hintedState is a memory store that answers store.HandoffHints from its
// index, and counts the state reads.
type hintedState struct {
	*memory.Memory
	loads int
}

func (h *hintedState) LoadUser(ctx context.Context, openID string) (map[string]any, error) {
	h.loads++
	return h.Memory.LoadUser(ctx, openID)
}

func (h *hintedState) MayHaveHandoff(openID string) bool {
	hs, _ := h.Memory.Handoffs(context.Background())
	for _, x := range hs {
		if x.OpenID == openID {
			return true
		}
	}
	return false
}

// TestHandoffCheckWithoutARead: on a store with hints, a push of a user in
// no handoff reads no state; one in a handoff is still quiet.
func TestHandoffCheckWithoutARead(t *testing.T) {
	clock := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	st := &hintedState{Memory: memory.New(now)}
	e := New(Options{State: st, Now: now})
	defer e.Close(context.Background())
	rs := NewRuleSet([]*Rule{
		rule("human", []string{"text"}, exact("人工"), func(r *Rule) { r.Steps = append(r.Steps, Step{Name: "transfer", Action: waitForAgent{}}) }),
		rule("any", []string{"text"}),
	}, nil)
	rs.Handoff = DefaultHandoff
	e.SetRules(rs)
	ctx := context.Background()
	say := func(from, text string) []string {
		t.Helper()
		res, err := e.Dispatch(&Event{Type: "text", From: from, Content: text}).Finish(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return names(res.Rules)
	}
	if got := say("oA", "你好"); len(got) != 1 || got[0] != "any" || st.loads != 0 {
		t.Errorf("a user in no handoff: rules %v, %d state reads, want [any] and none", got, st.loads)
	}
	say("oB", "人工")
	st.loads = 0
	if got := say("oB", "还在吗"); len(got) != 0 || st.loads == 0 {
		t.Errorf("a user waiting for an agent: rules %v after %d state reads, want quiet after a read", got, st.loads)
	}
}

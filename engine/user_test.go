package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/memory"
)

// countingUsers counts the user state calls a push makes.
type countingUsers struct {
	*memory.Memory
	loads, writes int
	loadErr       error
}

func (c *countingUsers) LoadUser(ctx context.Context, id string) (map[string]any, error) {
	c.loads++
	if c.loadErr != nil {
		return nil, c.loadErr
	}
	return c.Memory.LoadUser(ctx, id)
}

func (c *countingUsers) PatchUser(ctx context.Context, id string, p *store.UserPatch) error {
	c.writes++
	return c.Memory.PatchUser(ctx, id, p)
}

// setState is a state step setting key to a constant.
type setState struct{ key, value string }

func (s setState) Run(context.Context, *Call) error { return nil }
func (s setState) StatePatch(*Env) (*store.UserPatch, error) {
	return &store.UserPatch{Set: map[string]any{s.key: s.value}}, nil
}

func reads(r *Rule) { r.ReadsUser = true }
func sets(key, value string) func(*Rule) {
	return func(r *Rule) { r.Steps = append(r.Steps, Step{Name: "state", Action: setState{key, value}}) }
}

// TestUserStateIsReadLazily: a push reads the user's state only when a
// rule it reaches reads user or changes it, at most once, and writes at
// most once however many rules change it.
func TestUserStateIsReadLazily(t *testing.T) {
	rs := NewRuleSet([]*Rule{
		rule("price", []string{"text"}, exact("price")),
		rule("start", []string{"click"}, keys("GO"), sets("step", "one"), cont),
		rule("then", []string{"click"}, when(`user.step == "one"`), reads, sets("seen", "yes"), cont),
		rule("dialog", []string{"text"}, when(`user.step == "one"`), reads),
	}, nil)
	cases := []struct {
		name          string
		ev            *Event
		loads, writes int
		matched       int
	}{
		{"no rule reads user", &Event{Type: "text", From: "oU", Content: "price"}, 0, 0, 1},
		{"an event type without user rules", &Event{Type: "subscribe", From: "oU"}, 0, 0, 0},
		{"two rules change the state: one read, one write", &Event{Type: "click", From: "oU", Key: "GO"}, 1, 1, 2},
		{"a dialog rule reads it once", &Event{Type: "text", From: "oU", Content: "hello"}, 1, 0, 1},
	}
	st := &countingUsers{Memory: memory.New(nil)}
	e := New(Options{State: st})
	defer e.Close(context.Background())
	e.SetRules(rs)
	for _, c := range cases {
		st.loads, st.writes = 0, 0
		res, err := e.Dispatch(c.ev).Finish(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.loads != c.loads || st.writes != c.writes || len(res.Rules) != c.matched {
			t.Errorf("%s: %d loads, %d writes, %d rules; want %d, %d, %d", c.name, st.loads, st.writes, len(res.Rules), c.loads, c.writes, c.matched)
		}
	}
	if got, _ := st.Memory.LoadUser(context.Background(), "oU"); got["step"] != "one" || got["seen"] != "yes" {
		t.Errorf("stored state = %v, want step=one seen=yes (the second rule saw the first's change)", got)
	}

	// A store that fails to read: the rules see an empty state, and the
	// push is still handled.
	st.loadErr = errors.New("redis down")
	res, _ := e.Dispatch(&Event{Type: "text", From: "oU", Content: "hello"}).Finish(context.Background())
	if len(res.Rules) != 0 {
		t.Errorf("with the state unreadable, matched %v; want none (user.step is nil)", res.Rules)
	}
}

package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// A handoff is a person holding a user's conversation (客服): the bot
// keeps quiet, so that the agent and the bot do not both answer. WeChat
// tells the bot through kf_create_session, kf_switch_session and
// kf_close_session; a transfer starts the wait for an agent. The user's
// state holds it under KfKey, so rules see it as user.kf:
//
//	{account: "a@gh", since: "2026-12-06T10:00:00+08:00"}  an agent holds it
//	{waiting: true, since: "…"}                             transferred, no agent yet
//
// and a handoff ends with the close event, or Handoff.Timeout after since
// (WeChat itself gives the conversation back to the bot after 30 minutes
// without a close).

// KfKey is the user state key of the handoff: user.kf.
const KfKey = "kf"

// Handoff is a rule set's `handoff:` settings.
type Handoff struct {
	// Quiet stops the rules without DuringHandoff while a person holds the
	// user's conversation or the user waits for one.
	Quiet bool
	// Timeout ends a handoff that no close event ended.
	Timeout time.Duration
}

// DefaultHandoff is `handoff:` when rules.yaml has none.
var DefaultHandoff = Handoff{Quiet: true, Timeout: 30 * time.Minute}

// GateHandoff stops a rule without during_handoff while a person holds the
// user's conversation.
const GateHandoff Gate = "handoff"

// KfState is user.kf, decoded.
type KfState struct {
	Account string
	Waiting bool
	Since   time.Time
}

// Active reports whether the handoff still holds at now.
func (k KfState) Active(now time.Time, timeout time.Duration) bool {
	return (k.Account != "" || k.Waiting) && (timeout <= 0 || now.Before(k.Since.Add(timeout)))
}

// Value is the user state value of k.
func (k KfState) Value() map[string]any {
	v := map[string]any{"since": k.Since.Format(time.RFC3339)}
	if k.Account != "" {
		v["account"] = k.Account
	}
	if k.Waiting {
		v["waiting"] = true
	}
	return v
}

// KfOf reads user.kf from a user's state; false when there is none or it
// is not one (an operator's own key of that name).
func KfOf(user map[string]any) (KfState, bool) {
	m, ok := user[KfKey].(map[string]any)
	if !ok {
		return KfState{}, false
	}
	var k KfState
	k.Account, _ = m["account"].(string)
	k.Waiting, _ = m["waiting"].(bool)
	s, _ := m["since"].(string)
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || (k.Account == "" && !k.Waiting) {
		return KfState{}, false
	}
	k.Since = t
	return k, true
}

// quietable reports whether a handoff keeps the rules quiet for a push of
// type typ: what the user does in the chat, not WeChat's reports about
// them (unsubscribe, a view that leaves the chat, payments) or the
// handoff's own events.
func quietable(typ string) bool {
	t, ok := LookupEventType(typ)
	return ok && (t.Message || t.Seen)
}

// beginHandoff records what a kf event says in the push's state patch and
// decides whether the push is quiet. Called before any rule is checked,
// so that user.kf is current for every rule.
func (s *RuleSet) beginHandoff(ctx context.Context, ev *Event, env *Env) {
	env.quiet = false
	if ev.From == "" || env.users == nil && env.User == nil {
		return
	}
	now := env.Now()
	switch ev.Type {
	case "kf_create_session", "kf_switch_session":
		env.patchUser(&store.UserPatch{Set: map[string]any{KfKey: KfState{Account: ev.KfAccount, Since: now}.Value()}})
		return
	case "kf_close_session":
		env.patchUser(&store.UserPatch{Unset: []string{KfKey}})
		return
	}
	if !s.Handoff.Quiet || !quietable(ev.Type) {
		return
	}
	var user map[string]any
	if ev.KfRead && !env.userLoaded {
		// read with the retry claim: no round trip for the many pushes of
		// users no person holds
		if ev.Kf == "" {
			return
		}
		user, _ = store.EncodedState{KfKey: []byte(ev.Kf)}.Decode()
	} else {
		if h, ok := env.users.(store.HandoffHints); ok && !env.userLoaded && !h.MayHaveHandoff(ev.From) {
			return // in no handoff, as the store's index says without a read
		}
		env.needUser(ctx) // a failed read: no handoff known, the rules run
		user = env.User
	}
	switch k, ok := KfOf(user); {
	case ok && k.Active(now, s.Handoff.Timeout):
		env.quiet = true
	case ok: // over: the rules run again, and see no handoff
		env.patchUser(&store.UserPatch{Unset: []string{KfKey}})
	}
}

// patchUser applies p to the push's state as a state step does, to be
// written with the rest of the push's changes.
func (e *Env) patchUser(p *store.UserPatch) {
	e.needUser(context.Background())
	e.User = p.Apply(e.User)
	if e.patch == nil {
		e.patch = new(store.UserPatch)
	}
	e.patch.Then(p)
	e.userInit = e.User // actions see the handoff as recorded
}

// Quiet reports whether a handoff keeps the push's rules quiet (see
// Handoff): the ai action, in a rule that runs during a handoff, stays
// quiet too.
func (e *Env) Quiet() bool { return e.quiet }

// SetHandoff records a handoff for the user's later pushes (a transfer:
// waiting for an agent; kf_session create: an agent holds it), or ends one
// (k nil). It is written at once: the push's own changes were written
// before its actions ran.
func (c *Call) SetHandoff(ctx context.Context, k *KfState) error {
	p := &store.UserPatch{Unset: []string{KfKey}}
	if k != nil {
		p = &store.UserPatch{Set: map[string]any{KfKey: k.Value()}}
	}
	c.Env.User = p.Apply(c.Env.User)
	e := c.progress.e
	if e == nil || c.Event.From == "" {
		return nil
	}
	if err := e.patchUser(ctx, c.Event.From, p); err != nil {
		return fmt.Errorf("recording the handoff in the user's state: %w (the bot answers the user's next pushes as if there were none)", err)
	}
	return nil
}

// Now is the engine's clock, in the bot's time zone.
func (c *Call) Now() time.Time {
	if c.Env == nil || c.Env.Now == nil {
		return time.Now()
	}
	return c.Env.Now()
}

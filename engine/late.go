package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/wechat"
)

// AIMemory keeps what the `ai` action needs beyond a push (store.AIStore),
// and the late replies held for users of an account without the kefu API
// (store.HeldReplies); every store implements both.
type AIMemory interface {
	store.AIStore
	store.HeldReplies
}

// HeldReplyTTL is how long a reply held for a user's next push waits for
// it (the life of the user's state).
const HeldReplyTTL = store.DefaultStateTTL

// MarshalReply encodes a reply to be held in the store (HoldReply).
func MarshalReply(r *wechat.Reply) ([]byte, error) { return json.Marshal(r) }

// UnmarshalReply decodes a reply held in the store.
func UnmarshalReply(b []byte) (*wechat.Reply, error) {
	r := new(wechat.Reply)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("a held reply is damaged: %w", err)
	}
	if r.Type == "" {
		return nil, fmt.Errorf("a held reply has no type")
	}
	return r, nil
}

// holdReply is the LateReply of an engine that holds late replies (no
// kefu API, Options.HoldLate): the reply waits in the store for the
// user's next push, which it answers.
func (e *Engine) holdReply(ev *Event, r *wechat.Reply) {
	if err := e.hold(e.ctx, ev.From, r); err != nil {
		e.log.Error("a late reply could not be held for the user's next push; it is lost", "event", ev.Type, "reply", r.Type, "err", err)
		return
	}
	e.log.Info("passive reply was late; held for the user's next push", "event", ev.Type, "reply", r.Type)
}

func (e *Engine) hold(ctx context.Context, openID string, r *wechat.Reply) error {
	if e.ai == nil {
		return fmt.Errorf("the store keeps no held replies")
	}
	b, err := MarshalReply(r)
	if err != nil {
		return err
	}
	// Stored even when the engine stops: the user was promised this answer.
	return e.ai.HoldReply(context.WithoutCancel(ctx), openID, b, HeldReplyTTL)
}

// AIMemory is the store of AI turns, counts and held replies; nil when
// the engine's state keeps none.
func (c *Call) AIMemory() AIMemory {
	if c.progress.e == nil {
		return nil
	}
	return c.progress.e.ai
}

// HoldsLate reports whether late replies wait for the user's next push
// (an account without the kefu API) instead of going out by kefu.
func (c *Call) HoldsLate() bool { return c.progress.e != nil && c.progress.e.holdLate }

// Late reports whether the push has been answered already: a reply offered
// now goes out late (by kefu, or held for the next push).
func (c *Call) Late() bool {
	c.progress.mu.Lock()
	defer c.progress.mu.Unlock()
	return c.progress.answered
}

// ReplyBy is when the push's passive reply is due (Options.ReplyDeadline
// after the push was dispatched): one offered later goes out late, or, on
// an account without the kefu API, waits for WeChat's retries. An action
// that cannot answer (a model that is down) says so by then. False in an
// offline run or when the engine knows no deadline.
func (c *Call) ReplyBy() (time.Time, bool) {
	by := c.progress.replyBy
	return by, !by.IsZero()
}

// Observer is the engine's observer, for actions with metrics of their own
// (found by type assertion). On an engine that keeps daily counters it
// is a wrapper that counts the ai action's answers (see tallyObserver):
// it has the Observer's methods and the ai action's, no others.
func (c *Call) Observer() Observer {
	e := c.progress.e
	switch {
	case e == nil:
		return NopObserver{}
	case e.tally != nil && !c.progress.dryRun:
		ai, _ := e.obs.(aiCounter)
		return tallyObserver{Observer: e.obs, ai: ai, e: e}
	}
	return e.obs
}

// Service returns the value Options.Services has under name: what an
// action needs at run time that rules cannot give (an API client). It is
// nil in a dry run and when none was given.
func (c *Call) Service(name string) any {
	if c.progress.dryRun || c.progress.e == nil {
		return nil
	}
	return c.progress.e.services[name]
}

// Canned returns the stand-in Options.Canned has under name, for an
// offline run: what an action would otherwise fetch from outside (a rule
// test's ai_answer).
func (c *Call) Canned(name string) (string, bool) {
	if c.progress.e == nil {
		return "", false
	}
	v, ok := c.progress.e.canned[name]
	return v, ok
}

// FollowUp delivers a reply after the push's passive one, in order with
// it: by kefu through the outbox, or, when late replies are held (no kefu
// API), held for the user's following pushes. In a dry run nothing is
// sent.
func (c *Call) FollowUp(ctx context.Context, r *wechat.Reply) error {
	if c.progress.dryRun {
		c.sent++
		return nil
	}
	if c.HoldsLate() {
		return c.progress.e.hold(ctx, c.Event.From, r)
	}
	m, ok := wechat.KefuFromReply(c.Event.From, r)
	if !ok {
		return fmt.Errorf("a %s reply has no kefu equivalent", r.Type)
	}
	// A second behind the passive reply, so that it shows first; in the
	// line, so that what the rule sends next shows after it.
	return c.Enqueue(context.WithoutCancel(ctx), outbox.KindKefu, m, SendOptions{Delay: followUpDelay, InLine: true})
}

// followUpDelay puts a follow-up behind the passive reply it follows.
const followUpDelay = time.Second

// wireLate sets where late replies go and the AI memory (from New).
func (e *Engine) wireLate(o Options) {
	e.ai, e.services, e.canned, e.holdLate = o.AIMemory, o.Services, o.Canned, o.HoldLate
	if e.ai == nil {
		e.ai, _ = o.State.(AIMemory)
	}
	switch {
	case o.HoldLate:
		e.lateReply = e.holdReply
	case e.lateReply == nil:
		e.lateReply = e.replyByKefu
	}
}

// WaitReady waits like Wait but settles nothing: it reports whether the
// push's reply is ready or its actions are done by the deadline. A push
// that is not can still be waited for with Wait (a handler that holds
// the push for WeChat's retries).
func (p *Push) WaitReady(deadline <-chan time.Time) bool {
	if p.progress.finished {
		return true
	}
	select {
	case <-p.progress.replied:
	case <-p.progress.done:
	case <-deadline:
		return false
	}
	return true
}

// Hold keeps r for the user's next push (see Options.HoldLate), as a late
// reply is kept.
func (e *Engine) Hold(ctx context.Context, openID string, r *wechat.Reply) error {
	return e.hold(ctx, openID, r)
}

// forgetAI deletes the AI turns and held replies of a user who
// unsubscribed (see saveUser, which deletes their state).
func (e *Engine) forgetAI(openID string) {
	if e.ai == nil || e.dryRun {
		return
	}
	if err := e.ai.ForgetAI(e.ctx, openID); err != nil {
		e.log.Error("forgetting the AI history of a user who unsubscribed failed; it expires in 24 h", "err", err)
	}
	if err := e.ai.ForgetAI(e.ctx, recentKey(openID)); err != nil {
		e.log.Error("forgetting the recent texts of a user who unsubscribed failed; they expire in 24 h", "err", err)
	}
}

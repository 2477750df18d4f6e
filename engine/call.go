package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/wechat"
)

// Call is what an action sees of the push it runs for. One Call serves
// one rule's steps, one after the other.
type Call struct {
	Event  *Event
	Env    *Env
	Rule   *Rule
	Logger *slog.Logger

	progress *progress
	step     int // the action's index in the rule, for send IDs
	sent     int // sends enqueued by this step so far
}

// Render evaluates a template in the push's environment.
func (c *Call) Render(t *Template) (string, error) { return t.Render(c.Env) }

// Reply offers the push's passive response. Only the first one wins: Reply
// reports whether r is the one that will be sent. Events that take no reply
// (payments) drop it, and so do events whose replies nobody sees (view,
// unsubscribe, job reports): WeChat would show them to no one, and a late
// one would spend a kefu send. News replies are cut to WeChat's limit (1
// article to a user message, 8 otherwise).
func (c *Call) Reply(r *wechat.Reply) bool {
	sent, _ := c.Answer(r)
	return sent
}

// Answer is Reply that also reports whether the reply came late: after the
// push was answered, so that it goes out by kefu or is held for the
// user's next push (see Options.HoldLate).
func (c *Call) Answer(r *wechat.Reply) (sent, late bool) {
	if !c.Event.TakesReply() { // nothing to answer, and no kefu fallback (see TakesReply)
		c.Logger.Warn("a reply was offered for an event that takes none; dropped",
			"rule", c.Rule.Name, "event", c.Event.Type, "reply", r.Type)
		return false, false
	}
	if !c.Event.ReplySeen() {
		c.Logger.Debug("a reply to an event the user does not see; dropped",
			"rule", c.Rule.Name, "event", c.Event.Type, "reply", r.Type)
		return false, false
	}
	if r.Type == wechat.ReplyNews {
		limit := 8
		if c.Event.IsUserMessage() {
			limit = 1
		}
		if len(r.Articles) > limit {
			c.Logger.Warn("news reply cut to WeChat's article limit",
				"rule", c.Rule.Name, "articles", len(r.Articles), "limit", limit)
			r.Articles = slices.Clip(r.Articles[:limit])
		}
	}
	return c.progress.offer(r)
}

// DryRun reports whether the push runs offline (rule tests, explain): the
// action must not reach any other system. Enqueue already records instead
// of sending; an action making its own calls checks this first.
func (c *Call) DryRun() bool { return c.progress.dryRun }

// Deliverer returns the outbox's deliverer of kind, so an action can make a
// first attempt inline with the client the outbox retries with. It is nil
// in a dry run, without an outbox, or when no deliverer is registered for
// kind.
func (c *Call) Deliverer(kind string) outbox.Deliverer {
	if c.progress.dryRun || c.progress.outbox == nil {
		return nil
	}
	return c.progress.outbox.Deliverer(kind)
}

// Key identifies this step of this push: the same across WeChat's retries
// of a push, WeChat Pay's redeliveries of a payment and restarts. It is the
// prefix of the IDs of the step's sends.
func (c *Call) Key() string {
	return c.Event.ID + "/" + c.Rule.Name + "/" + strconv.Itoa(c.step)
}

// SendOptions are the optional parts of Call.Enqueue.
type SendOptions struct {
	// Delay holds the send back this long. It waits out of its user's
	// line: the user's later sends do not wait for it (see outbox's Order).
	Delay time.Duration
	// InLine makes a Delay wait in the user's line instead, holding back
	// the sends made after it: a follow-up shows after the reply it
	// follows and before what the rule sends next.
	InLine bool
	Typing bool
	// OrderKey overrides the send's ordering key, which is the event's
	// sender by default (see outbox.Send.OrderKey).
	OrderKey string
}

// ErrNoOutbox means an action tried to send asynchronously on an engine
// without an outbox: the WeChat API (AppID and AppSecret) is not
// configured.
var ErrNoOutbox = errors.New("no outbox: asynchronous sends need the WeChat API (AppID and AppSecret) configured")

// Enqueue queues an asynchronous send of kind with payload (marshalled to
// JSON without HTML escaping) for the push's sender. It returns once the
// send is stored durably. Its ID is Key() and the send's number within the
// step, so a retried push enqueues the same IDs.
func (c *Call) Enqueue(ctx context.Context, kind string, payload any, o SendOptions) error {
	raw, err := outbox.Encode(payload)
	if err != nil {
		return fmt.Errorf("encoding the %s send: %w", kind, err)
	}
	if c.progress.dryRun { // offline: the payload encodes, nothing is sent
		c.sent++
		return nil
	}
	if c.progress.outbox == nil {
		return ErrNoOutbox
	}
	c.sent++
	s := &outbox.Send{
		ID:       c.Key() + "/" + strconv.Itoa(c.sent),
		Kind:     kind,
		OrderKey: c.Event.From,
		Rule:     c.Rule.Name,
		Payload:  raw,
		Typing:   o.Typing,
	}
	if o.OrderKey != "" {
		s.OrderKey = o.OrderKey
	}
	now := c.progress.now()
	s.Created = now
	switch {
	case o.Delay > 0 && o.InLine:
		s.NotBefore = now.Add(o.Delay)
	case o.Delay > 0:
		s.Delay = o.Delay
	}
	return c.progress.outbox.Enqueue(ctx, s)
}

// NewTestCall builds a Call outside a dispatch, for action tests: replies
// offered through it are returned by the second result; sends go to
// ob (which may be nil).
func NewTestCall(ev *Event, env *Env, ob *outbox.Outbox) (*Call, func() *wechat.Reply) {
	p := &progress{finished: true, outbox: ob, now: time.Now, event: ev}
	c := &Call{Event: ev, Env: env, Rule: &Rule{Name: "test"}, Logger: slog.New(slog.DiscardHandler), progress: p}
	return c, func() *wechat.Reply { return p.reply }
}

// progress is the shared state of one push's actions: the reply they
// settled on, their errors, the steps that ran.
type progress struct {
	mu       sync.Mutex
	reply    *wechat.Reply
	answered bool // the handler has answered; later replies are late
	// finished is set when the actions ran on the caller's goroutine (or
	// none ran): then there are no channels.
	finished bool
	replied  chan struct{}
	done     chan struct{}
	errs     []error
	ran      []Ran   // written by the action goroutine only, read after done
	ranBuf   [4]Ran  // room for ran, so recording steps does not allocate
	e        *Engine // for late replies; nil in NewTestCall
	event    *Event
	outbox   *outbox.Outbox
	now      func() time.Time
	dryRun   bool
	replyBy  time.Time // see Call.ReplyBy
}

func (p *progress) offer(rep *wechat.Reply) (sent, late bool) {
	p.mu.Lock()
	if p.reply != nil {
		p.mu.Unlock()
		return false, false
	}
	p.reply = rep
	late = p.answered
	if p.replied != nil {
		close(p.replied)
	}
	p.mu.Unlock()
	if late && p.e != nil {
		p.e.lateReply(p.event, rep)
	}
	return true, late
}

func (p *progress) fail(err error) {
	p.mu.Lock()
	p.errs = append(p.errs, err)
	p.mu.Unlock()
}

// settle fixes what the handler answers: the reply if one is ready, else
// nothing, after which replies count as late.
func (p *progress) settle() (*wechat.Reply, Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answered = true
	if p.reply != nil {
		return p.reply, Replied
	}
	if p.finished {
		return nil, NoReply
	}
	select {
	case <-p.done:
		return nil, NoReply
	default:
		return nil, DeadlinePassed
	}
}

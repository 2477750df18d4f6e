package engine

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
)

// Engine matches events against the current rule set and runs the actions of
// the rules that match. It is safe for concurrent use.
type Engine struct {
	cur   atomic.Pointer[current]
	now   func() time.Time
	loc   *time.Location
	log   *slog.Logger
	store Store

	ctx    context.Context // cancelled by Close after the drain deadline
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	// lateReply receives passive replies produced after the push was
	// answered; see Options.LateReply.
	lateReply func(ev *Event, r *wechat.Reply)
	outbox    *Outbox
	obs       Observer
	dryRun    bool
}

// Options configures an Engine. Zero values are usable.
type Options struct {
	// Now is the clock (time.Now when nil); tests fix it.
	Now func() time.Time
	// Location is the time zone of now(), hour(), weekday() and event.time
	// (UTC when nil).
	Location *time.Location
	Logger   *slog.Logger
	// Store keeps cooldowns (an in-memory store when nil).
	Store Store
	// Observer hears about rule matches and action runs (metrics).
	Observer Observer
	// Outbox takes asynchronous sends (kefu messages); nil means actions
	// that send fail with ErrNoOutbox.
	Outbox *Outbox
	// LateReply is called with a passive reply that an action produced after
	// the push had already been answered (the reply deadline passed). When
	// nil, the reply goes out as a kefu message through the Outbox, or is
	// logged and dropped without one.
	LateReply func(ev *Event, r *wechat.Reply)
	// DryRun runs actions without effects outside the process: Call.Enqueue
	// encodes the payload and returns without queueing it, and actions that
	// call other systems themselves (webhook) check Call.DryRun and skip the
	// call. Offline runs (rule tests, explain) set it.
	DryRun bool
}

// New returns an Engine with an empty rule set.
func New(o Options) *Engine {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Store == nil {
		o.Store = NewMemoryStore(o.Now)
	}
	if o.Observer == nil {
		o.Observer = NopObserver{}
	}
	e := &Engine{now: o.Now, loc: o.Location, log: o.Logger, store: o.Store, lateReply: o.LateReply, outbox: o.Outbox, obs: o.Observer, dryRun: o.DryRun}
	if e.lateReply == nil {
		e.lateReply = e.replyByKefu
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.SetRules(NewRuleSet(nil, nil))
	return e
}

// current pairs a rule set with the environment built for it.
type current struct {
	rs   *RuleSet
	base Env
}

// SetRules swaps in a new rule set. Pushes already being handled finish on
// the set they started with.
func (e *Engine) SetRules(rs *RuleSet) {
	e.cur.Store(&current{rs: rs, base: baseEnv(rs.Vars, rs.Windows, e.now, e.loc)})
}

// Rules returns the current rule set.
func (e *Engine) Rules() *RuleSet { return e.cur.Load().rs }

// Location is the engine's time zone.
func (e *Engine) Location() *time.Location { return e.loc }

// Now is the engine's clock.
func (e *Engine) Now() time.Time { return e.now() }

// Env builds the expression environment for ev under rule set rs.
func (e *Engine) Env(rs *RuleSet, ev *Event) *Env {
	env := baseEnv(rs.Vars, rs.Windows, e.now, e.loc)
	env.Event = ev
	return &env
}

// Observer is the engine's observer (a NopObserver when none was given).
func (e *Engine) Observer() Observer { return e.obs }

// Store is the engine's state store.
func (e *Engine) Store() Store { return e.store }

// Match returns the rules that match ev, in order, stopping after the first
// one without `continue`. Rules whose gates fail to evaluate do not match;
// their errors are returned alongside.
func (s *RuleSet) Match(ctx context.Context, ev *Event, env *Env, store Store) (matched []*Rule, errs []error) {
	return s.MatchInto(nil, ctx, ev, env, store)
}

// MatchInto is Match appending to dst (which may have room, saving an
// allocation per push).
func (s *RuleSet) MatchInto(dst []*Rule, ctx context.Context, ev *Event, env *Env, store Store) (matched []*Rule, errs []error) {
	matched = dst
	norm := ev.Content
	if ev.Content != "" {
		norm = NormalizeText(ev.Content)
	}
	var buf [32]int32
	for _, i := range s.candidates(ev, norm, buf[:]) {
		r := s.ordered[i]
		gate, err := r.Check(ctx, ev, norm, env, s.Windows, store)
		if err != nil {
			errs = append(errs, &RuleError{Rule: r.Name, Err: err})
		}
		if gate != "" {
			continue
		}
		matched = append(matched, r)
		if !r.Continue {
			break
		}
	}
	return matched, errs
}

// RuleError is a rule's condition failing at run time (a nil map key, a type
// mismatch the checker could not see).
type RuleError struct {
	Rule string
	Err  error
}

func (e *RuleError) Error() string { return "rule " + quote(e.Rule) + ": when: " + e.Err.Error() }
func (e *RuleError) Unwrap() error { return e.Err }

func quote(s string) string { return `"` + s + `"` }

// Pending is a dispatched push whose actions may still be running.
type Pending struct {
	Event *Event
	// Rules are the rules that matched, in order.
	Rules    []*Rule
	run      run
	env      Env
	rulesBuf [4]*Rule
}

// Dispatch matches ev against the current rules and runs the matching
// rules' actions: on the caller's goroutine when every one is Inline,
// otherwise on a goroutine the engine owns. Use Pending.Wait for the reply.
func (e *Engine) Dispatch(ev *Event) *Pending {
	if ev.ID == "" { // built by hand (tests): still needs a unique key for its sends
		ev.ID = "local/" + strconv.FormatUint(localIDs.Add(1), 10) + "/" + strconv.FormatInt(e.now().UnixNano(), 36)
	}
	if quota, validity := KefuWindowFor(ev); quota > 0 && ev.From != "" {
		if err := e.store.OpenWindow(e.ctx, ev.From, quota, e.now().Add(validity)); err != nil {
			e.log.Warn("recording the kefu window failed; later kefu sends to this user may be refused", "err", err)
		}
	}
	cur := e.cur.Load()
	rs := cur.rs
	if rs.NeedsRaw && ev.Raw == nil && ev.Message != nil {
		ev.Raw = rawFields(ev.Message)
	}
	// One allocation holds the push's state, its environment and room for
	// the matched rules.
	p := &Pending{Event: ev}
	p.env = cur.base
	p.env.Event = ev
	matched, errs := rs.MatchInto(p.rulesBuf[:0], e.ctx, ev, &p.env, e.store)
	p.Rules = matched
	for _, err := range errs {
		e.log.Warn("rule condition failed; the rule did not match", "err", err, "event", ev.Type)
		var re *RuleError
		if errors.As(err, &re) {
			e.obs.RuleError(re.Rule)
		}
	}
	p.run.outbox, p.run.now, p.run.e, p.run.event, p.run.dryRun = e.outbox, e.now, e, ev, e.dryRun
	steps, inline := 0, true
	for _, r := range matched {
		r.hits.Add(1)
		e.obs.RuleMatched(r.Name)
		steps += len(r.Actions)
		for _, st := range r.Actions {
			inline = inline && st.Inline
		}
	}
	if steps == 0 || e.closed.Load() {
		if steps > 0 {
			e.log.Warn("engine is shutting down; actions not run", "event", ev.Type)
		}
		p.run.finished = true
		return p
	}
	e.wg.Add(1)
	if inline {
		e.runActions(p)
		p.run.finished = true
		e.wg.Done()
		return p
	}
	p.run.replied, p.run.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer e.wg.Done()
		defer close(p.run.done)
		e.runActions(p)
	}()
	return p
}

func (e *Engine) runActions(p *Pending) {
	for _, r := range p.Rules {
		// One Call per rule: Run returns before the next step starts.
		c := &Call{Event: p.Event, Env: &p.env, Rule: r, Logger: e.log, run: &p.run}
		for i, st := range r.Actions {
			if e.ctx.Err() != nil {
				return
			}
			c.step, c.sent = i, 0
			start := time.Now()
			err := st.Action.Run(e.ctx, c)
			e.obs.ActionDone(st.Name, time.Since(start), err)
			if err != nil {
				p.run.fail(err)
				e.log.Error("action failed", "rule", r.Name, "action", st.Name, "err", err)
			}
			if p.run.ran == nil {
				p.run.ran = p.run.ranBuf[:0]
			}
			p.run.ran = append(p.run.ran, ranStep{r, i})
		}
	}
}

// Outcome says how a push was answered.
type Outcome int

const (
	// NoReply: nothing matched, or nothing that matched answers passively.
	NoReply Outcome = iota
	// Replied: a passive reply or transfer is ready.
	Replied
	// DeadlinePassed: actions were still running at the deadline; anything
	// they reply later goes to Options.LateReply.
	DeadlinePassed
)

// Wait blocks until the push's passive reply is ready, its actions are done,
// or the deadline passes, whichever is first.
func (p *Pending) Wait(deadline <-chan time.Time) (*wechat.Reply, Outcome) {
	if !p.run.finished {
		select {
		case <-p.run.replied:
		case <-p.run.done:
		case <-deadline:
		}
	}
	return p.run.settle()
}

// Done is closed when every action has returned.
func (p *Pending) Done() <-chan struct{} {
	if p.run.finished {
		return closed
	}
	return p.run.done
}

// closed is the Done channel of pushes finished on the caller's goroutine.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Result is a finished push, for tests and `wxbot explain`.
type Result struct {
	Rules []*Rule
	// Actions lists "rule/action" in the order they ran.
	Actions []string
	Reply   *wechat.Reply
	Err     error // the joined errors of failed actions
}

// Finish waits for every action and returns the whole result. It is for
// offline runs (rule tests); the handler uses Wait.
func (p *Pending) Finish(ctx context.Context) (*Result, error) {
	select {
	case <-p.Done():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	actions := make([]string, len(p.run.ran))
	for i, r := range p.run.ran {
		actions[i] = r.rule.Name + "/" + r.rule.Actions[r.step].Name
	}
	return &Result{Rules: p.Rules, Actions: actions, Reply: p.run.reply, Err: errors.Join(p.run.errs...)}, nil
}

// Close stops dispatching, waits for running actions until ctx is done, then
// cancels what is left.
func (e *Engine) Close(ctx context.Context) error {
	e.closed.Store(true)
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		e.cancel()
		return nil
	case <-ctx.Done():
		e.cancel()
		<-done
		return ctx.Err()
	}
}

var localIDs atomic.Uint64

// replyByKefu is the default LateReply: the reply goes out as a kefu message.
func (e *Engine) replyByKefu(ev *Event, r *wechat.Reply) {
	m, ok := KefuFromReply(ev.From, r)
	switch {
	case e.outbox == nil:
		e.log.Warn("a passive reply came after the reply deadline and there is no outbox to send it by kefu (set --appid and --secret)",
			"event", ev.Type, "reply", r.Type)
		return
	case !ok:
		e.log.Warn("a passive reply came after the reply deadline and has no kefu equivalent; dropped",
			"event", ev.Type, "reply", r.Type)
		return
	}
	s := &Send{ID: ev.ID + "/late", Kind: KindKefu, OpenID: ev.From, Rule: "(late reply)", Created: e.now()}
	raw, err := marshalJSON(m)
	if err == nil {
		s.Payload = raw
		err = e.outbox.Enqueue(e.ctx, s)
	}
	if err != nil {
		e.log.Error("a late passive reply could not be queued for kefu delivery", "err", err)
		return
	}
	e.log.Info("passive reply was late; queued as a kefu message", "event", ev.Type, "reply", r.Type)
}

// run is the shared state of one push's actions.
type run struct {
	mu       sync.Mutex
	reply    *wechat.Reply
	answered bool // the handler has answered; later replies are late
	// finished is set when the actions ran on the caller's goroutine (or
	// none ran): then there are no channels.
	finished bool
	replied  chan struct{}
	done     chan struct{}
	errs     []error
	ran      []ranStep  // written by the action goroutine only, read after done
	ranBuf   [4]ranStep // room for ran, so recording steps does not allocate
	e        *Engine    // for late replies; nil in NewTestCall
	event    *Event
	outbox   *Outbox
	now      func() time.Time
	dryRun   bool
}

// ranStep is one action that ran, named only when someone asks (Finish).
type ranStep struct {
	rule *Rule
	step int
}

func (r *run) offer(rep *wechat.Reply) bool {
	r.mu.Lock()
	if r.reply != nil {
		r.mu.Unlock()
		return false
	}
	r.reply = rep
	late := r.answered
	if r.replied != nil {
		close(r.replied)
	}
	r.mu.Unlock()
	if late && r.e != nil {
		r.e.lateReply(r.event, rep)
	}
	return true
}

func (r *run) fail(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

// settle fixes what the handler answers: the reply if one is ready, else
// nothing, after which replies count as late.
func (r *run) settle() (*wechat.Reply, Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answered = true
	if r.reply != nil {
		return r.reply, Replied
	}
	if r.finished {
		return nil, NoReply
	}
	select {
	case <-r.done:
		return nil, NoReply
	default:
		return nil, DeadlinePassed
	}
}

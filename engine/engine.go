package engine

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/engine/wechat"
)

// Engine matches events against the current rule set and runs the actions of
// the rules that match. It is safe for concurrent use.
type Engine struct {
	cur   atomic.Pointer[current]
	now   func() time.Time
	loc   *time.Location
	log   *slog.Logger
	state State

	ctx    context.Context // cancelled by Close after the drain deadline
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	// lateReply receives passive replies produced after the push was
	// answered; see Options.LateReply.
	lateReply func(ev *Event, r *wechat.Reply)
	outbox    *outbox.Outbox
	obs       Observer
	dryRun    bool
	holdLate  bool
	ai        AIMemory
	services  map[string]any
	canned    map[string]string

	replyDeadline time.Duration  // Options.ReplyDeadline
	client        *wechat.Client // Options.Client

	tally     *tally        // nil: no daily counters (Options.Tallies)
	tallyDone chan struct{} // closed when tallyLoop returns
}

// Options configures an Engine. Zero values are usable.
type Options struct {
	// Client calls the WeChat API for actions that need an answer while
	// the push waits (transfer's online check, kf_session); nil when the
	// account has no API credentials, and in offline runs.
	Client *wechat.Client
	// Now is the clock (time.Now when nil); tests fix it.
	Now func() time.Time
	// Location is the time zone of now(), hour(), weekday() and event.time
	// (UTC when nil).
	Location *time.Location
	Logger   *slog.Logger
	// State keeps cooldowns and kefu windows (in process memory when nil).
	State State
	// Observer hears about rule matches and action runs (metrics).
	Observer Observer
	// Outbox takes asynchronous sends (kefu messages); nil means actions
	// that send fail with ErrNoOutbox.
	Outbox *outbox.Outbox
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
	// HoldLate keeps late replies in AIMemory for the user's next push
	// instead of sending them by kefu: for accounts without the kefu API
	// (--kefu=false). It replaces LateReply.
	HoldLate bool
	// AIMemory keeps AI turns, daily counts and held replies; nil means
	// State's, when State keeps them (every store.Store does).
	AIMemory AIMemory
	// Services are what actions need at run time beyond their params (an
	// API client), by name: see Call.Service.
	Services map[string]any
	// Canned stands in, in an offline run, for what actions would fetch
	// from outside (a rule test's ai_answer): see Call.Canned.
	Canned map[string]string
	// ReplyDeadline is how long after a push is dispatched its handler
	// waits for the passive reply (--reply-deadline), for actions that
	// must answer in time: see Call.ReplyBy. 0: unknown.
	ReplyDeadline time.Duration
	// Tallies keeps the daily counters of the console's Analytics and
	// Unanswered pages (nil, or a dry run: none are kept); TallyEvery is
	// how often this process's counts are added to them
	// (DefaultTallyEvery when zero).
	Tallies    store.Tallies
	TallyEvery time.Duration
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
	if o.State == nil {
		o.State = memory.New(o.Now)
	}
	if o.Observer == nil {
		o.Observer = NopObserver{}
	}
	e := &Engine{now: o.Now, loc: o.Location, log: o.Logger, state: o.State, lateReply: o.LateReply, outbox: o.Outbox, obs: o.Observer, dryRun: o.DryRun,
		replyDeadline: o.ReplyDeadline, client: o.Client}
	e.wireLate(o)
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.SetRules(NewRuleSet(nil, nil))
	if o.Tallies != nil && !o.DryRun {
		every := cmp.Or(o.TallyEvery, DefaultTallyEvery)
		e.tally, e.tallyDone = newTally(o.Tallies, o.Location), make(chan struct{})
		go e.tallyLoop(every)
	}
	return e
}

// current pairs a rule set with the environment built for it.
type current struct {
	rs   *RuleSet
	base Env
}

// SetRules swaps in a new rule set. Pushes already being handled finish on
// the set they started with. A rule that keeps its name keeps its hit
// counter: the old and the new rule share it, so no push is lost from the
// count while the two sets overlap.
func (e *Engine) SetRules(rs *RuleSet) {
	if old := e.cur.Load(); old != nil && old.rs != rs {
		counters := make(map[string]*hitCounter, len(old.rs.Rules))
		for _, r := range old.rs.Rules {
			counters[r.Name] = r.hits
		}
		for _, r := range rs.Rules { // rs is not live yet: no push reads it
			if c := counters[r.Name]; c != nil {
				r.hits = c
			}
		}
	}
	e.cur.Store(&current{rs: rs, base: baseEnv(rs.Vars, rs.Schedules, e.now, e.loc)})
}

// Rules returns the current rule set.
func (e *Engine) Rules() *RuleSet { return e.cur.Load().rs }

// Location is the engine's time zone.
func (e *Engine) Location() *time.Location { return e.loc }

// Now is the engine's clock.
func (e *Engine) Now() time.Time { return e.now() }

// Logger is the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.log }

// Env builds the expression environment for ev under rule set rs.
func (e *Engine) Env(rs *RuleSet, ev *Event) *Env {
	env := baseEnv(rs.Vars, rs.Schedules, e.now, e.loc)
	env.Event = ev
	return &env
}

// Observer is the engine's observer (a NopObserver when none was given).
func (e *Engine) Observer() Observer { return e.obs }

// Closing reports whether Close was called: new pushes run no actions.
func (e *Engine) Closing() bool { return e.closed.Load() }

// Push is a dispatched push whose actions may still be running.
type Push struct {
	Event *Event
	// Rules are the rules that matched, in order.
	Rules    []*Rule
	progress progress
	env      Env
	rulesBuf [4]*Rule
}

// Dispatch matches ev against the current rules and runs the matching
// rules' actions: on the caller's goroutine when every one is Inline,
// otherwise on a goroutine the engine owns. Use Push.Wait for the reply.
func (e *Engine) Dispatch(ev *Event) *Push {
	if ev.ID == "" { // built by hand (tests): still needs a unique key for its sends
		ev.ID = "local/" + strconv.FormatUint(localIDs.Add(1), 10) + "/" + strconv.FormatInt(e.now().UnixNano(), 36)
	}
	var replyBy time.Time
	if e.replyDeadline > 0 && !e.dryRun {
		// Before the store calls below: the handler's clock starts after them.
		replyBy = time.Now().Add(e.replyDeadline)
	}
	e.openKefuWindow(ev)
	p := e.match(ev)
	p.progress.replyBy = replyBy
	e.saveUser(p)
	if e.tally != nil {
		e.tally.push(e.now(), ev, p.Rules, p.env.quiet)
	}
	steps, inline := 0, true
	for _, r := range p.Rules {
		if !e.dryRun { // rule tests and explain are not traffic
			r.hits.n.Add(1)
			r.hits.last.Store(hitTime(ev, e.now))
		}
		e.obs.RuleMatched(r.Name)
		steps += len(r.Steps)
		for _, st := range r.Steps {
			inline = inline && st.Inline
		}
	}
	if steps == 0 || e.closed.Load() {
		if steps > 0 {
			e.log.Warn("engine is shutting down; actions not run", "event", ev.Type)
		}
		p.progress.finished = true
		return p
	}
	e.wg.Add(1)
	if inline {
		e.runActions(p)
		p.progress.finished = true
		e.wg.Done()
		return p
	}
	p.progress.replied, p.progress.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer e.wg.Done()
		defer close(p.progress.done)
		e.runActions(p)
	}()
	return p
}

// hitTime is when a push hit its rules: the push's own time, which costs
// no clock read, or now for an event built without one.
func hitTime(ev *Event, now func() time.Time) int64 {
	if ev.Time.IsZero() {
		return now().UnixNano()
	}
	return ev.Time.UnixNano()
}

// openKefuWindow records the kefu window the event opens, before any rule
// runs, so that the rules' own kefu sends find it; the callback's claim
// may have recorded it already, in the same round trip (WindowOpened).
func (e *Engine) openKefuWindow(ev *Event) {
	until, ok := KefuWindowUntil(ev, e.now())
	if !ok || ev.WindowOpened {
		return
	}
	if err := e.state.OpenWindow(e.ctx, ev.From, until); err != nil {
		e.log.Warn("recording the kefu window failed; later kefu sends to this user may be refused", "err", err)
	}
}

// KefuWindowUntil is when the kefu window that ev opens ends; false when
// it opens none. The window runs from the push's CreateTime, not from now,
// so that the same push seen again (a retry, a replay) opens the very
// same window: no second opening.
func KefuWindowUntil(ev *Event, now time.Time) (time.Time, bool) {
	quota, validity := KefuWindowFor(ev)
	if quota == 0 || ev.From == "" {
		return time.Time{}, false
	}
	start := now
	if !ev.Time.IsZero() && ev.Time.Before(start) {
		start = ev.Time
	}
	return start.Add(validity), true
}

// match builds the push's state and finds its rules. One allocation holds
// the state, the environment and room for the matched rules.
func (e *Engine) match(ev *Event) *Push {
	cur := e.cur.Load()
	rs := cur.rs
	if rs.NeedsRaw && ev.Raw == nil && ev.Message != nil {
		ev.Raw = rawFields(ev.Message)
	}
	if rs.NeedsRecent {
		e.recent(ev)
	}
	p := &Push{Event: ev}
	p.env = cur.base
	p.env.Event = ev
	p.env.users, p.env.userFrom = e.state, ev.From
	matched, errs := rs.MatchInto(e.ctx, p.rulesBuf[:0], ev, &p.env, e.state)
	p.Rules = matched
	for _, err := range errs {
		var re *RuleError
		var ue *UserStateError
		if errors.As(err, &ue) {
			e.log.Warn("reading the user's state failed; rules see an empty state", "err", err, "event", ev.Type)
			continue
		}
		if errors.As(err, &re) && re.Gate == GateWhen {
			e.log.Warn("rule condition failed; the rule did not match", "err", err, "event", ev.Type)
		} else {
			e.log.Error("checking a rule failed; the rule did not match", "err", err, "event", ev.Type)
		}
		if re != nil {
			e.obs.RuleError(re.Rule)
		}
	}
	pr := &p.progress
	pr.outbox, pr.now, pr.e, pr.event, pr.dryRun = e.outbox, e.now, e, ev, e.dryRun
	return p
}

func (e *Engine) runActions(p *Push) {
	views := p.env.views
	if p.env.patch != nil || len(views) > 0 {
		p.env.User = p.env.userInit // each action sees the state as of its step
	}
	for ri, r := range p.Rules {
		// One Call per rule: Run returns before the next step starts.
		c := &Call{Event: p.Event, Env: &p.env, Rule: r, Logger: e.log, progress: &p.progress}
		for i, st := range r.Steps {
			if e.ctx.Err() != nil {
				return
			}
			c.step, c.sent = i, 0
			start := time.Now()
			var err error
			if st.State != nil && len(views) > 0 { // applied at match time (see StatePatcher)
				p.env.User, err = views[0].user, views[0].err
				views = views[1:]
			} else {
				err = st.Action.Run(e.ctx, c)
			}
			e.obs.ActionDone(st.Name, time.Since(start), err)
			if err != nil {
				p.progress.fail(err)
				e.log.Error("action failed", "rule", r.Name, "action", st.Name, "err", err)
			}
			if p.progress.ran == nil {
				p.progress.ran = p.progress.ranBuf[:0]
			}
			p.progress.ran = append(p.progress.ran, Ran{Rule: ri, Step: i})
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

var outcomeNames = [...]string{NoReply: "success", Replied: "replied", DeadlinePassed: "deadline"}

// String is the outcome's metric label: success, replied or deadline.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Wait blocks until the push's passive reply is ready, its actions are done,
// or the deadline passes, whichever is first.
func (p *Push) Wait(deadline <-chan time.Time) (*wechat.Reply, Outcome) {
	if !p.progress.finished {
		select {
		case <-p.progress.replied:
		case <-p.progress.done:
		case <-deadline:
		}
	}
	return p.progress.settle()
}

// Done is closed when every action has returned.
func (p *Push) Done() <-chan struct{} {
	if p.progress.finished {
		return closed
	}
	return p.progress.done
}

// closed is the Done channel of pushes finished on the caller's goroutine.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// RuleNames lists the names of the rules that matched, for logs.
func (p *Push) RuleNames() []string {
	names := make([]string, len(p.Rules))
	for i, r := range p.Rules {
		names[i] = r.Name
	}
	return names
}

// Result is a finished push, for tests and `wxbot explain`.
type Result struct {
	Rules []*Rule
	// Steps lists the actions that ran, in order.
	Steps []Ran
	Reply *wechat.Reply
	Err   error // the joined errors of failed actions
}

// Ran is one action that ran: the Step-th action of Result.Rules[Rule].
type Ran struct {
	Rule, Step int
}

// Action is the registered name of the action that ran.
func (r *Result) Action(s Ran) string { return r.Rules[s.Rule].Steps[s.Step].Name }

// Finish waits for every action and returns the whole result. It is for
// offline runs (rule tests); the handler uses Wait.
func (p *Push) Finish(ctx context.Context) (*Result, error) {
	select {
	case <-p.Done():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	steps := append([]Ran(nil), p.progress.ran...)
	return &Result{Rules: p.Rules, Steps: steps, Reply: p.progress.reply, Err: errors.Join(p.progress.errs...)}, nil
}

// Close stops dispatching, waits for running actions until ctx is done, then
// cancels what is left.
func (e *Engine) Close(ctx context.Context) error {
	e.closed.Store(true)
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	e.cancel()
	<-done
	if e.tally != nil {
		<-e.tallyDone
		// the last interval's counts, within the shutdown's deadline: many
		// accounts stop one after another, and a hung store must not hold
		// each of them (a store that ignores ctx, bbolt, writes anyway)
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if ferr := e.tally.flush(fctx, nil); ferr != nil {
			e.log.Warn("the console's daily counters of the last seconds were not written before the bot stopped", "err", ferr)
		}
		cancel()
	}
	return err
}

var localIDs atomic.Uint64

// replyByKefu is the default LateReply: the reply goes out as a kefu message.
func (e *Engine) replyByKefu(ev *Event, r *wechat.Reply) {
	m, ok := wechat.KefuFromReply(ev.From, r)
	switch {
	case e.outbox == nil:
		e.log.Warn("a passive reply came after the reply deadline and there is no outbox to send it by kefu (configure the WeChat API: AppID and AppSecret)",
			"event", ev.Type, "reply", r.Type)
		return
	case !ok:
		e.log.Warn("a passive reply came after the reply deadline and has no kefu equivalent; dropped",
			"event", ev.Type, "reply", r.Type)
		return
	}
	s := &outbox.Send{ID: ev.ID + "/late", Kind: outbox.KindKefu, OrderKey: ev.From, Rule: "(late reply)", Created: e.now()}
	raw, err := outbox.Encode(m)
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

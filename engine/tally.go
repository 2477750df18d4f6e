package engine

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wxbot/wxbot/engine/store"
)

// This file keeps the daily counters behind the console's 数据 (Analytics)
// and 未回复 (Unanswered) pages. A push counts in process memory, under one
// short lock and without a store call: the push path must not wait for
// analytics. Every TallyEvery the counts are added to the store's daily
// counters (store.Tallies), where replicas on one store add up; counts a
// failing store did not take are kept for the next try, within the same
// bounds, and a crash loses at most one interval's counts.

// Kinds of daily counters (store.Tally.Kind), and what their names are.
const (
	// TallyPush counts pushes by event type (text, click, subscribe…).
	TallyPush = "push"
	// TallyText counts users' texts (normalized as rules see them: trimmed,
	// lower case), answered or not: the top keywords.
	TallyText = "text"
	// TallyUnanswered counts the texts no rule answered (see
	// AnswersText); the name "" counts those too long to list.
	TallyUnanswered = "unanswered"
	// TallyMenu counts menu taps by key (a view button's by its URL).
	TallyMenu = "menu"
	// TallyRule counts the pushes each rule answered, by rule name.
	TallyRule = "rule"
	// TallyAI counts the ai action's questions by outcome (as
	// wxbot_ai_answers_total) and its tokens (TallyTokensIn, TallyTokensOut).
	TallyAI = "ai"
	// TallyHandoff counts handoffs by result (HandoffTransferred…).
	TallyHandoff = "handoff"
)

// Names of TallyAI's token counters.
const (
	TallyTokensIn  = "tokens_in"
	TallyTokensOut = "tokens_out"
)

// MaxTallyText is the longest text listed by itself, in characters: a
// longer one is no keyword a marketer would add, and a page of whole
// messages would show users' private words to no purpose.
const MaxTallyText = 30

// DefaultTallyEvery is how often counts go to the store when
// Options.TallyEvery is zero.
const DefaultTallyEvery = 10 * time.Second

type tallyKey struct{ day, kind, name string }

// tally is the engine's counts not yet in the store.
type tally struct {
	st  store.Tallies
	loc *time.Location

	mu               sync.Mutex
	pending          map[tallyKey]int64
	names            map[[2]string]int // names pending per (day, kind), for the bound
	day              string            // the day from dayStart to dayEnd, cached: formatting a day costs
	dayStart, dayEnd time.Time
	failing          bool // the last flush failed (logged once until it works again)
}

func newTally(st store.Tallies, loc *time.Location) *tally {
	return &tally{st: st, loc: loc, pending: map[tallyKey]int64{}, names: map[[2]string]int{}}
}

// dayOf names t's day; the caller holds mu.
func (t *tally) dayOf(at time.Time) string {
	if at.Before(t.dayEnd) && !at.Before(t.dayStart) {
		return t.day
	}
	y, m, d := at.In(t.loc).Date()
	t.dayStart = time.Date(y, m, d, 0, 0, 0, 0, t.loc) // days are not all 24 h long where clocks change
	t.day, t.dayEnd = store.TallyDay(at, t.loc), t.dayStart.AddDate(0, 0, 1)
	return t.day
}

// add counts n under (day, kind, name); the caller holds mu. A name new
// to a kind that has MaxTallyNames pending is dropped, as the store
// would drop it.
func (t *tally) add(day, kind, name string, n int64) {
	k := tallyKey{day, kind, name}
	if _, ok := t.pending[k]; ok {
		t.pending[k] += n
		return
	}
	dk := [2]string{day, kind}
	if t.names[dk] >= store.MaxTallyNames || len(name) > store.MaxTallyName {
		return
	}
	t.names[dk]++
	k.name = strings.Clone(name) // not a slice of the push body
	t.pending[k] = n
}

// count adds n to one counter of today.
func (t *tally) count(now time.Time, kind, name string, n int64) {
	t.mu.Lock()
	t.add(t.dayOf(now), kind, name, n)
	t.mu.Unlock()
}

// push counts a live push: its type, its text or menu key, the rules that
// answered it.
func (t *tally) push(now time.Time, ev *Event, matched []*Rule, quiet bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	day := t.dayOf(now)
	t.add(day, TallyPush, MetricLabel(ev.Type), 1)
	for _, r := range matched {
		t.add(day, TallyRule, r.Name, 1)
	}
	switch {
	case ev.Type == "text":
		text := NormalizeText(ev.Content)
		if utf8.RuneCountInString(text) > MaxTallyText {
			text = ""
		}
		if text != "" {
			t.add(day, TallyText, text, 1)
		}
		// a person answers during a handoff; a push that fetches a held
		// reply is answered by it
		if !quiet && !ev.Collects && !AnswersText(matched) {
			t.add(day, TallyUnanswered, text, 1)
		}
	case IsMenuEvent(ev.Type) && ev.Key != "":
		t.add(day, TallyMenu, ev.Key, 1)
	}
}

// AnswersText reports whether rules that matched a text answered it: some
// rule among them is gated on the text (a text: gate, or a when: that
// reads event.content). A rule that takes any text (a "sorry, I did not
// understand" at the end of the file) answers none: the texts only it
// matched are the ones the 未回复 page lists, as are those an `ai` rule
// for any text answered, which a keyword reply could answer better.
func AnswersText(matched []*Rule) bool {
	for _, r := range matched {
		if !r.Text.IsZero() || strings.Contains(r.WhenSrc, "content") {
			return true
		}
	}
	return false
}

// menuEvents are the event types a menu tap sends.
var menuEvents = map[string]bool{"click": true, "view": true, "view_miniprogram": true,
	"scancode_push": true, "scancode_waitmsg": true, "pic_sysphoto": true,
	"pic_photo_or_album": true, "pic_weixin": true, "location_select": true}

// IsMenuEvent reports whether typ (lower case) is sent by a menu tap.
func IsMenuEvent(typ string) bool { return menuEvents[typ] }

// take hands over the pending counts and starts afresh.
func (t *tally) take() []store.Tally {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.pending) == 0 {
		return nil
	}
	out := make([]store.Tally, 0, len(t.pending))
	for k, n := range t.pending {
		out = append(out, store.Tally{Day: k.day, Kind: k.kind, Name: k.name, N: n})
	}
	clear(t.pending)
	clear(t.names)
	return out
}

// giveBack keeps counts a flush could not write for the next one.
func (t *tally) giveBack(counts []store.Tally) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range counts {
		t.add(c.Day, c.Kind, c.Name, c.N)
	}
}

// flush adds the pending counts to the store; log (nil: the caller's)
// hears when it starts failing and when it works again.
func (t *tally) flush(ctx context.Context, log *slog.Logger) error {
	counts := t.take()
	if len(counts) == 0 {
		return nil
	}
	err := t.st.AddTallies(ctx, counts)
	t.mu.Lock()
	was := t.failing
	t.failing = err != nil
	t.mu.Unlock()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err != nil {
		t.giveBack(counts)
		if !was {
			log.Warn("the console's daily counters could not be written; kept in memory and tried again", "err", err)
		}
		return err
	}
	if was {
		log.Info("the console's daily counters are written again")
	}
	return nil
}

// pendingOf adds the counts not yet in the store to days (day → kind →
// name → n).
func (t *tally) pendingOf(days map[string]map[string]map[string]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, n := range t.pending {
		d := days[k.day]
		if d == nil {
			continue
		}
		if d[k.kind] == nil {
			d[k.kind] = map[string]int64{}
		}
		d[k.kind][k.name] += n
	}
}

// DayTallies are one day's counters: kind → name → count.
type DayTallies struct {
	Day    string // 20261206
	Date   time.Time
	Counts map[string]map[string]int64
}

// ErrNoTallies is Tallies' error when the engine keeps no daily counters
// (its store has none, or it is an offline run).
var ErrNoTallies = errors.New("this bot keeps no daily counters (its store has none)")

// Tallies reads the daily counters of the last n days, oldest first and
// today last, with this process's counts not yet in the store.
func (e *Engine) Tallies(ctx context.Context, n int) ([]DayTallies, error) {
	if e.tally == nil {
		return nil, ErrNoTallies
	}
	now := e.now().In(e.loc)
	y, m, d := now.Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, e.loc)
	out := make([]DayTallies, n)
	byDay := make(map[string]map[string]map[string]int64, n)
	for i := range out {
		date := today.AddDate(0, 0, i-n+1)
		day := store.TallyDay(date, e.loc)
		counts, err := e.tally.st.ReadTallies(ctx, day)
		if err != nil {
			return nil, err
		}
		dt := DayTallies{Day: day, Date: date, Counts: map[string]map[string]int64{}}
		for _, c := range counts {
			if dt.Counts[c.Kind] == nil {
				dt.Counts[c.Kind] = map[string]int64{}
			}
			dt.Counts[c.Kind][c.Name] += c.N
		}
		out[i], byDay[day] = dt, dt.Counts
	}
	e.tally.pendingOf(byDay)
	return out, nil
}

// FlushTallies adds the counts not yet in the store to it now (the engine
// does so every Options.TallyEvery and when it closes).
func (e *Engine) FlushTallies(ctx context.Context) error {
	if e.tally == nil {
		return nil
	}
	return e.tally.flush(ctx, e.log)
}

// tallyLoop flushes the counts every every until the engine closes.
func (e *Engine) tallyLoop(every time.Duration) {
	defer close(e.tallyDone)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			ctx, cancel := context.WithTimeout(e.ctx, every)
			e.tally.flush(ctx, e.log)
			cancel()
		case <-e.ctx.Done():
			return
		}
	}
}

// aiCounter is the ai action's observer (actions.AIObserver), which the
// engine cannot name: actions import the engine.
type aiCounter interface {
	AIAnswer(outcome string, took time.Duration)
	AITokens(in, out int)
}

// tallyObserver is the observer actions get (Call.Observer) on an engine
// that tallies: the ai action's answers and tokens count in the daily
// counters too, and go on to the engine's observer when it keeps them.
type tallyObserver struct {
	Observer
	ai aiCounter // nil when the engine's observer keeps no AI metrics
	e  *Engine
}

// AIAnswer implements actions.AIObserver.
func (o tallyObserver) AIAnswer(outcome string, took time.Duration) {
	o.e.tally.count(o.e.now(), TallyAI, outcome, 1)
	if o.ai != nil {
		o.ai.AIAnswer(outcome, took)
	}
}

// AITokens implements actions.AIObserver.
func (o tallyObserver) AITokens(in, out int) {
	now := o.e.now()
	o.e.tally.count(now, TallyAI, TallyTokensIn, int64(max(in, 0)))
	o.e.tally.count(now, TallyAI, TallyTokensOut, int64(max(out, 0)))
	if o.ai != nil {
		o.ai.AITokens(in, out)
	}
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// fakeTallies is a store.Tallies that can fail, and counts its writes.
type fakeTallies struct {
	mu     sync.Mutex
	days   map[string][]store.Tally
	fail   error
	writes int
}

func (f *fakeTallies) AddTallies(_ context.Context, counts []store.Tally) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.writes++
	if f.days == nil {
		f.days = map[string][]store.Tally{}
	}
	for _, c := range counts {
		f.days[c.Day] = append(f.days[c.Day], c)
	}
	return nil
}

func (f *fakeTallies) ReadTallies(_ context.Context, day string) ([]store.Tally, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]store.Tally(nil), f.days[day]...), nil
}

// aiAsked stands in for the ai action: it reports an answer and its
// tokens to the observer actions get.
type aiAsked struct{}

func (aiAsked) Run(_ context.Context, c *Call) error {
	o, ok := c.Observer().(aiCounter)
	if !ok {
		return errors.New("the observer keeps no AI counts")
	}
	o.AIAnswer("passive", time.Second)
	o.AITokens(120, 30)
	return nil
}

// TestTallies: what a push asked and how it was answered counts for its
// day; a text only a catch-all rule matched is unanswered, a text a
// keyword answered is not, a text during a handoff is neither; the counts
// show before they reach the store and once after.
func TestTallies(t *testing.T) {
	clock := time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	ft := &fakeTallies{}
	e := New(Options{Now: now, Tallies: ft, TallyEvery: time.Hour})
	defer e.Close(context.Background())
	rs := NewRuleSet([]*Rule{
		rule("human", []string{"text"}, exact("人工"), func(r *Rule) {
			r.Steps = []Step{{Name: "transfer", Action: ActionFunc(func(ctx context.Context, c *Call) error {
				c.Handoff(HandoffTransferred) // as the transfer action counts it
				return waitForAgent{}.Run(ctx, c)
			})}}
		}),
		rule("price", []string{"text"}, exact("价格")),
		rule("ask ai", []string{"text"}, containsText("ai"), func(r *Rule) { r.Steps = []Step{{Name: "ai", Action: aiAsked{}}} }),
		rule("by content", []string{"text"}, when(`event.content startsWith "订单"`)),
		rule("menu", []string{"click"}, keys("CONTACT")),
		rule("sorry", []string{"text"}),
	}, nil)
	rs.Handoff = DefaultHandoff
	e.SetRules(rs)
	ctx := context.Background()
	push := func(ev *Event) {
		t.Helper()
		if _, err := e.Dispatch(ev).Finish(ctx); err != nil {
			t.Fatal(err)
		}
	}
	push(&Event{Type: "text", From: "oA", Content: " 价格 "})
	push(&Event{Type: "text", From: "oA", Content: "发票"})
	push(&Event{Type: "text", From: "oB", Content: "发票"})
	push(&Event{Type: "text", From: "oB", Content: "订单 123"})
	push(&Event{Type: "text", From: "oB", Content: strings.Repeat("长", MaxTallyText+1)})
	push(&Event{Type: "text", From: "oC", Content: "AI please"})
	push(&Event{Type: "click", From: "oC", Key: "CONTACT"})
	push(&Event{Type: "subscribe", From: "oD"})
	push(&Event{Type: "text", From: "oE", Content: "人工"})
	push(&Event{Type: "text", From: "oE", Content: "发票"})                 // an agent's to answer
	push(&Event{Type: "text", From: "oF", Content: "在吗", Collects: true}) // answered by a held reply

	want := map[string]map[string]int64{
		TallyPush:       {"text": 9, "click": 1, "subscribe": 1},
		TallyText:       {"价格": 1, "发票": 3, "订单 123": 1, "ai please": 1, "人工": 1, "在吗": 1},
		TallyUnanswered: {"发票": 2, "": 1},
		TallyMenu:       {"CONTACT": 1},
		TallyRule:       {"price": 1, "ask ai": 1, "by content": 1, "menu": 1, "sorry": 4, "human": 1},
		TallyAI:         {"passive": 1, TallyTokensIn: 120, TallyTokensOut: 30},
		TallyHandoff:    {HandoffTransferred: 1},
	}
	check := func(when string) {
		t.Helper()
		days, err := e.Tallies(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(days) != 2 || days[1].Day != "20261206" || days[0].Day != "20261205" {
			t.Fatalf("%s: days %+v, want 20261205 and 20261206", when, days)
		}
		if len(days[0].Counts) != 0 {
			t.Errorf("%s: yesterday has %v", when, days[0].Counts)
		}
		for kind, names := range want {
			for name, n := range names {
				if got := days[1].Counts[kind][name]; got != n {
					t.Errorf("%s: %s %q = %d, want %d", when, kind, name, got, n)
				}
			}
			if len(days[1].Counts[kind]) != len(names) {
				t.Errorf("%s: %s = %v, want %v", when, kind, days[1].Counts[kind], names)
			}
		}
	}
	check("before the flush")
	if err := e.FlushTallies(ctx); err != nil {
		t.Fatal(err)
	}
	if ft.writes != 1 {
		t.Fatalf("%d writes, want 1", ft.writes)
	}
	check("after the flush")

	// The next day starts at midnight in the engine's zone.
	clock = clock.Add(2 * time.Hour)
	push(&Event{Type: "text", From: "oA", Content: "发票"})
	days, err := e.Tallies(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if days[1].Day != "20261207" || days[1].Counts[TallyUnanswered]["发票"] != 1 || days[0].Counts[TallyUnanswered]["发票"] != 2 {
		t.Errorf("across midnight: %+v", days)
	}
}

// TestTalliesKeptWhileTheStoreFails: counts a failing store did not take
// are written by the next flush that works, once.
func TestTalliesKeptWhileTheStoreFails(t *testing.T) {
	clock := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	ft := &fakeTallies{fail: errors.New("store down")}
	e := New(Options{Now: now, Tallies: ft, TallyEvery: time.Hour})
	defer e.Close(context.Background())
	e.SetRules(NewRuleSet([]*Rule{rule("price", []string{"text"}, exact("价格"))}, nil))
	ctx := context.Background()
	e.Dispatch(&Event{Type: "text", From: "oA", Content: "价格"}).Finish(ctx)
	if err := e.FlushTallies(ctx); err == nil {
		t.Fatal("a failing store's flush reported no error")
	}
	e.Dispatch(&Event{Type: "text", From: "oA", Content: "价格"}).Finish(ctx)
	ft.mu.Lock()
	ft.fail = nil
	ft.mu.Unlock()
	if err := e.FlushTallies(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.FlushTallies(ctx); err != nil { // nothing left: no write
		t.Fatal(err)
	}
	var n int64
	for _, c := range ft.days["20261206"] {
		if c.Kind == TallyRule && c.Name == "price" {
			n += c.N
		}
	}
	if n != 2 || ft.writes != 1 {
		t.Errorf("price counted %d in %d writes, want 2 in 1", n, ft.writes)
	}
}

// TestTalliesBounded: a kind keeps at most MaxTallyNames names between
// flushes; names already counted go on counting.
func TestTalliesBounded(t *testing.T) {
	tl := newTally(&fakeTallies{}, time.UTC)
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for i := range store.MaxTallyNames + 10 {
		tl.count(at, TallyText, fmt.Sprintf("w%d", i), 1)
	}
	tl.count(at, TallyText, "w0", 1)
	counts := tl.take()
	if len(counts) != store.MaxTallyNames {
		t.Fatalf("%d names kept, want %d", len(counts), store.MaxTallyNames)
	}
	for _, c := range counts {
		if c.Name == "w0" && c.N != 2 {
			t.Errorf("w0 counted %d, want 2", c.N)
		}
	}
}

// TestNoTalliesOffline: a dry run (rule tests, explain, Try it) keeps no
// counters and starts no flush loop.
func TestNoTalliesOffline(t *testing.T) {
	e := New(Options{Tallies: &fakeTallies{}, DryRun: true})
	defer e.Close(context.Background())
	if _, err := e.Tallies(context.Background(), 1); !errors.Is(err, ErrNoTallies) {
		t.Errorf("Tallies on a dry run: %v, want ErrNoTallies", err)
	}
}

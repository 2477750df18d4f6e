package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

func talliesOf(t *testing.T, s store.Store) store.Tallies {
	t.Helper()
	ts, ok := s.(store.Tallies)
	if !ok {
		t.Fatalf("%T does not implement store.Tallies", s)
	}
	return ts
}

// readTallies is day's counters as "kind/name=n", sorted (ReadTallies
// promises no order).
func readTallies(t *testing.T, ts store.Tallies, day string) []string {
	t.Helper()
	got, err := ts.ReadTallies(context.Background(), day)
	must(t, err)
	out := []string{}
	for _, c := range got {
		if c.Day != day {
			t.Errorf("ReadTallies(%s) returned a counter of %s: %+v", day, c.Day, c)
		}
		out = append(out, fmt.Sprintf("%s/%s=%d", c.Kind, c.Name, c.N))
	}
	slices.Sort(out)
	return out
}

// testTallies: the daily counters of store.Tallies.
func testTallies(t *testing.T, o Opener) {
	t.Run("Accumulate", func(t *testing.T) { testTalliesAccumulate(t, o) })
	t.Run("Cap", func(t *testing.T) { testTalliesCap(t, o) })
	t.Run("Retention", func(t *testing.T) { testTalliesRetention(t, o) })
	t.Run("Invalid", func(t *testing.T) { testTalliesInvalid(t, o) })
	t.Run("Concurrent", func(t *testing.T) { testTalliesConcurrent(t, o) })
}

// testTalliesAccumulate: counts add up across calls and within one; kinds
// and days are kept apart, a name of one kind is not another's, and an
// account's view sees none of another account's counts (WriteOtherAccount
// counts on the same day).
func testTalliesAccumulate(t *testing.T, o Opener) {
	clock := start()
	ts := talliesOf(t, o.Open(t, clock))
	ctx := context.Background()
	day := store.TallyDay(clock.T, time.UTC)
	before := store.TallyDay(clock.T.Add(-24*time.Hour), time.UTC)
	eq(t, "a day without counters", readTallies(t, ts, day), []string{})
	must(t, ts.AddTallies(ctx, []store.Tally{
		{Day: day, Kind: "push", Name: "text", N: 2},
		{Day: day, Kind: "push", Name: "event", N: 1},
		{Day: day, Kind: "text", Name: "你好", N: 1},
		{Day: day, Kind: "text", Name: "你好", N: 1}, // twice in one batch
		{Day: before, Kind: "push", Name: "text", N: 7},
	}))
	must(t, ts.AddTallies(ctx, []store.Tally{
		{Day: day, Kind: "push", Name: "text", N: 3},
		{Day: day, Kind: "menu", Name: "text", N: 1},                  // the same name, another kind
		{Day: day, Kind: "menu:text", Name: "", N: 4},                 // a kind that could meet a key's separator
		{Day: day, Kind: "text", Name: "nothing", N: 0},               // nothing to count
		{Day: day, Kind: "text", Name: strings.Repeat("长", 66), N: 1}, // 198 bytes
	}))
	must(t, ts.AddTallies(ctx, nil))
	eq(t, "the day", readTallies(t, ts, day), []string{
		"menu/text=1", "menu:text/=4", "push/event=1", "push/text=5", "text/你好=2", "text/" + strings.Repeat("长", 66) + "=1",
	})
	eq(t, "the day before", readTallies(t, ts, before), []string{"push/text=7"})
	eq(t, "another day", readTallies(t, ts, "20261101"), []string{})
}

// testTalliesCap: a kind keeps store.MaxTallyNames names a day, the first
// ones in the batches' order; the names it has go on counting, and the cap
// is per kind and day.
func testTalliesCap(t *testing.T, o Opener) {
	clock := start()
	ts := talliesOf(t, o.Open(t, clock))
	ctx := context.Background()
	day := store.TallyDay(clock.T, time.UTC)
	var batch []store.Tally
	for i := range store.MaxTallyNames + 5 {
		batch = append(batch, store.Tally{Day: day, Kind: "text", Name: fmt.Sprint("t", i), N: 1})
	}
	must(t, ts.AddTallies(ctx, batch))
	must(t, ts.AddTallies(ctx, []store.Tally{
		{Day: day, Kind: "text", Name: "new", N: 1},
		{Day: day, Kind: "text", Name: "t0", N: 1},
		{Day: day, Kind: "menu", Name: "new", N: 1},
		{Day: "20261123", Kind: "text", Name: "new", N: 1},
	}))
	got, err := ts.ReadTallies(ctx, day)
	must(t, err)
	n := map[string]int64{}
	for _, c := range got {
		n[c.Kind+"/"+c.Name] = c.N
	}
	if len(n) != store.MaxTallyNames+1 {
		t.Errorf("%d counters, want %d of text and 1 of menu", len(n), store.MaxTallyNames)
	}
	for _, name := range []string{"new", fmt.Sprint("t", store.MaxTallyNames)} {
		if _, ok := n["text/"+name]; ok {
			t.Errorf("text/%s was kept past the cap", name)
		}
	}
	if n["text/t0"] != 2 || n[fmt.Sprint("text/t", store.MaxTallyNames-1)] != 1 || n["menu/new"] != 1 {
		t.Errorf("text/t0=%d, text/t%d=%d, menu/new=%d: want 2, 1, 1", n["text/t0"],
			store.MaxTallyNames-1, n[fmt.Sprint("text/t", store.MaxTallyNames-1)], n["menu/new"])
	}
	eq(t, "another day", readTallies(t, ts, "20261123"), []string{"text/new=1"})
}

// testTalliesRetention: a day's counters are kept store.TallyRetention
// after it ends, then forgotten, and a count for it is left out. The
// stores decide on the caller's clock (Redis's TTL only collects), so this
// runs on every store.
func testTalliesRetention(t *testing.T, o Opener) {
	clock := start()
	ts := talliesOf(t, o.Open(t, clock))
	ctx := context.Background()
	day := store.TallyDay(clock.T, time.UTC)
	end, _ := store.TallyDayEnd(day)
	must(t, ts.AddTallies(ctx, []store.Tally{{Day: day, Kind: "push", Name: "text", N: 1}}))
	clock.T = end.Add(store.TallyRetention - time.Hour)
	eq(t, "an hour before the retention's end", readTallies(t, ts, day), []string{"push/text=1"})
	clock.T = end.Add(store.TallyRetention + time.Hour)
	eq(t, "past the retention", readTallies(t, ts, day), []string{})
	today := store.TallyDay(clock.T, time.UTC)
	must(t, ts.AddTallies(ctx, []store.Tally{
		{Day: today, Kind: "push", Name: "text", N: 1},
		{Day: day, Kind: "push", Name: "text", N: 1},
	}))
	eq(t, "a forgotten day after an add", readTallies(t, ts, day), []string{})
	eq(t, "today", readTallies(t, ts, today), []string{"push/text=1"})
}

// testTalliesInvalid: a batch with an invalid counter is refused whole,
// and so is a read of what is no day.
func testTalliesInvalid(t *testing.T, o Opener) {
	clock := start()
	ts := talliesOf(t, o.Open(t, clock))
	ctx := context.Background()
	day := store.TallyDay(clock.T, time.UTC)
	for _, bad := range []store.Tally{
		{Day: day, Kind: "", Name: "x", N: 1},
		{Day: day, Kind: "text", Name: strings.Repeat("x", store.MaxTallyName+1), N: 1},
		{Day: "2026-11-24", Kind: "text", Name: "x", N: 1},
		{Day: "", Kind: "text", Name: "x", N: 1},
	} {
		err := ts.AddTallies(ctx, []store.Tally{{Day: day, Kind: "push", Name: "ok", N: 1}, bad})
		if err == nil {
			t.Errorf("a batch with %+v was taken", bad)
		}
	}
	eq(t, "after the refused batches", readTallies(t, ts, day), []string{})
	for _, bad := range []string{"", "2026-11-24", "20261324", "nope"} {
		if _, err := ts.ReadTallies(ctx, bad); err == nil {
			t.Errorf("ReadTallies(%q) read something", bad)
		}
	}
}

// testTalliesConcurrent: replicas and flushes add at once, and every
// count is kept.
func testTalliesConcurrent(t *testing.T, o Opener) {
	clock := start()
	ts := talliesOf(t, o.Open(t, clock))
	ctx := context.Background()
	day := store.TallyDay(clock.T, time.UTC)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 5 {
				err := ts.AddTallies(ctx, []store.Tally{{Day: day, Kind: "push", Name: "text", N: 1},
					{Day: day, Kind: "caller", Name: fmt.Sprint(i), N: 1}})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	want := []string{"push/text=40"}
	for i := range 8 {
		want = append(want, fmt.Sprintf("caller/%d=5", i))
	}
	slices.Sort(want)
	eq(t, "after concurrent adds", readTallies(t, ts, day), want)
}

// testDurableTallies: the counters survive a reopen and go on counting.
func testDurableTallies(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	ctx := context.Background()
	day := store.TallyDay(clock.T, time.UTC)
	c := []store.Tally{{Day: day, Kind: "push", Name: "text", N: 2}}
	must(t, talliesOf(t, s).AddTallies(ctx, c))
	s = o.Reopen(t, s, clock)
	must(t, talliesOf(t, s).AddTallies(ctx, c))
	eq(t, "after a reopen", readTallies(t, talliesOf(t, s), day), []string{"push/text=4"})
}

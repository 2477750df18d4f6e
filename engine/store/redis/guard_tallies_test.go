package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/redis"
)

// TestGuardTallies: the daily counters go to the store; a batch or a day
// the store would refuse is refused without the breaker counting it as a
// failure; while the store is skipped, an add fails (the engine adds its
// counts again at its next flush) and nothing is kept aside.
func TestGuardTallies(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	primary, g := flakyGuard(t, clock)
	ctx := context.Background()
	day := store.TallyDay(now, time.UTC)
	one := []store.Tally{{Day: day, Kind: "push", Name: "text", N: 1}}

	if err := g.AddTallies(ctx, one); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := g.AddTallies(ctx, append(one, store.Tally{Day: day, Name: "no kind", N: 1})); err == nil {
			t.Fatal("a batch with a counter of no kind was taken")
		}
		if _, err := g.ReadTallies(ctx, "nope"); err == nil {
			t.Fatal("ReadTallies of no day read something")
		}
	}
	if d, _ := g.Degraded(); d {
		t.Fatal("refused batches opened the breaker")
	}
	if got, err := g.ReadTallies(ctx, day); err != nil || len(got) != 1 || got[0].N != 1 {
		t.Fatalf("ReadTallies = %+v, %v; want push/text=1", got, err)
	}

	primary.down.Store(true)
	for _, k := range []string{"a", "b", "c"} {
		g.TakeCooldown(ctx, k, time.Hour)
	}
	if err := g.AddTallies(ctx, one); !errors.Is(err, redis.ErrDegraded) {
		t.Errorf("AddTallies while the store is skipped: %v, want ErrDegraded", err)
	}
	if _, err := g.ReadTallies(ctx, day); !errors.Is(err, redis.ErrDegraded) {
		t.Errorf("ReadTallies while the store is skipped: %v, want ErrDegraded", err)
	}
	if got, _ := primary.ReadTallies(ctx, day); len(got) != 1 || got[0].N != 1 {
		t.Errorf("the store's counters after a skipped add: %+v, want push/text=1", got)
	}
}

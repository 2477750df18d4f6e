package redis_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store/bolt"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/engine/store/redis"
)

// TestGuardKeysAndTrack: idempotency keys are the store's alone (while it
// is skipped they are refused, never kept in one replica's memory), and a
// send spooled while the store fails is tracked as pending.
func TestGuardKeysAndTrack(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	primary, g := flakyGuard(t, clock)
	ctx := context.Background()

	if first, err := g.RememberKey(ctx, "crm:k1", "f1", time.Hour); first != "" || err != nil {
		t.Fatalf("a new key: %q %v", first, err)
	}
	if first, err := g.RememberKey(ctx, "crm:k1", "f2", time.Hour); first != "f1" || err != nil {
		t.Fatalf("the key again: %q %v; want f1", first, err)
	}
	if err := g.Enqueue(ctx, &outbox.Send{ID: "s0", Kind: outbox.KindKefu, OrderKey: "oU"}); err != nil {
		t.Fatal(err)
	}
	if st, err := g.Track(ctx, "s0"); st.State != outbox.Pending || err != nil {
		t.Fatalf("Track(s0) = %+v, %v; want pending", st, err)
	}

	primary.down.Store(true)
	for _, k := range []string{"a", "b", "c"} {
		g.TakeCooldown(ctx, k, time.Hour)
	}
	if d, _ := g.Degraded(); !d {
		t.Fatal("not degraded after three failures")
	}
	if _, err := g.RememberKey(ctx, "crm:k2", "f1", time.Hour); !errors.Is(err, redis.ErrDegraded) {
		t.Errorf("RememberKey while the store is skipped: %v, want ErrDegraded", err)
	}
	if err := g.Enqueue(ctx, &outbox.Send{ID: "s1", Kind: outbox.KindKefu, OrderKey: "oU"}); err != nil {
		t.Fatal(err)
	}
	if st, err := g.Track(ctx, "s1"); st.State != outbox.Pending || err != nil {
		t.Errorf("Track of a spooled send = %+v, %v; want pending", st, err)
	}
	if _, err := g.Track(ctx, "s0"); !errors.Is(err, redis.ErrDegraded) {
		t.Errorf("Track of a send in the skipped store: %v, want ErrDegraded", err)
	}
}

// flakyGuard is a guard on a memory store that fails when told (flaky),
// spooling to a bbolt file of the test's; it closes with the test.
func flakyGuard(t *testing.T, clock func() time.Time) (*flaky, *redis.Guard) {
	t.Helper()
	primary := &flaky{Memory: memory.New(clock)}
	spool, err := bolt.OpenFile(filepath.Join(t.TempDir(), "spool.db"), clock)
	if err != nil {
		t.Fatal(err)
	}
	g := redis.NewGuard(primary, redis.GuardOptions{Spool: spool, Now: clock})
	t.Cleanup(func() { g.Close() })
	return primary, g
}

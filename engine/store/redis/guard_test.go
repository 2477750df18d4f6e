package redis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/bolt"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/engine/store/redis"
)

// flaky is a memory store that fails every call while down is set.
type flaky struct {
	*memory.Memory
	down  atomic.Bool
	calls atomic.Int32
}

var errDown = errors.New("connection refused")

func (f *flaky) fail() error {
	f.calls.Add(1)
	if f.down.Load() {
		return errDown
	}
	return nil
}

func (f *flaky) TakeCooldown(ctx context.Context, k string, ttl time.Duration) (bool, error) {
	if err := f.fail(); err != nil {
		return false, err
	}
	return f.Memory.TakeCooldown(ctx, k, ttl)
}

func (f *flaky) OpenWindow(ctx context.Context, id string, until time.Time) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Memory.OpenWindow(ctx, id, until)
}

func (f *flaky) TakeWindowSlot(ctx context.Context, id string, now time.Time) (bool, error) {
	if err := f.fail(); err != nil {
		return false, err
	}
	return f.Memory.TakeWindowSlot(ctx, id, now)
}

func (f *flaky) Enqueue(ctx context.Context, sends ...*outbox.Send) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Memory.Enqueue(ctx, sends...)
}

func (f *flaky) Pending(ctx context.Context) (int, error) {
	if err := f.fail(); err != nil {
		return 0, err
	}
	return f.Memory.Pending(ctx)
}

// TestGuardDegradesAndRecovers: three failures in a row open the breaker
// (the store is skipped, memory and the spool stand in); after OpenFor a
// probe that succeeds closes it, and what was kept aside moves to the store.
// The stores are in process (memory, a bbolt file), so it runs in a
// synctest bubble: Run's ticker and the wait for the recovery are on fake
// time.
func TestGuardDegradesAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Unix(1_800_000_000, 0)
		clock := func() time.Time { return now }
		primary := &flaky{Memory: memory.New(clock)}
		spool, err := bolt.OpenFile(filepath.Join(t.TempDir(), "spool.db"), clock)
		if err != nil {
			t.Fatal(err)
		}
		var changes []bool
		g := redis.NewGuard(primary, redis.GuardOptions{Spool: spool, Now: clock, OnChange: func(d bool) { changes = append(changes, d) }})
		defer g.Close()
		ctx := context.Background()

		primary.down.Store(true)
		for _, k := range []string{"a", "b", "c"} {
			if ok, err := g.TakeCooldown(ctx, k, time.Hour); !ok || err != nil {
				t.Fatalf("cooldown %s while the store fails: %v %v; want it taken in memory", k, ok, err)
			}
		}
		if ok, _ := g.TakeCooldown(ctx, "a", time.Hour); ok {
			t.Fatal("memory did not keep the cooldown")
		}
		if d, _ := g.Degraded(); !d || len(changes) != 1 || !changes[0] {
			t.Fatalf("degraded %v, changes %v after failures", d, changes)
		}
		calls := primary.calls.Load()
		g.OpenWindow(ctx, "oU", now.Add(48*time.Hour))
		if err := g.Enqueue(ctx, &outbox.Send{ID: "s1", Kind: outbox.KindKefu, OrderKey: "oU"}); err != nil {
			t.Fatalf("enqueue while degraded: %v", err)
		}
		if due, err := g.Due(ctx, now, 10, nil); len(due) != 0 || err != nil {
			t.Errorf("due while degraded: %v %v; want nothing, quietly", due, err)
		}
		if primary.calls.Load() != calls {
			t.Errorf("the store was called %d times while skipped", primary.calls.Load()-calls)
		}
		if n, _ := spool.Pending(ctx); n != 1 {
			t.Errorf("%d sends spooled, want 1", n)
		}

		// Back: after OpenFor, the run loop's probe closes the breaker, then
		// replays the window and drains the spool.
		primary.down.Store(false)
		now = now.Add(6 * time.Second)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { g.Run(rctx, 5*time.Millisecond); close(done) }()
		deadline := time.Now().Add(10 * time.Second) // fake time: spent at once if Run is stuck
		for {
			n, _ := primary.Memory.Pending(ctx)
			if d, _ := g.Degraded(); !d && n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not recovered: pending %d", n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		<-done
		if n, _ := spool.Pending(ctx); n != 0 {
			t.Errorf("%d sends left in the spool", n)
		}
		if ok, _ := primary.Memory.TakeWindowSlot(ctx, "oU", now); !ok {
			t.Error("the window opened while degraded was not written to the store")
		}
		if len(changes) != 2 || changes[1] {
			t.Errorf("changes %v, want degraded then recovered", changes)
		}
	})
}

// TestGuardTimesOutAHangingStore: a call that hangs is cut at CallTimeout,
// and answered from memory. The hanging store is in process, so the test
// runs in a synctest bubble: the call takes exactly CallTimeout of fake
// time, and the store saw its context's deadline end it, however busy the
// machine.
func TestGuardTimesOutAHangingStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		spool, err := bolt.OpenFile(filepath.Join(t.TempDir(), "spool.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		h := &hanging{Memory: memory.New(nil)}
		g := redis.NewGuard(h, redis.GuardOptions{Spool: spool, CallTimeout: 50 * time.Millisecond})
		defer g.Close()
		start := time.Now()
		if ok, err := g.TakeCooldown(context.Background(), "k", time.Minute); !ok || err != nil {
			t.Errorf("%v %v", ok, err)
		}
		if took := time.Since(start); took != 50*time.Millisecond {
			t.Errorf("a hanging store held the call %v, want it cut at CallTimeout, 50ms", took)
		}
		if !errors.Is(h.gaveUp, context.DeadlineExceeded) {
			t.Errorf("the hanging store's context ended with %v, want the call's deadline", h.gaveUp)
		}
	})
}

// hanging is a store whose cooldowns wait until the caller gives up; it
// records why the wait ended.
type hanging struct {
	*memory.Memory
	gaveUp error
}

func (h *hanging) TakeCooldown(ctx context.Context, _ string, _ time.Duration) (bool, error) {
	<-ctx.Done()
	h.gaveUp = ctx.Err()
	return false, h.gaveUp
}

func (f *flaky) LoadUser(ctx context.Context, id string) (map[string]any, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Memory.LoadUser(ctx, id)
}

func (f *flaky) PatchUser(ctx context.Context, id string, p *store.UserPatch) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Memory.PatchUser(ctx, id, p)
}

// TestGuardUserState: user state is not kept in memory when the store
// fails (a step remembered on one replica only would be forgotten when the
// store is back), and a write refused for its size is no fault of the
// store's.
func TestGuardUserState(t *testing.T) {
	primary := &flaky{Memory: memory.New(nil)}
	spool, err := bolt.OpenFile(filepath.Join(t.TempDir(), "spool.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	g := redis.NewGuard(primary, redis.GuardOptions{Spool: spool})
	defer g.Close()
	ctx := context.Background()
	if err = g.PatchUser(ctx, "oU", &store.UserPatch{Set: map[string]any{"step": "a"}}); err != nil {
		t.Fatal(err)
	}
	big := map[string]any{"note": strings.Repeat("x", store.MaxStateBytes)}
	for range 5 {
		if err := g.PatchUser(ctx, "oU", &store.UserPatch{Set: big}); !errors.Is(err, store.ErrStateTooLarge) {
			t.Fatalf("an oversized write: %v, want store.ErrStateTooLarge", err)
		}
	}
	if d, _ := g.Degraded(); d {
		t.Fatal("refused writes made the guard degraded")
	}
	primary.down.Store(true)
	if _, err := g.LoadUser(ctx, "oU"); err == nil {
		t.Fatal("LoadUser with the store down succeeded; want the error (no stand-in)")
	}
	if err := g.PatchUser(ctx, "oU", &store.UserPatch{Set: map[string]any{"step": "b"}}); err == nil {
		t.Fatal("PatchUser with the store down succeeded")
	}
	primary.down.Store(false)
	if st, _ := primary.Memory.LoadUser(ctx, "oU"); st["step"] != "a" {
		t.Fatalf("state = %v, want the step from before the outage", st)
	}
}

// TestGuardLogsSpoolingQuietly: while the store is down every send is
// spooled, and says so once in 10 s, with how many it did not log.
func TestGuardLogsSpoolingQuietly(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	primary := &flaky{Memory: memory.New(clock)}
	primary.down.Store(true)
	spool, err := bolt.OpenFile(filepath.Join(t.TempDir(), "spool.db"), clock)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	g := redis.NewGuard(primary, redis.GuardOptions{Spool: spool, Now: clock, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer g.Close()
	send := func(i int) {
		if err := g.Enqueue(context.Background(), &outbox.Send{ID: fmt.Sprint("s", i), Kind: outbox.KindKefu, OrderKey: "oU"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		send(i)
	}
	if n := strings.Count(logs.String(), "store unavailable: sends spooled"); n != 1 {
		t.Errorf("%d lines for 50 sends spooled at once, want 1:\n%s", n, logs.String())
	}
	now = now.Add(11 * time.Second)
	send(50)
	if n := strings.Count(logs.String(), "store unavailable: sends spooled"); n != 2 || !strings.Contains(logs.String(), "not_logged_since=49") {
		t.Errorf("after 10 s: %d lines, want 2, the second counting the 49 left out:\n%s", n, logs.String())
	}
	if n, _ := spool.Pending(context.Background()); n != 51 {
		t.Errorf("%d sends spooled, want 51", n)
	}
}

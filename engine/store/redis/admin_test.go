package redis_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store/bolt"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/engine/store/redis"
	"github.com/wxbot/wxbot/engine/store/storetest"
)

// TestGuardPassesOutboxAdminThrough: a Guard (in front of Redis in serve)
// serves outbox.Admin from the store it guards.
func TestGuardPassesOutboxAdminThrough(t *testing.T) {
	ctx := context.Background()
	spool, err := bolt.OpenFile(filepath.Join(t.TempDir(), "spool.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()
	mem := memory.New(nil)
	var g outbox.Admin = redis.NewGuard(mem, redis.GuardOptions{Spool: spool})
	mem.Enqueue(ctx, &outbox.Send{ID: "p1", OrderKey: "U"}, &outbox.Send{ID: "d1", OrderKey: "V"})
	due, _ := mem.Due(ctx, time.Now(), 10, func(u string) bool { return u != "V" })
	mem.Dead(ctx, due[0], "errcode 45015")
	sends, next, err := g.PendingSends(ctx, "", 10)
	if err != nil || len(sends) != 1 || sends[0].ID != "p1" || next != "" {
		t.Errorf("PendingSends: %v %q %v", sends, next, err)
	}
	if ok, err := g.RetryDead(ctx, "d1"); !ok || err != nil {
		t.Errorf("RetryDead: %v %v", ok, err)
	}
	if n, err := g.RetryAllDead(ctx); n != 0 || err != nil {
		t.Errorf("RetryAllDead: %d %v", n, err)
	}
	if ok, err := g.Drop(ctx, "p1"); !ok || err != nil {
		t.Errorf("Drop: %v %v", ok, err)
	}
	if n, _ := mem.Pending(ctx); n != 1 {
		t.Errorf("pending %d, want the retried d1", n)
	}
}

// TestRedisRetryDeadTwoReplicas: replicas with connections of their own
// retry the same dead letters at once: each is enqueued once.
func TestRedisRetryDeadTwoReplicas(t *testing.T) {
	clock := &storetest.Clock{T: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	prefix := fmt.Sprintf("wxbot-test-admin-%d-%d:", os.Getpid(), time.Now().UnixNano())
	a := openRedis(t, prefix, clock.Now)
	defer a.Close()
	defer cleanup(t, a)
	b, err := redis.Connect(redisURL+"?consumer=c2&prefix="+prefix, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	const n = 20
	for i := range n {
		if err := a.Enqueue(ctx, &outbox.Send{ID: fmt.Sprint("s", i), Kind: outbox.KindKefu, OrderKey: fmt.Sprint("u", i)}); err != nil {
			t.Fatal(err)
		}
	}
	due, err := a.Due(ctx, clock.T, n, nil)
	if err != nil || len(due) != n {
		t.Fatalf("due %d %v", len(due), err)
	}
	for _, d := range due {
		if err := a.Dead(ctx, d, "errcode 45015"); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := map[string]int{}
	for _, s := range []*redis.Redis{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				id := fmt.Sprint("s", i)
				ok, err := s.RetryDead(ctx, id)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					won[id]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if id := fmt.Sprint("s", i); won[id] != 1 {
			t.Errorf("%s enqueued %d times", id, won[id])
		}
	}
	if p, _ := a.Pending(ctx); p != n {
		t.Errorf("pending %d, want %d", p, n)
	}
}

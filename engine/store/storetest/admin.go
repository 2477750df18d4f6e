package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
)

func admin(t *testing.T, s store.Store) outbox.Admin {
	t.Helper()
	a, ok := s.(outbox.Admin)
	if !ok {
		t.Fatalf("%T does not implement outbox.Admin", s)
	}
	return a
}

// kill dead-letters the due send id of user after attempts failures.
func kill(t *testing.T, s store.Store, now time.Time, id string, attempts int) {
	t.Helper()
	ctx := context.Background()
	due, err := s.Due(ctx, now, 100, nil)
	must(t, err)
	for _, d := range due {
		if d.ID == id {
			d.Attempts, d.LastError = attempts, "errcode 45015"
			must(t, s.Dead(ctx, d, "errcode 45015: response out of time limit"))
			return
		}
	}
	t.Fatalf("%s is not due (due: %v)", id, ids(due))
}

func testOutboxAdminList(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	a := admin(t, s)
	ctx := context.Background()
	must(t, s.Enqueue(ctx, send("a1", "A"), send("b1", "B"), send("a2", "A"), send("c1", "C"), send("b2", "B")))
	var got []string
	after, pages := "", 0
	for {
		page, next, err := a.PendingSends(ctx, after, 2)
		must(t, err)
		pages++
		if len(page) > 2 {
			t.Fatalf("page of %d sends, limit 2", len(page))
		}
		for _, p := range page {
			if p.OrderKey == "" || p.Rule != "r" || p.Kind != outbox.KindKefu {
				t.Errorf("listed send lost fields: %+v", p)
			}
		}
		got = append(got, ids(page)...)
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		after = next
	}
	eq(t, "pending sends, paged by 2", got, []string{"a1", "b1", "a2", "c1", "b2"})
	if pages != 3 {
		t.Errorf("%d pages, want 3", pages)
	}
	page, next, err := a.PendingSends(ctx, "", 100)
	must(t, err)
	eq(t, "one page", ids(page), []string{"a1", "b1", "a2", "c1", "b2"})
	if next != "" {
		t.Errorf("next %q after the last page", next)
	}
	kill(t, s, clock.T, "c1", 3)
	page, _, _ = a.PendingSends(ctx, "", 100)
	eq(t, "dead letters are not pending", ids(page), []string{"a1", "b1", "a2", "b2"})
}

func testOutboxAdminRetry(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	a := admin(t, s)
	ctx := context.Background()
	must(t, s.Enqueue(ctx, send("m1", "U"), send("m2", "U")))
	kill(t, s, clock.T, "m1", 10)
	clock.T = clock.T.Add(time.Hour)

	if ok, err := a.RetryDead(ctx, "nope"); err != nil || ok {
		t.Errorf("RetryDead of an unknown id: %v, %v", ok, err)
	}
	if ok, err := a.RetryDead(ctx, "m2"); err != nil || ok {
		t.Errorf("RetryDead of a pending send: %v, %v", ok, err)
	}
	// Two callers at once (two replicas on a shared store): enqueued once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := a.RetryDead(ctx, "m1")
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d concurrent retries enqueued the dead letter, want 1", won)
	}
	if ok, _ := a.RetryDead(ctx, "m1"); ok {
		t.Error("a dead letter retried twice")
	}
	if dl, _ := s.DeadLetters(ctx, 10); len(dl) != 0 {
		t.Errorf("dead letters after the retry: %+v", dl)
	}
	if n, _ := s.Pending(ctx); n != 2 {
		t.Errorf("pending %d, want 2 (m2 and the retried m1)", n)
	}
	due, err := s.Due(ctx, clock.T, 10, nil)
	must(t, err)
	eq(t, "the user's waiting send goes first", ids(due), []string{"m2"})
	must(t, s.Done(ctx, due[0]))
	due, err = s.Due(ctx, clock.T, 10, nil)
	must(t, err)
	eq(t, "then the retried one", ids(due), []string{"m1"})
	if d := due[0]; d.Attempts != 0 || d.LastError != "" || d.NotBefore.After(clock.T) || string(d.Payload) == "" {
		t.Errorf("retried send: %+v, want attempts reset, due now, payload kept", d)
	}
	must(t, s.Done(ctx, due[0]))
	must(t, s.Enqueue(ctx, send("m1", "U")))
	if n, _ := s.Pending(ctx); n != 0 {
		t.Error("a retried and delivered send was enqueued again")
	}

	must(t, s.Enqueue(ctx, send("x1", "X"), send("y1", "Y")))
	kill(t, s, clock.T, "x1", 1)
	kill(t, s, clock.T, "y1", 1)
	n, err := a.RetryAllDead(ctx)
	must(t, err)
	if n != 2 {
		t.Errorf("RetryAllDead: %d, want 2", n)
	}
	if n, _ := a.RetryAllDead(ctx); n != 0 {
		t.Errorf("RetryAllDead again: %d, want 0", n)
	}
	due, _ = s.Due(ctx, clock.T, 10, nil)
	eq(t, "all retried", ids(due), []string{"x1", "y1"})
}

func testOutboxAdminDrop(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	a := admin(t, s)
	ctx := context.Background()
	must(t, s.Enqueue(ctx, send("a1", "A"), send("a2", "A"), send("a3", "A"), send("d1", "D")))
	kill(t, s, clock.T, "d1", 1)

	if ok, err := a.Drop(ctx, "nope"); err != nil || ok {
		t.Errorf("Drop of an unknown id: %v, %v", ok, err)
	}
	ok, err := a.Drop(ctx, "a2") // behind a1
	must(t, err)
	if !ok {
		t.Error("Drop of a pending send reported nothing dropped")
	}
	if ok, _ := a.Drop(ctx, "a2"); ok {
		t.Error("a send dropped twice")
	}
	page, _, _ := a.PendingSends(ctx, "", 10)
	eq(t, "pending after dropping a2", ids(page), []string{"a1", "a3"})
	if ok, _ := a.Drop(ctx, "d1"); !ok {
		t.Error("Drop of a dead letter reported nothing dropped")
	}
	if dl, _ := s.DeadLetters(ctx, 10); len(dl) != 0 {
		t.Errorf("dead letters after the drop: %+v", dl)
	}
	if ok, _ := a.RetryDead(ctx, "d1"); ok {
		t.Error("a dropped dead letter was retried")
	}

	due, _ := s.Due(ctx, clock.T, 10, nil)
	eq(t, "due", ids(due), []string{"a1"})
	must(t, s.Done(ctx, due[0]))
	due, _ = s.Due(ctx, clock.T, 10, nil)
	eq(t, "the dropped send is skipped", ids(due), []string{"a3"})

	if ok, _ := a.Drop(ctx, "a3"); !ok { // the head of its user's sends
		t.Error("Drop of a due send reported nothing dropped")
	}
	must(t, s.Enqueue(ctx, send("a2", "A"), send("a3", "A"), send("a4", "A")))
	due, _ = s.Due(ctx, clock.T, 10, nil)
	eq(t, "dropped IDs stay known; the user's next send is due", ids(due), []string{"a4"})
	if n, _ := s.Pending(ctx); n != 1 {
		t.Errorf("pending %d, want 1", n)
	}
}

package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
)

func tracker(t *testing.T, s store.Store) outbox.Tracker {
	t.Helper()
	tr, ok := s.(outbox.Tracker)
	if !ok {
		t.Fatalf("%T does not implement outbox.Tracker", s)
	}
	return tr
}

func idemKeys(t *testing.T, s store.Store) store.IdempotencyKeys {
	t.Helper()
	k, ok := s.(store.IdempotencyKeys)
	if !ok {
		t.Fatalf("%T does not implement store.IdempotencyKeys", s)
	}
	return k
}

// wantStatus checks the tracked status of the send id.
func wantStatus(t *testing.T, tr outbox.Tracker, id string, want outbox.Status) {
	t.Helper()
	got, err := tr.Track(context.Background(), id)
	must(t, err)
	if got != want {
		t.Errorf("Track(%s) = %+v, want %+v", id, got, want)
	}
}

// testTrack: a send is pending until delivered (sent) or given up (dead,
// with its dead letter's reason); a dropped one is dead with
// DroppedReason, never sent, whether it was pending (at the head of its
// user's sends or behind another) or a dead letter.
func testTrack(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	tr, a := tracker(t, s), admin(t, s)
	ctx := context.Background()
	must(t, s.Enqueue(ctx, send("a1", "A"), send("b1", "B"), send("c1", "C"), send("d1", "D"), send("e1", "E"), send("e2", "E")))
	wantStatus(t, tr, "nope", outbox.Status{})
	wantStatus(t, tr, "a1", outbox.Status{State: outbox.Pending})

	due, err := s.Due(ctx, clock.T, 10, nil)
	must(t, err)
	for _, d := range due {
		if d.ID == "a1" || d.ID == "e1" {
			must(t, s.Done(ctx, d))
		}
	}
	wantStatus(t, tr, "a1", outbox.Status{State: outbox.Sent})
	kill(t, s, clock.T, "b1", 3)
	wantStatus(t, tr, "b1", outbox.Status{State: outbox.Dead, Reason: "errcode 45015: response out of time limit"})
	if ok, err := a.RetryDead(ctx, "b1"); err != nil || !ok {
		t.Fatalf("RetryDead: %v %v", ok, err)
	}
	wantStatus(t, tr, "b1", outbox.Status{State: outbox.Pending})

	dropped := outbox.Status{State: outbox.Dead, Reason: outbox.DroppedReason}
	if ok, err := a.Drop(ctx, "c1"); err != nil || !ok {
		t.Fatalf("Drop c1: %v %v", ok, err)
	}
	wantStatus(t, tr, "c1", dropped)
	kill(t, s, clock.T, "d1", 1)
	if ok, err := a.Drop(ctx, "d1"); err != nil || !ok {
		t.Fatalf("Drop of the dead letter d1: %v %v", ok, err)
	}
	wantStatus(t, tr, "d1", dropped)
	must(t, s.Enqueue(ctx, send("e3", "E"), send("e4", "E")))
	if ok, err := a.Drop(ctx, "e4"); err != nil || !ok { // behind e3
		t.Fatalf("Drop e4: %v %v", ok, err)
	}
	for range 2 { // e2, e3 delivered; the dropped e4 is settled on the way
		due, err := s.Due(ctx, clock.T, 10, nil)
		must(t, err)
		for _, d := range due {
			if d.OrderKey == "E" {
				must(t, s.Done(ctx, d))
			}
		}
	}
	if due, err := s.Due(ctx, clock.T, 10, nil); err != nil || len(due) > 1 { // b1's; e4's tombstone settles
		t.Fatalf("due after E's sends: %v, %v", ids(due), err)
	}
	wantStatus(t, tr, "e3", outbox.Status{State: outbox.Sent})
	wantStatus(t, tr, "e4", dropped)
}

// testIdempotencyKeys: the first fingerprint stored under a key is kept
// for its time, whoever asks and however many ask at once.
func testIdempotencyKeys(t *testing.T, o Opener) {
	clock := start()
	k := idemKeys(t, o.Open(t, clock))
	ctx := context.Background()
	remember := func(key, fp string) string {
		t.Helper()
		first, err := k.RememberKey(ctx, key, fp, time.Hour)
		must(t, err)
		return first
	}
	if got := remember("crm:k1", "f1"); got != "" {
		t.Errorf("a new key: %q, want \"\"", got)
	}
	if got := remember("crm:k1", "f2"); got != "f1" {
		t.Errorf("the key again with another fingerprint: %q, want f1", got)
	}
	if got := remember("crm:k1", "f1"); got != "f1" {
		t.Errorf("the key again: %q, want f1", got)
	}
	if got := remember("desk:k1", "f3"); got != "" {
		t.Errorf("another key: %q, want \"\"", got)
	}

	var wg sync.WaitGroup
	firsts := make([]string, 8)
	for i := range firsts {
		wg.Go(func() { firsts[i] = remember("race", fmt.Sprint("f", i)) })
	}
	wg.Wait()
	winners := 0
	for i, f := range firsts {
		if f == "" {
			winners++
			for j, g := range firsts {
				if j != i && g != fmt.Sprint("f", i) {
					t.Errorf("caller %d was told %q, the first was f%d", j, g, i)
				}
			}
		}
	}
	if winners != 1 {
		t.Errorf("%d callers stored the key at once, want 1: %q", winners, firsts)
	}
	if !o.OwnClock {
		clock.T = clock.T.Add(2 * time.Hour)
		if got := remember("crm:k1", "f4"); got != "" {
			t.Errorf("after its time: %q, want the key forgotten", got)
		}
	}
}

// testDurableTrack: idempotency keys and sends' statuses survive a
// restart.
func testDurableTrack(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	ctx := context.Background()
	if _, err := idemKeys(t, s).RememberKey(ctx, "crm:k1", "f1", time.Hour); err != nil {
		t.Fatal(err)
	}
	must(t, s.Enqueue(ctx, send("s1", "U"), send("s2", "U")))
	due, err := s.Due(ctx, clock.T, 10, nil)
	must(t, err)
	must(t, s.Done(ctx, due[0]))
	s = o.Reopen(t, s, clock)
	if got, err := idemKeys(t, s).RememberKey(ctx, "crm:k1", "f2", time.Hour); err != nil || got != "f1" {
		t.Errorf("after reopening: %q, %v; want f1", got, err)
	}
	tr := tracker(t, s)
	wantStatus(t, tr, "s1", outbox.Status{State: outbox.Sent})
	wantStatus(t, tr, "s2", outbox.Status{State: outbox.Pending})
}

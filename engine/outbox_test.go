package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a deliverer that records deliveries and fails on demand.
type recorder struct {
	mu        sync.Mutex
	delivered []string
	fail      map[string][]error // send ID → errors to return first
	inFlight  map[string]int     // user → concurrent deliveries
	overlap   bool
	done      chan string
}

func newRecorder() *recorder {
	return &recorder{fail: map[string][]error{}, inFlight: map[string]int{}, done: make(chan string, 100)}
}

func (r *recorder) Deliver(ctx context.Context, s *Send) error {
	r.mu.Lock()
	r.inFlight[s.OpenID]++
	if r.inFlight[s.OpenID] > 1 {
		r.overlap = true
	}
	var err error
	if q := r.fail[s.ID]; len(q) > 0 {
		err, r.fail[s.ID] = q[0], q[1:]
	}
	r.mu.Unlock()
	time.Sleep(time.Millisecond) // give overlapping deliveries a chance to show
	r.mu.Lock()
	r.inFlight[s.OpenID]--
	if err == nil {
		r.delivered = append(r.delivered, s.ID)
	}
	r.mu.Unlock()
	if err == nil {
		r.done <- s.ID
	}
	return err
}

func runOutbox(t *testing.T, store Store, d Deliverer, o OutboxOptions) *Outbox {
	t.Helper()
	if o.Backoff == nil {
		o.Backoff = func(int) time.Duration { return time.Millisecond }
	}
	o.Poll = 5 * time.Millisecond
	ob := NewOutbox(store, o)
	ob.Register(KindKefu, d)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ob.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ob
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestOutboxKeepsPerUserOrder(t *testing.T) {
	store := NewMemoryStore(nil)
	rec := newRecorder()
	rec.fail["A/2"] = []error{errors.New("busy"), errors.New("busy")} // A/3 must wait for A/2
	ob := runOutbox(t, store, rec, OutboxOptions{Workers: 4})
	var sends []*Send
	for i := 1; i <= 5; i++ {
		for _, u := range []string{"A", "B", "C"} {
			sends = append(sends, &Send{ID: fmt.Sprintf("%s/%d", u, i), Kind: KindKefu, OpenID: u})
		}
	}
	if err := ob.Enqueue(context.Background(), sends...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "15 deliveries", func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.delivered) == 15 })
	per := map[string][]string{}
	for _, id := range rec.delivered {
		per[id[:1]] = append(per[id[:1]], id)
	}
	for _, u := range []string{"A", "B", "C"} {
		want := []string{u + "/1", u + "/2", u + "/3", u + "/4", u + "/5"}
		if fmt.Sprint(per[u]) != fmt.Sprint(want) {
			t.Errorf("user %s got %v, want %v", u, per[u], want)
		}
	}
	if rec.overlap {
		t.Error("two sends of one user were delivered at the same time")
	}
}

func TestOutboxDeadLetters(t *testing.T) {
	store := NewMemoryStore(nil)
	rec := newRecorder()
	rec.fail["perm"] = []error{Permanent(errors.New("errcode 45015"))}
	rec.fail["flaky"] = []error{errors.New("a"), errors.New("b"), errors.New("c")}
	ob := runOutbox(t, store, rec, OutboxOptions{MaxAttempts: 3})
	ob.Enqueue(context.Background(), &Send{ID: "perm", Kind: KindKefu, OpenID: "U"},
		&Send{ID: "flaky", Kind: KindKefu, OpenID: "V"}, &Send{ID: "after", Kind: KindKefu, OpenID: "U"})
	waitFor(t, "two dead letters", func() bool { d, _ := store.DeadLetters(context.Background(), 10); return len(d) == 2 })
	waitFor(t, "the send after the dead one", func() bool { n, _ := store.Pending(context.Background()); return n == 0 })
	dead, _ := store.DeadLetters(context.Background(), 10)
	reasons := map[string]string{}
	for _, d := range dead {
		reasons[d.Send.ID] = d.Reason
	}
	if reasons["perm"] != "errcode 45015" {
		t.Errorf("permanent failure reason %q (want it not retried)", reasons["perm"])
	}
	if reasons["flaky"] != "gave up after 3 attempts: c" {
		t.Errorf("transient failure reason %q", reasons["flaky"])
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if fmt.Sprint(rec.delivered) != "[after]" {
		t.Errorf("delivered %v", rec.delivered)
	}
}

func TestOutboxRetriesThenDelivers(t *testing.T) {
	store := NewMemoryStore(nil)
	rec := newRecorder()
	rec.fail["s"] = []error{errors.New("errcode -1"), errors.New("network")}
	var mu sync.Mutex
	var waits []int
	ob := runOutbox(t, store, rec, OutboxOptions{Backoff: func(n int) time.Duration {
		mu.Lock()
		waits = append(waits, n)
		mu.Unlock()
		return time.Millisecond
	}})
	ob.Enqueue(context.Background(), &Send{ID: "s", Kind: KindKefu, OpenID: "U"})
	<-rec.done
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(waits) != "[1 2]" {
		t.Errorf("backoff asked for attempts %v, want [1 2]", waits)
	}
}

func TestOutboxUnknownKind(t *testing.T) {
	ob := NewOutbox(NewMemoryStore(nil), OutboxOptions{})
	if err := ob.Enqueue(context.Background(), &Send{ID: "x", Kind: "template"}); err == nil {
		t.Error("enqueued a send nobody can deliver")
	}
}

func TestDefaultBackoff(t *testing.T) {
	ob := NewOutbox(NewMemoryStore(nil), OutboxOptions{})
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 9: 256 * time.Second, 10: 5 * time.Minute, 30: 5 * time.Minute} {
		if got := ob.o.Backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

// TestLateReplyGoesByKefu: a passive reply after the deadline is queued as
// a kefu message for the same user.
func TestLateReplyGoesByKefu(t *testing.T) {
	store := NewMemoryStore(nil)
	rec := newRecorder()
	ob := runOutbox(t, store, rec, OutboxOptions{})
	e := New(Options{Outbox: ob, Store: store})
	defer e.Close(context.Background())
	release := make(chan struct{})
	r := rule("slow", []string{"text"})
	r.Actions = []Step{{Name: "slow", Passive: true, Action: ActionFunc(func(_ context.Context, c *Call) error {
		<-release
		c.Reply(textReply("finally"))
		return nil
	})}}
	e.SetRules(NewRuleSet([]*Rule{r}, nil))
	p := e.Dispatch(&Event{ID: "push-1", Type: "text", From: "oLate"})
	passed := make(chan time.Time)
	close(passed)
	if _, outcome := p.Wait(passed); outcome != DeadlinePassed {
		t.Fatalf("outcome %v", outcome)
	}
	close(release)
	if id := <-rec.done; id != "push-1/late" {
		t.Errorf("delivered %q, want the late reply", id)
	}
}

// TestCallEnqueueIDs: sends get stable IDs from push, rule, step and count,
// so a rerun of the same push (a retry after a restart) is idempotent.
func TestCallEnqueueIDs(t *testing.T) {
	store := NewMemoryStore(nil)
	ob := NewOutbox(store, OutboxOptions{})
	ob.Register(KindKefu, newRecorder())
	e := New(Options{Outbox: ob, Store: store})
	defer e.Close(context.Background())
	twice := ActionFunc(func(ctx context.Context, c *Call) error {
		c.Enqueue(ctx, KindKefu, map[string]string{"a": "<&>"}, SendOptions{})
		return c.Enqueue(ctx, KindKefu, map[string]string{"b": "2"}, SendOptions{Delay: time.Minute, Typing: true})
	})
	r := rule("r", []string{"text"})
	r.Actions = []Step{{Name: "x", Action: twice}, {Name: "y", Action: twice}}
	e.SetRules(NewRuleSet([]*Rule{r}, nil))
	for i := 0; i < 2; i++ { // the same push twice
		e.Dispatch(&Event{ID: "P", Type: "text", From: "oU"}).Finish(context.Background())
	}
	due, _ := store.Due(context.Background(), time.Now().Add(time.Hour), 100, nil)
	n, _ := store.Pending(context.Background())
	if n != 4 || len(due) != 1 || due[0].ID != "P/r/0/1" || string(due[0].Payload) != `{"a":"<&>"}` {
		t.Errorf("pending %d, first %+v", n, due)
	}
}

// TestOutboxDoesNotResendWhatSettledDuringDue: a Due call that read the
// store before a delivery settled must not hand that send out again.
func TestOutboxDoesNotResendWhatSettledDuringDue(t *testing.T) {
	inner := NewMemoryStore(nil)
	ob := NewOutbox(inner, OutboxOptions{})
	var deliveries atomic.Int32
	ob.Register(KindKefu, DelivererFunc(func(context.Context, *Send) error { deliveries.Add(1); return nil }))
	inner.Enqueue(context.Background(), &Send{ID: "s1", Kind: KindKefu, OpenID: "U"})
	ctx := context.Background()

	// Due call 1 hands the send to a worker.
	skip1 := ob.skipper()
	due, _ := inner.Due(ctx, time.Now(), 10, skip1)
	if len(due) != 1 {
		t.Fatalf("first Due: %d", len(due))
	}
	ob.mu.Lock()
	ob.busy["U"] = true
	ob.mu.Unlock()
	// Due call 2 starts and reads the store while the send is in flight…
	skip2 := ob.skipper()
	stale, _ := inner.Due(ctx, time.Now(), 10, nil)
	// …then the delivery settles and the user is released…
	ob.deliver(ctx, due[0])
	ob.release("U")
	// …and only now does call 2 apply its skip to what it read.
	for _, d := range stale {
		if !skip2(d.OpenID) {
			t.Errorf("send %s handed out again after it settled", d.ID)
		}
	}
	// A Due call that starts after the settling sees the store as it is.
	if due, _ := inner.Due(ctx, time.Now(), 10, ob.skipper()); len(due) != 0 {
		t.Errorf("still due after delivery: %v", due)
	}
	if deliveries.Load() != 1 {
		t.Errorf("%d deliveries", deliveries.Load())
	}
}

package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store/memory"
)

// recorder is a deliverer that records deliveries and fails on demand.
//
// The tests that run an outbox run it in a synctest bubble: its poll,
// its backoff and the waits below are on the bubble's fake clock, which
// moves only once every goroutine is blocked, so what they wait for is
// decided by the outbox's logic, not by how busy the machine is.
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

func (r *recorder) Deliver(ctx context.Context, s *outbox.Send) error {
	r.mu.Lock()
	r.inFlight[s.OrderKey]++
	if r.inFlight[s.OrderKey] > 1 {
		r.overlap = true
	}
	var err error
	if q := r.fail[s.ID]; len(q) > 0 {
		err, r.fail[s.ID] = q[0], q[1:]
	}
	r.mu.Unlock()
	time.Sleep(time.Millisecond) // fake time: every other delivery that can start does so meanwhile, so an overlap shows
	r.mu.Lock()
	r.inFlight[s.OrderKey]--
	if err == nil {
		r.delivered = append(r.delivered, s.ID)
	}
	r.mu.Unlock()
	if err == nil {
		r.done <- s.ID
	}
	return err
}

func runOutbox(t *testing.T, q outbox.Queue, d outbox.Deliverer, o outbox.Options) *outbox.Outbox {
	t.Helper()
	if o.Backoff == nil {
		o.Backoff = func(int) time.Duration { return time.Millisecond }
	}
	o.Poll = 5 * time.Millisecond
	ob := outbox.New(q, o)
	ob.Register(outbox.KindKefu, d)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ob.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ob
}

// waitFor polls ok on the fake clock of the caller's bubble: each poll
// lets the outbox run its timers up to then; the 10 s bound is fake time
// too, spent at once when the outbox is stuck.
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
	synctest.Test(t, func(t *testing.T) {
		st := memory.New(nil)
		rec := newRecorder()
		rec.fail["A/2"] = []error{errors.New("busy"), errors.New("busy")} // A/3 must wait for A/2
		ob := runOutbox(t, st, rec, outbox.Options{Workers: 4})
		var sends []*outbox.Send
		for i := 1; i <= 5; i++ {
			for _, u := range []string{"A", "B", "C"} {
				sends = append(sends, &outbox.Send{ID: fmt.Sprintf("%s/%d", u, i), Kind: outbox.KindKefu, OrderKey: u})
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
	})
}

func TestOutboxDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := memory.New(nil)
		rec := newRecorder()
		rec.fail["perm"] = []error{outbox.Permanent(errors.New("errcode 45015"))}
		rec.fail["flaky"] = []error{errors.New("a"), errors.New("b"), errors.New("c")}
		ob := runOutbox(t, st, rec, outbox.Options{MaxAttempts: 3})
		ob.Enqueue(context.Background(), &outbox.Send{ID: "perm", Kind: outbox.KindKefu, OrderKey: "U"},
			&outbox.Send{ID: "flaky", Kind: outbox.KindKefu, OrderKey: "V"}, &outbox.Send{ID: "after", Kind: outbox.KindKefu, OrderKey: "U"})
		waitFor(t, "two dead letters", func() bool { d, _ := st.DeadLetters(context.Background(), 10); return len(d) == 2 })
		waitFor(t, "the send after the dead one", func() bool { n, _ := st.Pending(context.Background()); return n == 0 })
		dead, _ := st.DeadLetters(context.Background(), 10)
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
	})
}

func TestOutboxRetriesThenDelivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := memory.New(nil)
		rec := newRecorder()
		rec.fail["s"] = []error{errors.New("errcode -1"), errors.New("network")}
		var mu sync.Mutex
		var waits []int
		ob := runOutbox(t, st, rec, outbox.Options{Backoff: func(n int) time.Duration {
			mu.Lock()
			waits = append(waits, n)
			mu.Unlock()
			return time.Millisecond
		}})
		ob.Enqueue(context.Background(), &outbox.Send{ID: "s", Kind: outbox.KindKefu, OrderKey: "U"})
		recv(t, rec.done)
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(waits) != "[1 2]" {
			t.Errorf("backoff asked for attempts %v, want [1 2]", waits)
		}
	})
}

func TestOutboxUnknownKind(t *testing.T) {
	ob := outbox.New(memory.New(nil), outbox.Options{})
	if err := ob.Enqueue(context.Background(), &outbox.Send{ID: "x", Kind: "template"}); err == nil {
		t.Error("enqueued a send nobody can deliver")
	}
}

func TestDefaultBackoff(t *testing.T) {
	ob := outbox.New(memory.New(nil), outbox.Options{})
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 9: 256 * time.Second, 10: 5 * time.Minute, 30: 5 * time.Minute} {
		if got := ob.BackoffFor(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

// TestOutboxDoesNotResendWhatSettledDuringDue: a Due call that read the
// store before a delivery settled must not hand that send out again.
func TestOutboxDoesNotResendWhatSettledDuringDue(t *testing.T) {
	inner := memory.New(nil)
	ob := outbox.New(inner, outbox.Options{})
	var deliveries atomic.Int32
	ob.Register(outbox.KindKefu, outbox.DelivererFunc(func(context.Context, *outbox.Send) error { deliveries.Add(1); return nil }))
	inner.Enqueue(context.Background(), &outbox.Send{ID: "s1", Kind: outbox.KindKefu, OrderKey: "U"})
	ctx := context.Background()

	// Due call 1 hands the send to a worker.
	skip1 := ob.Skipper()
	due, _ := inner.Due(ctx, time.Now(), 10, skip1)
	if len(due) != 1 {
		t.Fatalf("first Due: %d", len(due))
	}
	ob.MarkBusy("U")
	// Due call 2 starts and reads the store while the send is in flight…
	skip2 := ob.Skipper()
	stale, _ := inner.Due(ctx, time.Now(), 10, nil)
	// …then the delivery settles and the user is released…
	ob.Deliver(ctx, due[0])
	ob.Release("U")
	// …and only now does call 2 apply its skip to what it read.
	for _, d := range stale {
		if !skip2(d.OrderKey) {
			t.Errorf("send %s handed out again after it settled", d.ID)
		}
	}
	// A Due call that starts after the settling sees the store as it is.
	if due, _ := inner.Due(ctx, time.Now(), 10, ob.Skipper()); len(due) != 0 {
		t.Errorf("still due after delivery: %v", due)
	}
	if deliveries.Load() != 1 {
		t.Errorf("%d deliveries", deliveries.Load())
	}
}

// recv takes one value from ch, failing the test rather than hanging until
// go test's timeout when none comes (in a bubble, after 10 s of fake time).
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a delivery")
		panic("unreachable")
	}
}

// failingQueue is a memory queue whose Done, Retry and Dead fail.
type failingQueue struct {
	*memory.Memory
}

var errDisk = errors.New("disk full")

func (failingQueue) Done(context.Context, *outbox.Send) error         { return errDisk }
func (failingQueue) Retry(context.Context, *outbox.Send) error        { return errDisk }
func (failingQueue) Dead(context.Context, *outbox.Send, string) error { return errDisk }

// events records what an Observer hears.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) add(s string) { e.mu.Lock(); e.got = append(e.got, s); e.mu.Unlock() }
func (e *events) Delivered(s *outbox.Send, _ time.Duration) {
	e.add("delivered " + s.ID)
}
func (e *events) Failed(s *outbox.Send, err error, retry bool) {
	e.add(fmt.Sprintf("failed %s %v retry=%v", s.ID, err, retry))
}
func (e *events) DeadLettered(s *outbox.Send, reason string) { e.add("dead " + s.ID + ": " + reason) }

// TestOutboxStoreFailuresAreLoggedAndObserved: when the queue cannot record
// an outcome, the outbox says so in the log (the send may go out again, or
// be retried from its old state) and the observer still hears the outcome.
func TestOutboxStoreFailuresAreLoggedAndObserved(t *testing.T) {
	var logs strings.Builder
	obs := &events{}
	q := failingQueue{memory.New(nil)}
	ob := outbox.New(q, outbox.Options{MaxAttempts: 2, Observer: obs,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	results := map[string]error{"ok": nil, "flaky": errors.New("timeout"), "perm": outbox.Permanent(errors.New("errcode 40003"))}
	ob.Register("k", outbox.DelivererFunc(func(_ context.Context, s *outbox.Send) error { return results[s.ID] }))
	ctx := context.Background()
	for _, id := range []string{"ok", "flaky", "perm"} {
		ob.Deliver(ctx, &outbox.Send{ID: id, Kind: "k"})
	}
	want := []string{
		"delivered ok",
		"failed flaky timeout retry=true",
		"failed perm errcode 40003 retry=false",
		"dead perm: errcode 40003",
	}
	if !reflect.DeepEqual(obs.got, want) {
		t.Errorf("observer heard\n%s\nwant\n%s", strings.Join(obs.got, "\n"), strings.Join(want, "\n"))
	}
	for _, line := range []string{
		`msg="outbox: delivered but not marked done; it may be sent again" id=ok err="disk full"`,
		`msg="outbox: rescheduling failed" id=flaky err="disk full"`,
		`msg="outbox: storing the dead letter failed" id=perm err="disk full"`,
	} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("the log lacks %s:\n%s", line, logs.String())
		}
	}
}

// refusingQueue refuses every Enqueue while full is set (a full disk).
type refusingQueue struct {
	*memory.Memory
	full atomic.Bool
}

func (q *refusingQueue) Enqueue(ctx context.Context, sends ...*outbox.Send) error {
	if q.full.Load() {
		return errDisk
	}
	return q.Memory.Enqueue(ctx, sends...)
}

// TestOutboxKeepsWhatTheQueueRefused: a send the queue cannot store is
// not lost: it is kept and stored, then delivered, once the queue takes
// it again.
func TestOutboxKeepsWhatTheQueueRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &refusingQueue{Memory: memory.New(nil)}
		q.full.Store(true)
		rec := newRecorder()
		ob := runOutbox(t, q, rec, outbox.Options{})
		if err := ob.Enqueue(context.Background(), &outbox.Send{ID: "s", Kind: outbox.KindKefu, OrderKey: "U"}); err != nil {
			t.Fatalf("Enqueue: %v, want the send kept", err)
		}
		if ob.Held() != 1 {
			t.Fatalf("held %d, want 1", ob.Held())
		}
		q.full.Store(false)
		if id := recv(t, rec.done); id != "s" {
			t.Errorf("delivered %q", id)
		}
		if ob.Held() != 0 {
			t.Errorf("still held: %d", ob.Held())
		}
	})
}

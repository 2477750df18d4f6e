package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/engine/wechat"
)

// runOutbox runs an outbox on st whose kefu deliveries report their IDs on
// the returned channel.
func runOutbox(t *testing.T, st *memory.Memory) (*outbox.Outbox, <-chan string) {
	t.Helper()
	delivered := make(chan string, 100)
	ob := outbox.New(st, outbox.Options{Poll: 5 * time.Millisecond, Backoff: func(int) time.Duration { return time.Millisecond }})
	ob.Register(outbox.KindKefu, outbox.DelivererFunc(func(_ context.Context, s *outbox.Send) error {
		delivered <- s.ID
		return nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ob.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ob, delivered
}

// TestLateReplyGoesByKefu: a passive reply after the deadline is queued as
// a kefu message for the same user.
func TestLateReplyGoesByKefu(t *testing.T) {
	st := memory.New(nil)
	ob, delivered := runOutbox(t, st)
	e := New(Options{Outbox: ob, State: st})
	defer e.Close(context.Background())
	release := make(chan struct{})
	r := rule("slow", []string{"text"})
	r.Steps = []Step{{Name: "slow", Passive: true, Action: ActionFunc(func(_ context.Context, c *Call) error {
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
	select {
	case id := <-delivered:
		if id != "push-1/late" {
			t.Errorf("delivered %q, want the late reply", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the late reply was not delivered")
	}
}

// TestCallEnqueueIDs: sends get stable IDs from push, rule, step and count,
// so a rerun of the same push (a retry after a restart) is idempotent.
func TestCallEnqueueIDs(t *testing.T) {
	st := memory.New(nil)
	ob := outbox.New(st, outbox.Options{})
	ob.Register(outbox.KindKefu, outbox.DelivererFunc(func(context.Context, *outbox.Send) error { return nil }))
	e := New(Options{Outbox: ob, State: st})
	defer e.Close(context.Background())
	twice := ActionFunc(func(ctx context.Context, c *Call) error {
		c.Enqueue(ctx, outbox.KindKefu, map[string]string{"a": "<&>"}, SendOptions{})
		return c.Enqueue(ctx, outbox.KindKefu, map[string]string{"b": "2"}, SendOptions{Delay: time.Minute, Typing: true})
	})
	r := rule("r", []string{"text"})
	r.Steps = []Step{{Name: "x", Action: twice}, {Name: "y", Action: twice}}
	e.SetRules(NewRuleSet([]*Rule{r}, nil))
	for i := 0; i < 2; i++ { // the same push twice
		e.Dispatch(&Event{ID: "P", Type: "text", From: "oU"}).Finish(context.Background())
	}
	due, _ := st.Due(context.Background(), time.Now().Add(time.Hour), 100, nil)
	n, _ := st.Pending(context.Background())
	// The delayed sends wait in a line of their own (see SendOptions.Delay).
	if n != 4 || len(due) != 2 || due[0].ID != "P/r/0/1" || string(due[0].Payload) != `{"a":"<&>"}` || due[1].ID != "P/r/0/2/delayed" {
		t.Errorf("pending %d, first of each line %+v", n, due)
	}
}

// TestPaymentTakesNoReply: a reply offered for a payment (by a "*" rule, or
// a webhook's answer) is neither answered nor sent by kefu, even late.
func TestPaymentTakesNoReply(t *testing.T) {
	var late atomic.Int32
	e := New(Options{LateReply: func(*Event, *wechat.Reply) { late.Add(1) }})
	defer e.Close(context.Background())
	star := rule("star", []string{"*"})
	star.Steps = []Step{{Name: "reply", Passive: true, Action: ActionFunc(func(_ context.Context, c *Call) error {
		c.Reply(textReply("hi"))
		return nil
	})}}
	e.SetRules(NewRuleSet([]*Rule{star}, nil))
	p := e.Dispatch(&Event{Type: "payment", From: "oPayer"})
	expired := make(chan time.Time)
	close(expired)
	p.Wait(expired) // answered first: a reply after this would be late
	res, _ := p.Finish(context.Background())
	if res.Reply != nil || late.Load() != 0 {
		t.Errorf("reply %v, %d late replies; want none", res.Reply, late.Load())
	}
	res, _ = e.Dispatch(&Event{Type: "text", From: "oUser"}).Finish(context.Background())
	if res.Reply == nil {
		t.Errorf("a text event lost its reply")
	}
}

func TestDryRunRecordsSends(t *testing.T) {
	e := New(Options{DryRun: true})
	defer e.Close(context.Background())
	r := rule("send", []string{"text"})
	var dry bool
	var deliverer outbox.Deliverer
	r.Steps = []Step{{Name: "kefu", Action: ActionFunc(func(ctx context.Context, c *Call) error {
		dry, deliverer = c.DryRun(), c.Deliverer(outbox.KindKefu)
		if c.Key() != "k/send/0" {
			t.Errorf("Key() = %q", c.Key())
		}
		return c.Enqueue(ctx, outbox.KindKefu, map[string]string{"a": "b"}, SendOptions{})
	})}}
	e.SetRules(NewRuleSet([]*Rule{r}, nil))
	res, _ := e.Dispatch(&Event{ID: "k", Type: "text"}).Finish(context.Background())
	if res.Err != nil || len(res.Steps) != 1 || !dry || deliverer != nil {
		t.Errorf("dry run: err %v, actions %v, DryRun %v, deliverer %v", res.Err, res.Steps, dry, deliverer)
	}
}

// TestRepliesNobodySeesAreDropped: a reply to view, unsubscribe or a job
// report reaches no one, so it is neither answered nor sent late by kefu.
func TestRepliesNobodySeesAreDropped(t *testing.T) {
	var late atomic.Int32
	e := New(Options{LateReply: func(*Event, *wechat.Reply) { late.Add(1) }})
	defer e.Close(context.Background())
	star := rule("star", []string{"*"})
	star.Steps = []Step{{Name: "reply", Passive: true, Inline: true, Action: ActionFunc(func(_ context.Context, c *Call) error {
		c.Reply(textReply("hi"))
		return nil
	})}}
	e.SetRules(NewRuleSet([]*Rule{star}, nil))
	for typ, want := range map[string]bool{
		"view": false, "unsubscribe": false, "templatesendjobfinish": false, "masssendjobfinish": false,
		"publishjobfinish": false, "kf_close_session": false,
		"click": true, "text": true, "subscribe": true, "brand_new_event": true,
	} {
		res, _ := e.Dispatch(&Event{Type: typ, From: "oU"}).Finish(context.Background())
		if got := res.Reply != nil; got != want {
			t.Errorf("%s: replied %v, want %v", typ, got, want)
		}
	}
	if late.Load() != 0 {
		t.Errorf("%d late replies", late.Load())
	}
}

// windowRecorder records the kefu windows the engine opens.
type windowRecorder struct {
	*memory.Memory
	opened []time.Time
}

func (w *windowRecorder) OpenWindow(ctx context.Context, id string, until time.Time) error {
	w.opened = append(w.opened, until)
	return w.Memory.OpenWindow(ctx, id, until)
}

// TestKefuWindowRunsFromThePushTime: a window runs from the push's
// CreateTime, so the same push seen twice (a retry after a restart, a
// replay) opens the very same window, not a later one.
func TestKefuWindowRunsFromThePushTime(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	rec := &windowRecorder{Memory: memory.New(func() time.Time { return now })}
	e := New(Options{Now: func() time.Time { return now }, State: rec})
	defer e.Close(context.Background())
	sent := now.Add(-10 * time.Second)
	for i := 0; i < 2; i++ {
		e.Dispatch(&Event{Type: "text", From: "oU", Time: sent})
		now = now.Add(time.Minute)
	}
	want := sent.Add(48 * time.Hour)
	if len(rec.opened) != 2 || !rec.opened[0].Equal(want) || !rec.opened[1].Equal(want) {
		t.Errorf("windows opened until %v, want %v twice", rec.opened, want)
	}
}

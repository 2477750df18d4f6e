// Package outbox delivers asynchronous sends (kefu and template messages,
// webhook calls) durably: a send is stored in a [Queue] before the push
// that made it is answered, then delivered by a [Deliverer] registered for
// its kind, retried with backoff on transient errors, and dead-lettered on
// permanent ones or after MaxAttempts.
//
// # Order
//
// Sends with the same OrderKey (a user's OpenID for kefu) are delivered one
// at a time, in the order they come due, so a user reads a bot's messages
// in the order the rules meant them; different keys go out in parallel.
// A send comes due when it is made, or, with a Delay, when its delay is
// over: until then it waits out of its key's line and holds back none of
// the key's later sends (a `delay: 1h` reminder must not keep the answer
// to the user's next message waiting an hour). Sends due at once go out
// in the order they were made, and a send that failed keeps its place:
// its retries hold back the sends behind it. A send can also wait in the
// line (NotBefore), holding back those behind it: a follow-up that must
// show after the reply it follows and before what the rule sends next.
//
// # Idempotency
//
// A send's ID is derived from the push, the rule and the step (see
// engine.Call.Key), so WeChat's retries of a push, and a restart in the
// middle of one, enqueue the same IDs, which the Queue ignores the second
// time.
//
// This package imports nothing of wxbot: the engine enqueues through it,
// the stores (engine/store/...) implement its Queue, actions register deliverers.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// KindKefu is the outbox kind of customer-service messages.
const KindKefu = "kefu"

// ErrNoDeliverer is an Enqueue of a kind nothing delivers: the API client
// behind it is not configured.
var ErrNoDeliverer = errors.New("no deliverer registered")

// Queue keeps sends durably for the Outbox. Implementations are safe for
// concurrent use; engine/store/memory, bolt and redis have them.
type Queue interface {
	// Enqueue stores sends durably: when it returns nil they survive a
	// crash. A send whose ID was enqueued before (pending, delivered or dead)
	// is ignored, which makes a push's sends idempotent.
	Enqueue(ctx context.Context, sends ...*Send) error
	// Due returns up to limit sends ready at now, oldest first, at most one
	// per OrderKey (its oldest pending send): later sends of a key wait
	// for earlier ones, which keeps their order. Keys for which skip
	// reports true are left out.
	Due(ctx context.Context, now time.Time, limit int, skip func(orderKey string) bool) ([]*Send, error)
	// Done removes a delivered send.
	Done(ctx context.Context, s *Send) error
	// Retry reschedules a send after a transient failure.
	Retry(ctx context.Context, s *Send) error
	// Dead moves a send that cannot be delivered to the dead letters, with
	// the reason.
	Dead(ctx context.Context, s *Send, reason string) error
	// DeadLetters lists the most recent dead letters, newest first.
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// Pending counts sends not yet delivered.
	Pending(ctx context.Context) (int, error)
}

// Admin is what operators do to a Queue's sends (the admin listener's
// /outbox endpoints, `wxbot outbox`). The stores under engine/store
// implement it beside Queue. A send is named by its ID.
type Admin interface {
	// PendingSends lists up to limit pending sends in queue order, from
	// just after the cursor after ("" for the first page); next is the
	// cursor of the following page, "" when there is none.
	PendingSends(ctx context.Context, after string, limit int) (sends []*Send, next string, err error)
	// RetryDead moves the dead letter of the send id back to the pending
	// sends, its attempts reset and due now. It reports false when there
	// is no such dead letter, which is also what every caller but one
	// hears when several retry the same dead letter at once: a dead
	// letter is enqueued again once.
	RetryDead(ctx context.Context, id string) (bool, error)
	// RetryAllDead retries every dead letter and counts those enqueued
	// again (dead letters without an ID, corrupt entries, stay).
	RetryAllDead(ctx context.Context) (int, error)
	// Drop removes the pending send or the dead letter id; false when
	// there is neither. A send being delivered at that moment may still
	// go out. A dropped send's ID stays known: enqueued again, it is
	// ignored.
	Drop(ctx context.Context, id string) (bool, error)
}

// DeadLetter is a send that was given up, and why.
type DeadLetter struct {
	Send   *Send     `json:"send"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Send is one asynchronous delivery waiting in the outbox: a kefu message
// now, a template message or webhook call later.
type Send struct {
	// ID makes enqueueing idempotent: the push's key, the rule, the step
	// and the send's number within the step.
	ID   string `json:"id"`
	Seq  uint64 `json:"seq"` // assigned by the store, increasing
	Kind string `json:"kind"`
	// OrderKey orders delivery: sends with the same key go out one at a
	// time, in the order they come due (see Order). Kefu and template
	// sends use the recipient's OpenID (and are addressed to it); a
	// webhook uses its ordering key. The JSON name predates webhooks and
	// stays for stored sends.
	OrderKey string          `json:"openid"`
	Rule     string          `json:"rule,omitempty"`
	Payload  json.RawMessage `json:"payload"`
	Typing   bool            `json:"typing,omitempty"`
	// NotBefore holds the send back in its key's line, and the sends
	// behind it with it (retries' backoff, follow-ups).
	NotBefore time.Time `json:"not_before"`
	// Delay, given to Enqueue, holds the send back that long after Created
	// out of its key's line (see Order). It is not stored: the queue keeps
	// a stand-in of kind KindDelayed until the send comes due.
	Delay     time.Duration `json:"-"`
	Created   time.Time     `json:"created"`
	Attempts  int           `json:"attempts"`
	LastError string        `json:"last_error,omitempty"`
	// Ref is the store's own handle on the send (a Redis stream entry).
	Ref string `json:"-"`
}

// Deliverer delivers one kind of send. An error wrapped with Permanent is
// not retried; any other error is retried with backoff.
type Deliverer interface {
	Deliver(ctx context.Context, s *Send) error
}

// DelivererFunc adapts a function to Deliverer.
type DelivererFunc func(ctx context.Context, s *Send) error

// Deliver calls f.
func (f DelivererFunc) Deliver(ctx context.Context, s *Send) error { return f(ctx, s) }

// PermanentError is a delivery failure that retrying cannot fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// DefaultWorkers is how many sends an outbox has in flight at most: a send
// spends its time waiting for WeChat's answer (100 ms to seconds), so
// sends to different users go out side by side; 64 keep 500 sends a second
// going at 100 ms each. Each account has its own outbox: one account's
// slow or hung API holds only its own workers.
const DefaultWorkers = 64

// Options tunes an Outbox; zero values are sensible.
type Options struct {
	// Workers deliver in parallel (DefaultWorkers when 0); one user's
	// sends are never delivered concurrently, which keeps their order.
	Workers int
	// Poll is how often the store is checked for due sends when nothing
	// wakes the outbox (1 s when 0).
	Poll time.Duration
	// MaxAttempts gives up on a send after this many transient failures
	// (10 when 0), about 17 minutes with the default backoff.
	MaxAttempts int
	// Backoff is the wait before the n-th retry (1 s × 2^(n-1), at most 5
	// min, when nil).
	Backoff func(attempt int) time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
	// Observer hears about every outcome (metrics); nil is fine.
	Observer Observer
}

// Observer is told what happens to sends, for metrics.
type Observer interface {
	Delivered(s *Send, took time.Duration)
	Failed(s *Send, err error, willRetry bool)
	DeadLettered(s *Send, reason string)
}

// Outbox delivers sends from a Queue with backoff, in order per OrderKey.
type Outbox struct {
	store      Queue
	o          Options
	log        *slog.Logger
	deliverers map[string]Deliverer

	wake chan struct{}
	mu   sync.Mutex
	busy map[string]bool // users with a send in flight
	// A Due call may read the store before a delivery settles and look at
	// busy after it: it would hand out the settled send again. So a user
	// stays skipped for the Due call during which their delivery settled:
	// epoch counts Due calls, settled records the epoch of each settling.
	epoch   uint64
	settled map[string]uint64

	// held are sends the queue refused (a failing disk): kept in memory
	// and offered to it again at every poll rather than lost; a restart
	// before the queue takes them would lose them.
	heldMu sync.Mutex
	held   []*Send
}

// New returns an outbox on q; register deliverers, then Run it.
func New(q Queue, o Options) *Outbox {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.Backoff == nil {
		o.Backoff = func(n int) time.Duration {
			d := time.Second << min(n-1, 9)
			return min(d, 5*time.Minute)
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Outbox{store: q, o: o, log: o.Logger, deliverers: map[string]Deliverer{},
		wake: make(chan struct{}, 1), busy: map[string]bool{}, settled: map[string]uint64{}}
}

// Register sets the deliverer of a kind. Call it before Run.
func (ob *Outbox) Register(kind string, d Deliverer) { ob.deliverers[kind] = d }

// Queue is where the outbox keeps its sends.
func (ob *Outbox) Queue() Queue { return ob.store }

// Deliverer returns the deliverer registered for kind, or nil.
func (ob *Outbox) Deliverer(kind string) Deliverer { return ob.deliverers[kind] }

// Enqueue stores sends durably and wakes the workers. A send with a Delay
// is stored as its stand-in (see Order).
func (ob *Outbox) Enqueue(ctx context.Context, sends ...*Send) error {
	sends, err := ob.prepare(sends)
	if err != nil {
		return err
	}
	if err := ob.store.Enqueue(ctx, sends...); err != nil {
		ob.heldMu.Lock()
		ob.held = append(ob.held, sends...)
		n := len(ob.held)
		ob.heldMu.Unlock()
		ob.log.Error("outbox: the queue refused sends; they are kept in memory and offered to it again until it takes them (a restart now would lose them)",
			"sends", len(sends), "held", n, "err", err)
		return nil
	}
	ob.poke()
	return nil
}

// prepare checks that each send's kind has a deliverer, dates them, and
// puts a delayed send's stand-in in its place (see Order); the caller's
// slice stays as it was.
func (ob *Outbox) prepare(sends []*Send) ([]*Send, error) {
	now := ob.o.Now()
	cloned := false
	for i, s := range sends {
		if _, ok := ob.deliverers[s.Kind]; !ok {
			return nil, fmt.Errorf("outbox: %w for %q sends", ErrNoDeliverer, s.Kind)
		}
		if s.Created.IsZero() {
			s.Created = now
		}
		if s.Delay > 0 {
			if !cloned {
				sends, cloned = slices.Clone(sends), true
			}
			w, err := standIn(s)
			if err != nil {
				return nil, err
			}
			sends[i] = w
		}
	}
	return sends, nil
}

// Held counts the sends kept in memory because the queue refused them.
func (ob *Outbox) Held() int {
	ob.heldMu.Lock()
	defer ob.heldMu.Unlock()
	return len(ob.held)
}

// storeHeld offers the held sends to the queue again. They stay in held
// (and counted by Held) until the queue has taken them; only Run calls it,
// so nothing else removes from held meanwhile.
func (ob *Outbox) storeHeld(ctx context.Context) {
	ob.heldMu.Lock()
	held := slices.Clone(ob.held)
	ob.heldMu.Unlock()
	if len(held) == 0 {
		return
	}
	if err := ob.store.Enqueue(ctx, held...); err != nil {
		return
	}
	ob.heldMu.Lock()
	ob.held = slices.Delete(ob.held, 0, len(held)) // sends held since stay
	ob.heldMu.Unlock()
	ob.log.Info("outbox: the queue took the sends it had refused", "sends", len(held))
}

func (ob *Outbox) poke() {
	select {
	case ob.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then waits for deliveries in flight to
// end (they are not cut short; the HTTP client's timeout bounds them).
// Sends not yet attempted stay in the store for the next start.
func (ob *Outbox) Run(ctx context.Context) error {
	sem := make(chan struct{}, ob.o.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			ob.storeHeld(context.WithoutCancel(ctx))
			if n := ob.Held(); n > 0 {
				ob.log.Error("outbox: stopping with sends the queue never took; they are lost", "sends", n)
			}
			return nil
		case <-ob.wake:
		case <-timer.C:
		}
		ob.storeHeld(ctx)
		ob.startDue(ctx, sem, &wg)
		timer.Reset(ob.o.Poll)
	}
}

// startDue hands due sends to workers while some are free, and puts the
// delayed sends that came due in their lines (see Order).
func (ob *Outbox) startDue(ctx context.Context, sem chan struct{}, wg *sync.WaitGroup) {
	for {
		free := ob.o.Workers - len(sem)
		if free == 0 {
			return
		}
		due, err := ob.store.Due(ctx, ob.o.Now(), free, ob.skipper())
		if err != nil {
			if ctx.Err() == nil {
				ob.log.Error("outbox: reading due sends failed; retrying", "err", err)
			}
			return
		}
		if len(due) == 0 {
			return
		}
		due, ripe := splitStandIns(due)
		for _, s := range due {
			ob.mu.Lock()
			ob.busy[s.OrderKey] = true
			ob.mu.Unlock()
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem; ob.release(s.OrderKey); ob.poke() }()
				ob.deliver(context.WithoutCancel(ctx), s)
			}()
		}
		if len(ripe) > 0 && !ob.promote(ctx, ripe) {
			return // the queue failed; the next poll tries again
		}
	}
}

// skipper starts a Due call: it returns the users to leave out of it,
// those with a send in flight and those whose send settled while it runs.
func (ob *Outbox) skipper() func(openID string) bool {
	ob.mu.Lock()
	ob.epoch++
	e := ob.epoch
	for u, at := range ob.settled {
		if at < e {
			delete(ob.settled, u)
		}
	}
	ob.mu.Unlock()
	return func(openID string) bool {
		ob.mu.Lock()
		defer ob.mu.Unlock()
		at, ok := ob.settled[openID]
		return ob.busy[openID] || ok && at >= e
	}
}

// release ends a user's delivery, after the store has recorded its outcome.
func (ob *Outbox) release(openID string) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	delete(ob.busy, openID)
	ob.settled[openID] = ob.epoch
}

// deliver makes one attempt and records its outcome.
func (ob *Outbox) deliver(ctx context.Context, s *Send) {
	d := ob.deliverers[s.Kind]
	start := ob.o.Now()
	var err error
	if d == nil {
		err = Permanent(fmt.Errorf("no deliverer for %q sends", s.Kind))
	} else {
		err = d.Deliver(ctx, s)
	}
	obs := ob.o.Observer
	if err == nil {
		if err := ob.store.Done(ctx, s); err != nil {
			ob.log.Error("outbox: delivered but not marked done; it may be sent again", "id", s.ID, "err", err)
		}
		if obs != nil {
			obs.Delivered(s, ob.o.Now().Sub(start))
		}
		ob.log.Debug("outbox: delivered", "kind", s.Kind, "rule", s.Rule, "attempts", s.Attempts+1)
		return
	}
	s.Attempts++
	s.LastError = err.Error()
	retry := !IsPermanent(err) && s.Attempts < ob.o.MaxAttempts
	if obs != nil {
		obs.Failed(s, err, retry)
	}
	if retry {
		s.NotBefore = ob.o.Now().Add(ob.o.Backoff(s.Attempts))
		ob.log.Warn("outbox: delivery failed; will retry", "kind", s.Kind, "rule", s.Rule,
			"attempt", s.Attempts, "retry_at", s.NotBefore, "err", err)
		if err := ob.store.Retry(ctx, s); err != nil {
			ob.log.Error("outbox: rescheduling failed", "id", s.ID, "err", err)
		}
		return
	}
	reason := err.Error()
	if !IsPermanent(err) {
		reason = fmt.Sprintf("gave up after %d attempts: %s", s.Attempts, reason)
	}
	ob.log.Error("outbox: send dead-lettered", "kind", s.Kind, "rule", s.Rule, "reason", reason)
	if obs != nil {
		obs.DeadLettered(s, reason)
	}
	if err := ob.store.Dead(ctx, s, reason); err != nil {
		ob.log.Error("outbox: storing the dead letter failed", "id", s.ID, "err", err)
	}
}

// Encode marshals a payload to JSON without HTML escaping (WeChat shows
// "<" and "&" as sent, and escaped text would reach users as \u003c).
// A json.RawMessage is taken as it is.
func Encode(v any) (json.RawMessage, error) {
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	var b jsonBuffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return json.RawMessage(b.trimmed()), nil
}

type jsonBuffer struct{ b []byte }

func (j *jsonBuffer) Write(p []byte) (int, error) { j.b = append(j.b, p...); return len(p), nil }
func (j *jsonBuffer) trimmed() []byte {
	if n := len(j.b); n > 0 && j.b[n-1] == '\n' {
		return j.b[:n-1]
	}
	return j.b
}

package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/bolt"
	"github.com/wxbot/wxbot/engine/store/memory"
)

// Guard stands in front of a shared store (Redis) so that a store that
// hangs or refuses never holds a push past WeChat's 5 seconds and never
// loses an accepted send.
//
// Every call gets a short timeout of its own. After a few failures in a
// row the store is skipped for a while (the breaker opens: the bot is
// degraded), then probed again. While degraded:
//
//   - cooldowns and kefu windows come from this process's memory (a
//     replica-local best effort: another replica does not see them);
//     windows opened meanwhile are written to the store when it answers
//     again, so that the sends they allow are not refused then;
//   - kefu and other outbox sends are spooled durably to a local bbolt
//     file and moved to the store when it answers again: an accepted
//     send is delivered once the store is back, never lost;
//   - nothing is delivered (the outbox reads the store);
//   - payment claims are not degraded: a payment whose claim fails is
//     answered 500, and WeChat Pay delivers it again later;
//   - dedup (engine/dedup.Fallback, with this Guard as its Breaker) keeps
//     answers in process memory.
//
// Guard is a store.Store; Run drives the probes and the spool's drain.
type Guard struct {
	// Primary is the guarded store: what the guard does not intercept
	// (Done, Retry, Dead, DeadLetters, the outbox's administration) goes
	// straight to it.
	Primary
	local *memory.Memory
	spool *bolt.Bolt
	o     GuardOptions
	// spooled says, now and then, that sends are spooled: every send
	// while the store is down would say it again.
	spooled *quietLog

	mu        sync.Mutex
	fails     int
	degraded  bool
	openUntil time.Time
	probing   bool
	lastErr   error
	windows   map[string]time.Time // ends of windows opened while degraded, to replay
}

// GuardOptions tunes a Guard; zero values are sensible.
type GuardOptions struct {
	// CallTimeout bounds each call on the push path (300 ms when 0).
	CallTimeout time.Duration
	// Failures in a row that open the breaker (3 when 0).
	Failures int
	// OpenFor is how long the store is skipped before a probe (5 s when 0).
	OpenFor time.Duration
	// Spool keeps sends accepted while the store fails (required).
	Spool *bolt.Bolt
	// OnChange hears when the bot becomes degraded and when it recovers
	// (a metric).
	OnChange func(degraded bool)
	Logger   *slog.Logger
	Now      func() time.Time
}

// Primary is what a Guard guards: a shared store that administers its
// outbox (the Redis store; the memory store in tests).
type Primary interface {
	store.Store
	store.WindowKnower
	outbox.Admin
}

// ErrDegraded is what a call returns while the store is skipped.
var ErrDegraded = errors.New("store degraded: skipped until it answers again")

// NewGuard guards primary.
func NewGuard(primary Primary, o GuardOptions) *Guard {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 300 * time.Millisecond
	}
	if o.Failures <= 0 {
		o.Failures = 3
	}
	if o.OpenFor <= 0 {
		o.OpenFor = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Guard{Primary: primary, local: memory.New(o.Now), spool: o.Spool, o: o, windows: map[string]time.Time{},
		spooled: newQuietLog(o.Now)}
}

// Degraded reports whether the store is being skipped, and why.
func (g *Guard) Degraded() (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.degraded, g.lastErr
}

// Allow reports whether to try the store now: it is healthy, or it has
// been skipped long enough that this call may probe it (one at a time).
// A caller that is allowed reports the outcome with Report.
func (g *Guard) Allow() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.degraded {
		return true
	}
	if g.probing || g.o.Now().Before(g.openUntil) {
		return false
	}
	g.probing = true
	return true
}

// Report records the outcome of an allowed call. A failure caused by the
// caller giving up (ctx done) says nothing of the store.
func (g *Guard) Report(ctx context.Context, err error) {
	if err != nil && ctx.Err() != nil {
		g.mu.Lock()
		g.probing = false
		g.mu.Unlock()
		return
	}
	g.mu.Lock()
	g.probing = false
	if err == nil {
		g.fails = 0
		recovered := g.degraded
		g.degraded = false
		g.mu.Unlock()
		if recovered {
			g.o.Logger.Info("the store answers again; back to normal (spooled sends and windows are being moved to it)")
			if g.o.OnChange != nil {
				g.o.OnChange(false)
			}
		}
		return
	}
	g.fails++
	g.lastErr = err
	started := false
	if g.fails >= g.o.Failures || g.degraded {
		g.openUntil = g.o.Now().Add(g.o.OpenFor)
		started = !g.degraded
		g.degraded = true
	}
	g.mu.Unlock()
	if started {
		g.o.Logger.Warn("the store fails; degraded: pushes are answered from memory and sends spooled locally until it answers",
			"err", err, "retry_in", g.o.OpenFor)
		if g.o.OnChange != nil {
			g.o.OnChange(true)
		}
	}
}

// call runs f on the store with the call timeout, unless it is skipped.
func (g *Guard) call(ctx context.Context, timeout time.Duration, f func(ctx context.Context) error) error {
	if !g.Allow() {
		return ErrDegraded
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := f(cctx)
	if errors.Is(err, store.ErrStateTooLarge) {
		g.Report(ctx, nil) // the store answered, refusing: it is healthy
	} else {
		g.Report(ctx, err)
	}
	return err
}

// guarded runs f on the store through call; when it fails or is skipped,
// fallback answers instead (nil: the error stands).
func guarded[T any](g *Guard, ctx context.Context, timeout time.Duration, f func(context.Context) (T, error), fallback func() (T, error)) (T, error) {
	var v T
	err := g.call(ctx, timeout, func(c context.Context) (e error) {
		v, e = f(c)
		return e
	})
	if err == nil || fallback == nil {
		return v, err
	}
	return fallback()
}

// TakeCooldown implements store.Store; degraded, from memory.
func (g *Guard) TakeCooldown(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return guarded(g, ctx, g.o.CallTimeout,
		func(c context.Context) (bool, error) { return g.Primary.TakeCooldown(c, key, ttl) },
		func() (bool, error) { return g.local.TakeCooldown(ctx, key, ttl) })
}

// TakeLimit implements store.Store; degraded, from memory: each replica
// then counts on its own, so a rule may fire up to count times per replica.
func (g *Guard) TakeLimit(ctx context.Context, key string, count int, per time.Duration) (bool, error) {
	return guarded(g, ctx, g.o.CallTimeout,
		func(c context.Context) (bool, error) { return g.Primary.TakeLimit(c, key, count, per) },
		func() (bool, error) { return g.local.TakeLimit(ctx, key, count, per) })
}

// ClaimOnce implements store.Store; it is not degraded (see Guard).
func (g *Guard) ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return guarded(g, ctx, 2*time.Second, func(c context.Context) (bool, error) { return g.Primary.ClaimOnce(c, key, ttl) }, nil)
}

// OpenWindow implements store.Store; degraded, in memory, and written to the
// store once it answers again.
func (g *Guard) OpenWindow(ctx context.Context, openID string, until time.Time) error {
	err := g.call(ctx, g.o.CallTimeout, func(c context.Context) error {
		return g.Primary.OpenWindow(c, openID, until)
	})
	if err == nil {
		return nil
	}
	g.mu.Lock()
	if w, ok := g.windows[openID]; !ok || until.After(w) {
		g.windows[openID] = until
	}
	g.mu.Unlock()
	return g.local.OpenWindow(ctx, openID, until)
}

// TakeWindowSlot implements store.Store. Degraded, a window this process saw
// decides; for another, nothing is certain, so the send is attempted
// (WeChat decides, see engine.KefuWindows).
func (g *Guard) TakeWindowSlot(ctx context.Context, openID string, now time.Time) (bool, error) {
	return guarded(g, ctx, g.o.CallTimeout,
		func(c context.Context) (bool, error) { return g.Primary.TakeWindowSlot(c, openID, now) },
		func() (bool, error) {
			if known, _ := g.local.KnowsWindow(ctx, openID); known {
				return g.local.TakeWindowSlot(ctx, openID, now)
			}
			return true, nil
		})
}

// KnowsWindow implements store.WindowKnower; degraded, a window this process
// saw is known.
func (g *Guard) KnowsWindow(ctx context.Context, openID string) (bool, error) {
	return guarded(g, ctx, g.o.CallTimeout,
		func(c context.Context) (bool, error) { return g.Primary.KnowsWindow(c, openID) },
		func() (bool, error) { return g.local.KnowsWindow(ctx, openID) })
}

// CloseWindow implements store.Store.
func (g *Guard) CloseWindow(ctx context.Context, openID string) error {
	err := g.call(ctx, g.o.CallTimeout, func(c context.Context) error { return g.Primary.CloseWindow(c, openID) })
	if err != nil {
		return g.local.CloseWindow(ctx, openID)
	}
	return nil
}

// Enqueue implements store.Store: into the store, or, when it fails or is
// skipped, into the local spool. Either way the sends are durable when it
// returns nil.
func (g *Guard) Enqueue(ctx context.Context, sends ...*outbox.Send) error {
	err := g.call(ctx, g.o.CallTimeout, func(c context.Context) error { return g.Primary.Enqueue(c, sends...) })
	if err == nil {
		return nil
	}
	if serr := g.spool.Enqueue(ctx, sends...); serr != nil {
		return fmt.Errorf("the store failed (%v) and so did the local spool: %w", err, serr)
	}
	g.spooled.log(g.o.Logger, slog.LevelInfo, "store unavailable: sends spooled locally until it answers", "sends", len(sends), "err", err)
	return nil
}

// Due implements store.Store: nothing is delivered while degraded.
func (g *Guard) Due(ctx context.Context, now time.Time, limit int, skip func(string) bool) ([]*outbox.Send, error) {
	due, err := guarded(g, ctx, 2*time.Second,
		func(c context.Context) ([]*outbox.Send, error) { return g.Primary.Due(c, now, limit, skip) }, nil)
	if errors.Is(err, ErrDegraded) {
		return nil, nil
	}
	return due, err
}

// Pending implements store.Store: the store's pending sends and the spool's.
func (g *Guard) Pending(ctx context.Context) (int, error) {
	spooled, err := g.spool.Pending(ctx)
	if err != nil {
		return 0, err
	}
	n, err := guarded(g, ctx, 2*time.Second, g.Primary.Pending, nil)
	return n + spooled, err
}

// Close implements store.Store.
func (g *Guard) Close() error {
	return errors.Join(g.Primary.Close(), g.spool.Close())
}

// Run probes a skipped store and, while it answers, moves what was kept
// aside to it: the windows opened and the sends spooled while degraded.
// It returns when ctx is done.
func (g *Guard) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if degraded, _ := g.Degraded(); degraded {
			g.call(ctx, g.o.CallTimeout, func(c context.Context) error { _, err := g.Primary.Pending(c); return err })
			continue
		}
		g.replayWindows(ctx)
		g.drainSpool(ctx)
	}
}

// replayWindows writes the windows opened while degraded to the store.
func (g *Guard) replayWindows(ctx context.Context) {
	g.mu.Lock()
	pending := g.windows
	g.windows = map[string]time.Time{}
	g.mu.Unlock()
	for id, w := range pending {
		err := g.call(ctx, g.o.CallTimeout, func(c context.Context) error { return g.Primary.OpenWindow(c, id, w) })
		if err != nil { // keep it for the next round
			g.mu.Lock()
			if _, newer := g.windows[id]; !newer {
				g.windows[id] = w
			}
			g.mu.Unlock()
		}
	}
}

// drainSpool moves spooled sends to the store. A send's ID makes the move
// idempotent: one moved twice (a crash between the store's Enqueue and the
// spool's Done) is enqueued once.
func (g *Guard) drainSpool(ctx context.Context) {
	everything := time.Unix(1<<40, 0) // delayed sends too: they keep their NotBefore
	for ctx.Err() == nil {
		batch, err := g.spool.Due(ctx, everything, 100, nil)
		if err != nil || len(batch) == 0 {
			if err != nil {
				g.o.Logger.Error("reading the local spool failed; its sends wait", "err", err)
			}
			return
		}
		for _, s := range batch {
			moved := *s
			moved.Seq = 0
			err := g.call(ctx, g.o.CallTimeout, func(c context.Context) error { return g.Primary.Enqueue(c, &moved) })
			if err != nil {
				return // the store failed again: the rest waits
			}
			if err := g.spool.Done(ctx, s); err != nil {
				g.o.Logger.Error("a spooled send moved to the store but could not be removed from the spool", "id", s.ID, "err", err)
				return
			}
		}
		g.o.Logger.Info("spooled sends moved to the store", "sends", len(batch))
	}
}

// LoadUser implements store.Store. User state is not degraded to memory: a
// dialog step kept on one replica while Redis is away would be silently
// forgotten when it is back. The push reads no state and is still
// answered (see engine.Users).
func (g *Guard) LoadUser(ctx context.Context, openID string) (map[string]any, error) {
	return guarded(g, ctx, g.o.CallTimeout,
		func(c context.Context) (map[string]any, error) { return g.Primary.LoadUser(c, openID) }, nil)
}

// PatchUser implements store.Store; not degraded (see LoadUser).
func (g *Guard) PatchUser(ctx context.Context, openID string, p *store.UserPatch) error {
	return g.call(ctx, g.o.CallTimeout, func(c context.Context) error { return g.Primary.PatchUser(c, openID, p) })
}

// DeleteUser implements store.Store.
func (g *Guard) DeleteUser(ctx context.Context, openID string) (bool, error) {
	return guarded(g, ctx, g.o.CallTimeout, func(c context.Context) (bool, error) { return g.Primary.DeleteUser(c, openID) }, nil)
}

// CountUsers implements store.Store.
func (g *Guard) CountUsers(ctx context.Context) (int, error) {
	return guarded(g, ctx, g.o.CallTimeout, g.Primary.CountUsers, nil)
}

// RememberQuery implements callback.Replays; degraded, in memory.
func (g *Guard) RememberQuery(ctx context.Context, key, bodyHash string, ttl time.Duration) (string, error) {
	r, ok := g.Primary.(interface {
		RememberQuery(context.Context, string, string, time.Duration) (string, error)
	})
	if !ok {
		return g.local.RememberQuery(ctx, key, bodyHash, ttl)
	}
	var first string
	err := g.call(ctx, g.o.CallTimeout, func(c context.Context) (e error) {
		first, e = r.RememberQuery(c, key, bodyHash, ttl)
		return e
	})
	if err == nil {
		return first, nil
	}
	return g.local.RememberQuery(ctx, key, bodyHash, ttl)
}

// primaryAs is the guarded store as the capability T (what names it for
// the error): the capabilities that go to the store or fail, with no
// spool or memory standing in.
func primaryAs[T any](g *Guard, what string) (T, error) {
	t, ok := g.Primary.(T)
	if !ok {
		return t, fmt.Errorf("store %T keeps no %s", g.Primary, what)
	}
	return t, nil
}

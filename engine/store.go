package engine

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Store keeps the state that must outlive a push: cooldowns, kefu windows
// and the outbox of asynchronous sends. Implementations are safe for
// concurrent use. MemoryStore is the in-process one (tests, offline runs);
// engine/store has the embedded (bbolt) one and, for replicas, Redis.
type Store interface {
	// TakeCooldown starts a cooldown of ttl under key unless one is running;
	// it reports whether it started one (the rule may fire).
	TakeCooldown(ctx context.Context, key string, ttl time.Duration) (bool, error)

	// ClaimOnce records key durably for ttl and reports whether this is the
	// first claim: when it returns true, the key is on disk (or in Redis), so
	// a redelivery after a restart is recognised. Payment notifications use
	// it (WeChat Pay redelivers for about 24 hours).
	ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)

	// OpenWindow records that a user's action opened a kefu window of quota
	// sends until until (see KefuWindowFor). It is called on the push path
	// and must be cheap.
	OpenWindow(ctx context.Context, openID string, quota int, until time.Time) error
	// TakeWindowSlot spends one send of the user's window; false means the
	// window is closed or used up.
	TakeWindowSlot(ctx context.Context, openID string, now time.Time) (bool, error)
	// CloseWindow marks a user's window used up (WeChat said 45015 or 45047).
	CloseWindow(ctx context.Context, openID string) error

	// Enqueue stores sends durably: when it returns nil they survive a
	// crash. A send whose ID was enqueued before (pending, delivered or dead)
	// is ignored, which makes a push's sends idempotent.
	Enqueue(ctx context.Context, sends ...*Send) error
	// Due returns up to limit sends ready at now, oldest first, at most one
	// per user (the user's oldest pending send): later sends of a user wait
	// for earlier ones, which keeps their order. Sends in skip are left out.
	Due(ctx context.Context, now time.Time, limit int, skip func(openID string) bool) ([]*Send, error)
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

	Close() error
}

// DeadLetter is a send that was given up, and why.
type DeadLetter struct {
	Send   *Send     `json:"send"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// KefuWindowFor is the kefu window an event opens (wechat-protocol.md
// §6.3): a user's message, 5 sends within 48 hours; a click, scancode,
// subscribe or scan, 3 within a minute; anything else (view, payment, …)
// none.
func KefuWindowFor(ev *Event) (quota int, validity time.Duration) {
	switch {
	case ev.IsUserMessage() || (ev.Message == nil && slices.Contains(UserMessageTypes, ev.Type)):
		return 5, 48 * time.Hour
	}
	switch ev.Type {
	case "click", "scancode_push", "scancode_waitmsg", "subscribe", "scan":
		return 3, time.Minute
	}
	return 0, 0
}

// window is one user's kefu window.
type window struct {
	Left  int       `json:"left"`
	Until time.Time `json:"until"`
}

// MergeWindow applies an opening to a user's window. WeChat does not say
// how openings combine for Official Accounts; this keeps whichever lasts
// longer, and lets a new opening replace a used-up window, so that a menu
// click after five sends still grants its three.
func MergeWindow(left int, until time.Time, quota int, newUntil, now time.Time) (int, time.Time) {
	if !now.Before(until) || left <= 0 || newUntil.After(until) {
		return quota, newUntil
	}
	return left, until
}

// MemoryStore is a Store in process memory. Nothing survives a restart.
type MemoryStore struct {
	now func() time.Time

	mu        sync.Mutex
	once      map[string]time.Time // key → end
	cooldowns map[string]time.Time // key → end
	sweepAt   time.Time
	windows   map[string]window
	seq       uint64
	pending   []*Send         // in Seq order
	ids       map[string]bool // every ID ever enqueued
	dead      []DeadLetter
}

// NewMemoryStore returns an empty MemoryStore on the clock now (time.Now
// when nil).
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{now: now, once: map[string]time.Time{}, cooldowns: map[string]time.Time{}, windows: map[string]window{}, ids: map[string]bool{}}
}

// ClaimOnce implements Store.
func (s *MemoryStore) ClaimOnce(_ context.Context, key string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return takeUntil(s.once, key, s.now(), ttl), nil
}

// takeUntil sets m[key] to now+ttl unless a later end is there.
func takeUntil(m map[string]time.Time, key string, now time.Time, ttl time.Duration) bool {
	if end, ok := m[key]; ok && now.Before(end) {
		return false
	}
	m[strings.Clone(key)] = now.Add(ttl)
	return true
}

// TakeCooldown implements Store.
func (s *MemoryStore) TakeCooldown(_ context.Context, key string, ttl time.Duration) (bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.After(s.sweepAt) { // drop expired cooldowns now and then
		for k, end := range s.cooldowns {
			if !now.Before(end) {
				delete(s.cooldowns, k)
			}
		}
		s.sweepAt = now.Add(time.Minute)
	}
	return takeUntil(s.cooldowns, key, now, ttl), nil
}

// OpenWindow implements Store.
func (s *MemoryStore) OpenWindow(_ context.Context, openID string, quota int, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.windows[openID]
	w.Left, w.Until = MergeWindow(w.Left, w.Until, quota, until, s.now())
	s.windows[strings.Clone(openID)] = w // not a slice of the push body
	return nil
}

// TakeWindowSlot implements Store.
func (s *MemoryStore) TakeWindowSlot(_ context.Context, openID string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.windows[openID]
	if !ok || w.Left <= 0 || !now.Before(w.Until) {
		return false, nil
	}
	w.Left--
	s.windows[openID] = w
	return true, nil
}

// CloseWindow implements Store.
func (s *MemoryStore) CloseWindow(_ context.Context, openID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.windows[openID]; ok {
		w.Left = 0
		s.windows[openID] = w
	}
	return nil
}

// Enqueue implements Store.
func (s *MemoryStore) Enqueue(_ context.Context, sends ...*Send) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, snd := range sends {
		if s.ids[snd.ID] {
			continue
		}
		s.ids[snd.ID] = true
		s.seq++
		c := *snd
		c.Seq = s.seq
		s.pending = append(s.pending, &c)
	}
	return nil
}

// Due implements Store.
func (s *MemoryStore) Due(_ context.Context, now time.Time, limit int, skip func(string) bool) ([]*Send, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []*Send
	for _, snd := range s.pending {
		if len(out) >= limit {
			break
		}
		if seen[snd.OpenID] {
			continue
		}
		seen[snd.OpenID] = true
		if (skip != nil && skip(snd.OpenID)) || snd.NotBefore.After(now) {
			continue
		}
		c := *snd
		out = append(out, &c)
	}
	return out, nil
}

func (s *MemoryStore) remove(seq uint64) {
	s.pending = slices.DeleteFunc(s.pending, func(x *Send) bool { return x.Seq == seq })
}

// Done implements Store.
func (s *MemoryStore) Done(_ context.Context, snd *Send) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(snd.Seq)
	return nil
}

// Retry implements Store.
func (s *MemoryStore) Retry(_ context.Context, snd *Send) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.pending {
		if x.Seq == snd.Seq {
			c := *snd
			s.pending[i] = &c
		}
	}
	return nil
}

// Dead implements Store.
func (s *MemoryStore) Dead(_ context.Context, snd *Send, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(snd.Seq)
	c := *snd
	s.dead = append(s.dead, DeadLetter{Send: &c, Reason: reason, At: s.now()})
	return nil
}

// DeadLetters implements Store.
func (s *MemoryStore) DeadLetters(_ context.Context, limit int) ([]DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []DeadLetter
	for i := len(s.dead) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, s.dead[i])
	}
	return out, nil
}

// Pending implements Store.
func (s *MemoryStore) Pending(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending), nil
}

// Close implements Store.
func (s *MemoryStore) Close() error { return nil }

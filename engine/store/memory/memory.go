package memory

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
)

// memWindow is one user's kefu window in a Memory store: its end.
type memWindow struct {
	Until time.Time
}

// Memory is a store.Store in process memory. Nothing survives a restart.
type Memory struct {
	now func() time.Time

	mu        sync.Mutex
	once      map[string]time.Time // key → end
	cooldowns map[string]time.Time // key → end
	sweepAt   time.Time
	limits    store.LimitCounter
	windows   map[string]memWindow
	seq       uint64
	pending   []*outbox.Send  // in Seq order
	ids       map[string]bool // every ID ever enqueued
	dead      []outbox.DeadLetter
	dropped   map[string]bool // IDs an operator dropped (Track)
	keys      map[string]memKey
	nonces    store.QueryMemory
	users     memUsers
	ai        aiMemory
	handoffs  memHandoffs
	tallies   memTallies
}

// New returns an empty Memory on the clock now (time.Now
// when nil).
func New(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, once: map[string]time.Time{}, cooldowns: map[string]time.Time{}, windows: map[string]memWindow{}, ids: map[string]bool{}}
}

// ClaimOnce implements store.Store.
func (s *Memory) ClaimOnce(_ context.Context, key string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return memTakeUntil(s.once, key, s.now(), ttl), nil
}

// memTakeUntil sets m[key] to now+ttl unless a later end is there.
func memTakeUntil(m map[string]time.Time, key string, now time.Time, ttl time.Duration) bool {
	if end, ok := m[key]; ok && now.Before(end) {
		return false
	}
	m[strings.Clone(key)] = now.Add(ttl)
	return true
}

// TakeCooldown implements store.Store.
func (s *Memory) TakeCooldown(_ context.Context, key string, ttl time.Duration) (bool, error) {
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
	return memTakeUntil(s.cooldowns, key, now, ttl), nil
}

// TakeLimit implements store.Store.
func (s *Memory) TakeLimit(_ context.Context, key string, count int, per time.Duration) (bool, error) {
	return s.limits.Take(s.now(), key, count, per), nil
}

// OpenWindow implements store.Store.
func (s *Memory) OpenWindow(_ context.Context, openID string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.windows[openID]
	w.Until = store.MergeWindow(w.Until, until, s.now())
	s.windows[strings.Clone(openID)] = w // not a slice of the push body
	return nil
}

// KnowsWindow implements store.WindowKnower: a Memory forgets no window.
func (s *Memory) KnowsWindow(_ context.Context, openID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.windows[openID]
	return ok, nil
}

// TakeWindowSlot implements store.Store.
func (s *Memory) TakeWindowSlot(_ context.Context, openID string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.windows[openID]
	return ok && now.Before(w.Until), nil
}

// CloseWindow implements store.Store. A user without a window gets a
// closed one: WeChat's refusal is known (store.WindowKnower).
func (s *Memory) CloseWindow(_ context.Context, openID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.windows[openID]
	if now := s.now(); !ok || now.Before(w.Until) {
		w.Until = now // ended until the next opening
	}
	s.windows[strings.Clone(openID)] = w
	return nil
}

// Enqueue implements store.Store.
func (s *Memory) Enqueue(_ context.Context, sends ...*outbox.Send) error {
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

// Due implements store.Store.
func (s *Memory) Due(_ context.Context, now time.Time, limit int, skip func(string) bool) ([]*outbox.Send, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []*outbox.Send
	for _, snd := range s.pending {
		if len(out) >= limit {
			break
		}
		if seen[snd.OrderKey] {
			continue
		}
		seen[snd.OrderKey] = true
		if (skip != nil && skip(snd.OrderKey)) || snd.NotBefore.After(now) {
			continue
		}
		c := *snd
		out = append(out, &c)
	}
	return out, nil
}

func (s *Memory) remove(seq uint64) {
	s.pending = slices.DeleteFunc(s.pending, func(x *outbox.Send) bool { return x.Seq == seq })
}

// Done implements store.Store.
func (s *Memory) Done(_ context.Context, snd *outbox.Send) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(snd.Seq)
	return nil
}

// Retry implements store.Store.
func (s *Memory) Retry(_ context.Context, snd *outbox.Send) error {
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

// Dead implements store.Store.
func (s *Memory) Dead(_ context.Context, snd *outbox.Send, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(snd.Seq)
	c := *snd
	s.dead = append(s.dead, outbox.DeadLetter{Send: &c, Reason: reason, At: s.now()})
	return nil
}

// DeadLetters implements store.Store.
func (s *Memory) DeadLetters(_ context.Context, limit int) ([]outbox.DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []outbox.DeadLetter
	for i := len(s.dead) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, s.dead[i])
	}
	return out, nil
}

// Pending implements store.Store.
func (s *Memory) Pending(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending), nil
}

// Close implements store.Store.
func (s *Memory) Close() error { return nil }

// PendingSends implements outbox.Admin: the cursor is a Seq.
func (s *Memory) PendingSends(_ context.Context, after string, limit int) ([]*outbox.Send, string, error) {
	from, err := store.SeqCursor(after)
	if err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*outbox.Send
	for _, snd := range s.pending {
		if snd.Seq <= from {
			continue
		}
		if len(out) == limit {
			return out, strconv.FormatUint(out[len(out)-1].Seq, 10), nil
		}
		c := *snd
		out = append(out, &c)
	}
	return out, "", nil
}

// RetryDead implements outbox.Admin.
func (s *Memory) RetryDead(_ context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.retryDead(id), nil
}

func (s *Memory) retryDead(id string) bool {
	var found *outbox.Send
	s.dead = slices.DeleteFunc(s.dead, func(d outbox.DeadLetter) bool {
		if id == "" || d.Send == nil || d.Send.ID != id {
			return false
		}
		found = d.Send
		return true
	})
	if found == nil {
		return false
	}
	s.seq++
	c := store.Revived(found, s.now())
	c.Seq = s.seq
	s.pending = append(s.pending, c)
	return true
}

// RetryAllDead implements outbox.Admin.
func (s *Memory) RetryAllDead(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, d := range s.dead {
		if d.Send != nil && d.Send.ID != "" && !slices.Contains(ids, d.Send.ID) {
			ids = append(ids, d.Send.ID)
		}
	}
	n := 0
	for _, id := range ids {
		if s.retryDead(id) {
			n++
		}
	}
	return n, nil
}

// Drop implements outbox.Admin.
func (s *Memory) Drop(_ context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.pending) + len(s.dead)
	s.pending = slices.DeleteFunc(s.pending, func(x *outbox.Send) bool { return x.ID == id })
	s.dead = slices.DeleteFunc(s.dead, func(d outbox.DeadLetter) bool { return d.Send != nil && d.Send.ID == id })
	found := id != "" && len(s.pending)+len(s.dead) < n
	if found {
		s.markDropped(id)
	}
	return found, nil
}

// RememberQuery implements callback.Replays: it returns the hash of the
// body first seen with key ("" the first time).
func (s *Memory) RememberQuery(_ context.Context, key, bodyHash string, ttl time.Duration) (string, error) {
	return s.nonces.Remember(key, bodyHash, s.now, ttl), nil
}

var _ outbox.Admin = (*Memory)(nil)

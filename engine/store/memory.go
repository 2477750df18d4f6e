package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
)

// Store is everything the bot keeps beyond a push, for wiring: the engine
// takes cooldowns and kefu windows (engine.State), the payment handler the
// once-claims (engine.Claims), the kefu deliverer the windows, and the
// outbox its queue. Memory, Bolt and Redis implement it.
type Store interface {
	// TakeCooldown starts a cooldown of ttl under key unless one is running;
	// it reports whether it started one (the rule may fire).
	TakeCooldown(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// ClaimOnce records key durably for ttl and reports whether this is the
	// first claim (see engine.Claims).
	ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// OpenWindow, TakeWindowSlot and CloseWindow keep the users' kefu
	// windows (see engine.KefuWindows).
	OpenWindow(ctx context.Context, openID string, until time.Time) error
	TakeWindowSlot(ctx context.Context, openID string, now time.Time) (bool, error)
	CloseWindow(ctx context.Context, openID string) error
	// LoadUser, PatchUser, DeleteUser and CountUsers keep the users' state
	// (see engine.Users and UserPatch).
	LoadUser(ctx context.Context, openID string) (map[string]any, error)
	PatchUser(ctx context.Context, openID string, p *UserPatch) error
	DeleteUser(ctx context.Context, openID string) (bool, error)
	CountUsers(ctx context.Context) (int, error)

	AIStore
	outbox.Queue
	Close() error
}

// memWindow is one user's kefu window in a Memory store: its end.
type memWindow struct {
	Until time.Time
}

// MergeWindow applies an opening ending at newUntil to a user's window
// ending at until, and returns the window's end. WeChat does not say how
// openings combine for Official Accounts; this keeps whichever lasts
// longer, and an ended window gives way to any opening. The same opening
// applied twice (a retried push) changes nothing. Only the end is kept:
// WeChat decides how many sends a window takes (see engine.KefuWindows),
// and a send is refused without an API call only once its time is over.
func MergeWindow(until, newUntil, now time.Time) time.Time {
	if !now.Before(until) || newUntil.After(until) {
		return newUntil
	}
	return until
}

// Memory is a Store in process memory. Nothing survives a restart.
type Memory struct {
	now func() time.Time

	mu        sync.Mutex
	once      map[string]time.Time // key → end
	cooldowns map[string]time.Time // key → end
	sweepAt   time.Time
	windows   map[string]memWindow
	seq       uint64
	pending   []*outbox.Send  // in Seq order
	ids       map[string]bool // every ID ever enqueued
	dead      []outbox.DeadLetter
	nonces    nonceMemory
	users     memUsers
	ai        aiMemory
}

// NewMemory returns an empty Memory on the clock now (time.Now
// when nil).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, once: map[string]time.Time{}, cooldowns: map[string]time.Time{}, windows: map[string]memWindow{}, ids: map[string]bool{}}
}

// ClaimOnce implements Store.
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

// TakeCooldown implements Store.
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

// OpenWindow implements Store.
func (s *Memory) OpenWindow(_ context.Context, openID string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.windows[openID]
	w.Until = MergeWindow(w.Until, until, s.now())
	s.windows[strings.Clone(openID)] = w // not a slice of the push body
	return nil
}

// knowsWindow reports whether the user has a window here.
func (s *Memory) knowsWindow(openID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.windows[openID]
	return ok
}

// TakeWindowSlot implements Store.
func (s *Memory) TakeWindowSlot(_ context.Context, openID string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.windows[openID]
	return ok && now.Before(w.Until), nil
}

// CloseWindow implements Store.
func (s *Memory) CloseWindow(_ context.Context, openID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.windows[openID]; ok {
		if now := s.now(); now.Before(w.Until) {
			w.Until = now // ended until the next opening
		}
		s.windows[openID] = w
	}
	return nil
}

// Enqueue implements Store.
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

// Due implements Store.
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

// Done implements Store.
func (s *Memory) Done(_ context.Context, snd *outbox.Send) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(snd.Seq)
	return nil
}

// Retry implements Store.
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

// Dead implements Store.
func (s *Memory) Dead(_ context.Context, snd *outbox.Send, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(snd.Seq)
	c := *snd
	s.dead = append(s.dead, outbox.DeadLetter{Send: &c, Reason: reason, At: s.now()})
	return nil
}

// outbox.DeadLetters implements Store.
func (s *Memory) DeadLetters(_ context.Context, limit int) ([]outbox.DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []outbox.DeadLetter
	for i := len(s.dead) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, s.dead[i])
	}
	return out, nil
}

// Pending implements Store.
func (s *Memory) Pending(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending), nil
}

// Close implements Store.
func (s *Memory) Close() error { return nil }

// PendingSends implements outbox.Admin: the cursor is a Seq.
func (s *Memory) PendingSends(_ context.Context, after string, limit int) ([]*outbox.Send, string, error) {
	from, err := seqCursor(after)
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

// seqCursor reads a page cursor of the stores that number sends.
func seqCursor(after string) (uint64, error) {
	if after == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(after, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("page cursor %q: want the next of a previous page", after)
	}
	return n, nil
}

// revived is a dead letter's send made pending again: attempts reset, due
// at now.
func revived(snd *outbox.Send, now time.Time) *outbox.Send {
	c := *snd
	c.Attempts, c.LastError, c.NotBefore, c.Ref = 0, "", now, ""
	return &c
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
	c := revived(found, s.now())
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
	return id != "" && len(s.pending)+len(s.dead) < n, nil
}

package engine

import (
	"context"
	"sync"
	"time"
)

// Store keeps the state rules share across pushes: cooldowns now; the kefu
// outbox, windows and tokens as they arrive. Implementations are safe for
// concurrent use; MemoryStore is the in-process one used by tests and
// offline runs.
type Store interface {
	// TakeCooldown starts a cooldown of ttl under key unless one is running;
	// it reports whether it started one (the rule may fire).
	TakeCooldown(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// MemoryStore is a Store in process memory.
type MemoryStore struct {
	now func() time.Time

	mu        sync.Mutex
	cooldowns map[string]time.Time // key → end
	sweepAt   time.Time
}

// NewMemoryStore returns an empty MemoryStore on the clock now (time.Now
// when nil).
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{now: now, cooldowns: map[string]time.Time{}}
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
	if end, ok := s.cooldowns[key]; ok && now.Before(end) {
		return false, nil
	}
	s.cooldowns[key] = now.Add(ttl)
	return true, nil
}

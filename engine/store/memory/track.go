package memory

import (
	"context"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
)

// memKey is an idempotency key's fingerprint and end.
type memKey struct {
	fingerprint string
	end         time.Time
}

// RememberKey implements store.IdempotencyKeys. Expired keys are swept
// when a new one is stored.
func (s *Memory) RememberKey(_ context.Context, key, fingerprint string, ttl time.Duration) (string, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[key]; ok && now.Before(k.end) {
		return k.fingerprint, nil
	}
	if s.keys == nil {
		s.keys = map[string]memKey{}
	}
	for k, v := range s.keys {
		if !now.Before(v.end) {
			delete(s.keys, k)
		}
	}
	s.keys[strings.Clone(key)] = memKey{fingerprint: fingerprint, end: now.Add(ttl)}
	return "", nil
}

// markDropped records that an operator dropped the send id; s.mu is held.
func (s *Memory) markDropped(id string) {
	if s.dropped == nil {
		s.dropped = map[string]bool{}
	}
	s.dropped[id] = true
}

// Track implements outbox.Tracker. A Memory forgets no ID.
func (s *Memory) Track(_ context.Context, id string) (outbox.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pending {
		if p.ID == id {
			return outbox.Status{State: outbox.Pending}, nil
		}
	}
	for i := len(s.dead) - 1; i >= 0; i-- {
		if d := s.dead[i]; d.Send != nil && d.Send.ID == id {
			return outbox.Status{State: outbox.Dead, Reason: d.Reason}, nil
		}
	}
	switch {
	case s.dropped[id]:
		return outbox.Status{State: outbox.Dead, Reason: outbox.DroppedReason}, nil
	case s.ids[id]:
		return outbox.Status{State: outbox.Sent}, nil
	}
	return outbox.Status{}, nil
}

var _ outbox.Tracker = (*Memory)(nil)

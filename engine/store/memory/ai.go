package memory

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// aiMemory is the Memory store's part of store.AIStore, under Memory's lock.
type aiMemory struct {
	turns map[string]memTurns
	quota map[string]memQuota
	held  map[string]memHeld
}

type memTurns struct {
	until time.Time
	turns []store.Turn
}

type memQuota struct {
	until time.Time
	n     int
}

type memHeld struct {
	until   time.Time
	replies [][]byte
}

func (s *Memory) aiMaps() *aiMemory {
	if s.ai.turns == nil {
		s.ai = aiMemory{turns: map[string]memTurns{}, quota: map[string]memQuota{}, held: map[string]memHeld{}}
	}
	return &s.ai
}

// AITurns implements store.AIStore.
func (s *Memory) AITurns(_ context.Context, openID string) ([]store.Turn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.aiMaps().turns[openID]
	if !ok || !s.now().Before(t.until) {
		return nil, nil
	}
	return slices.Clone(t.turns), nil
}

// AddAITurn implements store.AIStore.
func (s *Memory) AddAITurn(_ context.Context, openID string, t store.Turn, keep int, ttl time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.aiMaps()
	cur := m.turns[openID]
	if !now.Before(cur.until) {
		cur.turns = nil
	}
	turns := append(slices.Clone(cur.turns), store.Turn{Q: strings.Clone(t.Q), A: strings.Clone(t.A)})
	if k := store.KeepTurns(keep); len(turns) > k {
		turns = turns[len(turns)-k:]
	}
	m.turns[strings.Clone(openID)] = memTurns{until: now.Add(ttl), turns: turns}
	return nil
}

// TakeAIQuota implements store.AIStore.
func (s *Memory) TakeAIQuota(_ context.Context, key string, limit int, ttl time.Duration) (bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.aiMaps()
	q := m.quota[key]
	if !now.Before(q.until) {
		q = memQuota{until: now.Add(ttl)}
	}
	if q.n >= limit {
		return false, nil
	}
	q.n++
	m.quota[strings.Clone(key)] = q
	return true, nil
}

// HoldReply implements store.AIStore.
func (s *Memory) HoldReply(_ context.Context, openID string, reply []byte, ttl time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.aiMaps()
	h := m.held[openID]
	if !now.Before(h.until) {
		h.replies = nil
	}
	h.replies = append(slices.Clone(h.replies), slices.Clone(reply))
	if len(h.replies) > store.MaxHeldReplies {
		h.replies = h.replies[len(h.replies)-store.MaxHeldReplies:]
	}
	h.until = now.Add(ttl)
	m.held[strings.Clone(openID)] = h
	return nil
}

// TakeHeldReply implements store.AIStore.
func (s *Memory) TakeHeldReply(_ context.Context, openID string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.aiMaps()
	h, ok := m.held[openID]
	if !ok {
		return nil, nil
	}
	if !s.now().Before(h.until) || len(h.replies) == 0 {
		delete(m.held, openID)
		return nil, nil
	}
	r := h.replies[0]
	if h.replies = h.replies[1:]; len(h.replies) == 0 {
		delete(m.held, openID)
	} else {
		m.held[openID] = h
	}
	return r, nil
}

// ForgetAI implements store.AIStore.
func (s *Memory) ForgetAI(_ context.Context, openID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.aiMaps()
	delete(m.turns, openID)
	delete(m.held, openID)
	return nil
}

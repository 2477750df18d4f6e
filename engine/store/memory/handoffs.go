package memory

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// memHandoffs is the store.HandoffIndex in process memory: few entries,
// the ended ones dropped at each write.
type memHandoffs struct {
	mu sync.Mutex
	m  map[string]memHandoff
}

type memHandoff struct {
	h     store.Handoff
	until time.Time
}

// PutHandoff implements store.HandoffIndex.
func (s *Memory) PutHandoff(_ context.Context, h store.Handoff, until time.Time) error {
	now := s.now()
	s.handoffs.mu.Lock()
	defer s.handoffs.mu.Unlock()
	if s.handoffs.m == nil {
		s.handoffs.m = map[string]memHandoff{}
	}
	for id, e := range s.handoffs.m {
		if !now.Before(e.until) {
			delete(s.handoffs.m, id)
		}
	}
	h.OpenID, h.Account = strings.Clone(h.OpenID), strings.Clone(h.Account) // not slices of a push body
	s.handoffs.m[h.OpenID] = memHandoff{h: h, until: until}
	return nil
}

// EndHandoff implements store.HandoffIndex.
func (s *Memory) EndHandoff(_ context.Context, openID string) error {
	s.handoffs.mu.Lock()
	defer s.handoffs.mu.Unlock()
	delete(s.handoffs.m, openID)
	return nil
}

// Handoffs implements store.HandoffIndex.
func (s *Memory) Handoffs(context.Context) ([]store.Handoff, error) {
	now := s.now()
	s.handoffs.mu.Lock()
	defer s.handoffs.mu.Unlock()
	var out []store.Handoff
	for _, e := range s.handoffs.m {
		if now.Before(e.until) {
			out = append(out, e.h)
		}
	}
	store.SortHandoffs(out)
	return out, nil
}

var _ store.HandoffIndex = (*Memory)(nil)

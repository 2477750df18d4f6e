package memory

import (
	"context"
	"strings"
	"sync"

	"github.com/wxbot/wxbot/engine/store"
)

// memTallies is the store.Tallies in process memory, under a lock of its
// own: a flush of the counts does not wait for the pushes' state, nor
// they for it.
type memTallies struct {
	mu   sync.Mutex
	days map[string]map[string]map[string]int64 // day → kind → name → count
}

// AddTallies implements store.Tallies. A batch with an invalid counter is
// refused whole; a count ≤ 0, or of a day already forgotten, is left out.
func (s *Memory) AddTallies(_ context.Context, counts []store.Tally) error {
	if err := store.CheckTallies(counts); err != nil {
		return err
	}
	now := s.now()
	m := &s.tallies
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.days == nil {
		m.days = map[string]map[string]map[string]int64{}
	}
	for day := range m.days {
		if store.TallyExpired(day, now) {
			delete(m.days, day)
		}
	}
	for _, t := range counts {
		if t.N <= 0 || store.TallyExpired(t.Day, now) {
			continue
		}
		kinds := m.days[t.Day]
		if kinds == nil {
			kinds = map[string]map[string]int64{}
			m.days[strings.Clone(t.Day)] = kinds
		}
		names := kinds[t.Kind]
		if names == nil {
			names = map[string]int64{}
			kinds[strings.Clone(t.Kind)] = names
		}
		n, ok := names[t.Name]
		if !ok && len(names) >= store.MaxTallyNames {
			continue
		}
		// Cloned even when present: assigning to a string key stores the
		// key given, which may be a slice of a push body.
		names[strings.Clone(t.Name)] = n + t.N
	}
	return nil
}

// ReadTallies implements store.Tallies, ordered by kind, then name.
func (s *Memory) ReadTallies(_ context.Context, day string) ([]store.Tally, error) {
	if err := store.CheckTallyDay(day); err != nil {
		return nil, err
	}
	if store.TallyExpired(day, s.now()) { // not dropped until the next add
		return nil, nil
	}
	m := &s.tallies
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Tally
	for kind, names := range m.days[day] {
		for name, n := range names {
			out = append(out, store.Tally{Day: day, Kind: kind, Name: name, N: n})
		}
	}
	store.SortTallies(out)
	return out, nil
}

var _ store.Tallies = (*Memory)(nil)

package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/wxbot/wxbot/engine/store"
)

// bHandoffs holds the store.HandoffIndex: openid → end ‖ JSON handoff
// (see withEnd). It is made when first written: a file, or an account's
// buckets, made by an older wxbot lack it.
var bHandoffs = []byte("handoffs")

// handoffRecord is a handoff as the bucket keeps it.
type handoffRecord struct {
	Account string    `json:"account,omitempty"`
	Waiting bool      `json:"waiting,omitempty"`
	Since   time.Time `json:"since"`
}

// handoffHints are the OpenIDs of the handoffs bucket, in memory: read
// once, at the first question, then kept with every write (the bbolt file
// has one process), so that a push of a user in no handoff reads no state
// for its handoff check (store.HandoffHints).
type handoffHints struct {
	once   sync.Once
	mu     sync.Mutex
	ids    map[string]struct{}
	failed bool // the bucket could not be read: every user may have one
}

// loadHints reads the bucket's OpenIDs, once.
func (s *Bolt) loadHints() {
	s.hints.once.Do(func() {
		ids := map[string]struct{}{}
		err := s.db.View(func(tx *bbolt.Tx) error {
			b := s.bucket(tx, bHandoffs)
			if b == nil {
				return nil
			}
			return b.ForEach(func(k, _ []byte) error { ids[string(k)] = struct{}{}; return nil })
		})
		s.hints.mu.Lock()
		s.hints.ids, s.hints.failed = ids, err != nil
		s.hints.mu.Unlock()
	})
}

// MayHaveHandoff implements store.HandoffHints. An ended handoff the
// bucket still holds (pruned at a later write) answers true: the caller
// reads the state and finds it over.
func (s *Bolt) MayHaveHandoff(openID string) bool {
	s.loadHints()
	s.hints.mu.Lock()
	defer s.hints.mu.Unlock()
	_, ok := s.hints.ids[openID]
	return ok || s.hints.failed
}

// hint adds or drops openID in the hints.
func (s *Bolt) hint(openID string, on bool) {
	s.loadHints()
	s.hints.mu.Lock()
	defer s.hints.mu.Unlock()
	if on {
		s.hints.ids[strings.Clone(openID)] = struct{}{}
	} else {
		delete(s.hints.ids, openID)
	}
}

// PutHandoff implements store.HandoffIndex: committed before it returns.
// The ended handoffs leave the bucket at each write: it stays as small as
// the handoffs open.
func (s *Bolt) PutHandoff(_ context.Context, h store.Handoff, until time.Time) error {
	body, err := json.Marshal(handoffRecord{Account: h.Account, Waiting: h.Waiting, Since: h.Since})
	if err != nil {
		return err
	}
	now := s.now()
	s.hint(h.OpenID, true) // before the write: a push that races it reads the state
	err = s.db.Batch(func(tx *bbolt.Tx) error {
		b, err := s.madeBucket(tx, bHandoffs)
		if err != nil {
			return err
		}
		pruneBucket(b, func(v []byte) bool { _, ok := liveValue(v, now); return !ok })
		return b.Put([]byte(h.OpenID), withEnd(until, body))
	})
	if err != nil {
		return fmt.Errorf("store %s: recording a handoff: %w", s.path, err)
	}
	return nil
}

// EndHandoff implements store.HandoffIndex.
func (s *Bolt) EndHandoff(_ context.Context, openID string) error {
	err := s.db.Batch(func(tx *bbolt.Tx) error {
		b, err := s.madeBucket(tx, bHandoffs)
		if err != nil {
			return err
		}
		return b.Delete([]byte(openID))
	})
	if err != nil {
		return fmt.Errorf("store %s: ending a handoff: %w", s.path, err)
	}
	s.hint(openID, false)
	return nil
}

// Handoffs implements store.HandoffIndex. A damaged record is skipped: it
// ends with its handoff's timeout.
func (s *Bolt) Handoffs(context.Context) ([]store.Handoff, error) {
	now := s.now()
	var out []store.Handoff
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := s.bucket(tx, bHandoffs)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			body, ok := liveValue(v, now)
			var r handoffRecord
			if ok && json.Unmarshal(body, &r) == nil {
				out = append(out, store.Handoff{OpenID: string(k), Account: r.Account, Waiting: r.Waiting, Since: r.Since})
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: listing the handoffs: %w", s.path, err)
	}
	store.SortHandoffs(out)
	return out, nil
}

var (
	_ store.HandoffIndex = (*Bolt)(nil)
	_ store.HandoffHints = (*Bolt)(nil)
)

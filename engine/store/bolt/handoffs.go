package bolt

import (
	"context"
	"encoding/json"
	"fmt"
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

// handoffs is the bucket of handoffs in a writable tx, made if absent.
func (s *Bolt) handoffs(tx *bbolt.Tx) (*bbolt.Bucket, error) {
	if s.root == nil {
		return tx.CreateBucketIfNotExists(bHandoffs)
	}
	return tx.Bucket(s.root).CreateBucketIfNotExists(bHandoffs)
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
	err = s.db.Batch(func(tx *bbolt.Tx) error {
		b, err := s.handoffs(tx)
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
		b, err := s.handoffs(tx)
		if err != nil {
			return err
		}
		return b.Delete([]byte(openID))
	})
	if err != nil {
		return fmt.Errorf("store %s: ending a handoff: %w", s.path, err)
	}
	return nil
}

// Handoffs implements store.HandoffIndex. A damaged record is skipped: it
// ends with its handoff's timeout.
func (s *Bolt) Handoffs(context.Context) ([]store.Handoff, error) {
	now := s.now()
	var out []store.Handoff
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bHandoffs)
		if s.root != nil {
			b = tx.Bucket(s.root).Bucket(bHandoffs)
		}
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

var _ store.HandoffIndex = (*Bolt)(nil)

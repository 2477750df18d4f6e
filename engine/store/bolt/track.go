package bolt

import (
	"context"
	"encoding/json"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/wxbot/wxbot/engine/outbox"
)

// bKeys holds the send API's idempotency keys: key → end ‖ fingerprint
// (see withEnd). It is made when first written: an account's buckets made
// by an older wxbot lack it.
var bKeys = []byte("api_keys")

// idDropped is the state of a send ID an operator dropped: known, so that
// the send is not enqueued again, and not delivered (Track says dead).
const idDropped byte = 'r'

// RememberKey implements store.IdempotencyKeys: committed before it
// returns.
func (s *Bolt) RememberKey(_ context.Context, key, fingerprint string, ttl time.Duration) (string, error) {
	now := s.now()
	var first string
	err := s.db.Batch(func(tx *bbolt.Tx) error {
		first = "" // Batch may run this again
		b, err := s.madeBucket(tx, bKeys)
		if err != nil {
			return err
		}
		if v, ok := liveValue(b.Get([]byte(key)), now); ok {
			first = string(v)
			return nil
		}
		return b.Put([]byte(key), withEnd(now.Add(ttl), []byte(fingerprint)))
	})
	if err != nil {
		return "", err
	}
	return first, nil
}

// pruneKeys drops expired idempotency keys (from prune).
func (s *Bolt) pruneKeys(tx *bbolt.Tx, now time.Time) {
	if b, err := s.madeBucket(tx, bKeys); err == nil {
		pruneBucket(b, func(v []byte) bool { _, ok := liveValue(v, now); return !ok })
	}
}

// Track implements outbox.Tracker from the send IDs' states; a dead send's
// reason is its newest dead letter's.
func (s *Bolt) Track(_ context.Context, id string) (outbox.Status, error) {
	var st outbox.Status
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := s.bucket(tx, bIDs).Get([]byte(id))
		if len(v) == 0 {
			return nil
		}
		switch v[0] {
		case idPending:
			st.State = outbox.Pending
		case idDone:
			st.State = outbox.Sent
		case idDropped:
			st = outbox.Status{State: outbox.Dead, Reason: outbox.DroppedReason}
		case idDead:
			st = outbox.Status{State: outbox.Dead, Reason: s.deadReason(tx, id)}
		}
		return nil
	})
	return st, err
}

// deadReason is the reason of the newest dead letter of the send id, ""
// when none is kept.
func (s *Bolt) deadReason(tx *bbolt.Tx, id string) string {
	c := s.bucket(tx, bDead).Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		var d outbox.DeadLetter
		if json.Unmarshal(v, &d) == nil && d.Send != nil && d.Send.ID == id {
			return d.Reason
		}
	}
	return ""
}

var _ outbox.Tracker = (*Bolt)(nil)

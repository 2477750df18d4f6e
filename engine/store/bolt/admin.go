package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"

	bbolt "go.etcd.io/bbolt"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
)

// PendingSends implements outbox.Admin: the cursor is a Seq. Entries that
// do not decode are left out (Due dead-letters them).
func (s *Bolt) PendingSends(_ context.Context, after string, limit int) ([]*outbox.Send, string, error) {
	from, err := store.SeqCursor(after)
	if err != nil {
		return nil, "", err
	}
	var out []*outbox.Send
	next := ""
	err = s.db.View(func(tx *bbolt.Tx) error {
		c := s.bucket(tx, bOutbox).Cursor()
		for k, v := c.Seek(seqKey(from + 1)); k != nil; k, v = c.Next() {
			var snd outbox.Send
			if json.Unmarshal(v, &snd) != nil {
				continue
			}
			if len(out) == limit {
				next = strconv.FormatUint(out[len(out)-1].Seq, 10)
				return nil
			}
			out = append(out, &snd)
		}
		return nil
	})
	return out, next, err
}

// deadKeys finds the dead letters of the send id in tx.
func (s *Bolt) deadKeys(tx *bbolt.Tx, id string) (keys [][]byte, last *outbox.Send) {
	if id == "" {
		return nil, nil
	}
	s.bucket(tx, bDead).ForEach(func(k, v []byte) error {
		var d outbox.DeadLetter
		if json.Unmarshal(v, &d) == nil && d.Send != nil && d.Send.ID == id {
			keys = append(keys, bytes.Clone(k))
			last = d.Send
		}
		return nil
	})
	return keys, last
}

// retryDead moves the dead letter id back to the outbox in tx.
func (s *Bolt) retryDead(tx *bbolt.Tx, id string) (bool, error) {
	keys, snd := s.deadKeys(tx, id)
	if snd == nil {
		return false, nil
	}
	for _, k := range keys {
		if err := s.bucket(tx, bDead).Delete(k); err != nil {
			return false, err
		}
	}
	ob := s.bucket(tx, bOutbox)
	seq, err := ob.NextSequence()
	if err != nil {
		return false, err
	}
	now := s.now()
	c := store.Revived(snd, now)
	c.Seq = seq
	b, err := json.Marshal(c)
	if err != nil {
		return false, err
	}
	if err := ob.Put(seqKey(seq), b); err != nil {
		return false, err
	}
	return true, s.bucket(tx, bIDs).Put([]byte(id), idState(idPending, now))
}

// RetryDead implements outbox.Admin, in one transaction.
func (s *Bolt) RetryDead(_ context.Context, id string) (bool, error) {
	var ok bool
	err := s.db.Update(func(tx *bbolt.Tx) (err error) {
		ok, err = s.retryDead(tx, id)
		return err
	})
	return ok && err == nil, err
}

// RetryAllDead implements outbox.Admin, in one transaction.
func (s *Bolt) RetryAllDead(context.Context) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		var ids []string
		seen := map[string]bool{}
		s.bucket(tx, bDead).ForEach(func(_, v []byte) error {
			var d outbox.DeadLetter
			if json.Unmarshal(v, &d) == nil && d.Send != nil && d.Send.ID != "" && !seen[d.Send.ID] {
				seen[d.Send.ID] = true
				ids = append(ids, d.Send.ID)
			}
			return nil
		})
		for _, id := range ids {
			ok, err := s.retryDead(tx, id)
			if err != nil {
				return err
			}
			if ok {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Drop implements outbox.Admin, in one transaction. A dropped send's ID is
// marked dropped, so that a retried push does not bring it back and Track
// does not call it sent.
func (s *Bolt) Drop(_ context.Context, id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	found := false
	err := s.db.Update(func(tx *bbolt.Tx) error {
		keys, _ := s.deadKeys(tx, id)
		for _, k := range keys {
			if err := s.bucket(tx, bDead).Delete(k); err != nil {
				return err
			}
			found = true
		}
		if found {
			if err := s.bucket(tx, bIDs).Put([]byte(id), idState(idDropped, s.now())); err != nil {
				return err
			}
		}
		ob := s.bucket(tx, bOutbox)
		var pend [][]byte
		ob.ForEach(func(k, v []byte) error {
			var snd outbox.Send
			if json.Unmarshal(v, &snd) == nil && snd.ID == id {
				pend = append(pend, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range pend {
			if err := ob.Delete(k); err != nil {
				return err
			}
			found = true
		}
		if len(pend) > 0 {
			return s.bucket(tx, bIDs).Put([]byte(id), idState(idDropped, s.now()))
		}
		return nil
	})
	return found && err == nil, err
}

var _ outbox.Admin = (*Bolt)(nil)

package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wxbot/wxbot/engine/store"
	bbolt "go.etcd.io/bbolt"
)

// The store.AIStore buckets. Every value starts with its end (8 bytes, Unix
// nanoseconds, big-endian), so that prune drops expired ones unread;
// the rest is JSON (turns, held replies) or a count (8 bytes).
var (
	bAITurns = []byte("ai_turns") // openid → end ‖ JSON []store.Turn
	bAIQuota = []byte("ai_quota") // key → end ‖ count
	bHeld    = []byte("held")     // openid → end ‖ JSON [][]byte
)

// aiBuckets are created at open.
var aiBuckets = [][]byte{bAITurns, bAIQuota, bHeld}

func withEnd(end time.Time, rest []byte) []byte {
	b := make([]byte, 8, 8+len(rest))
	binary.BigEndian.PutUint64(b, uint64(end.UnixNano()))
	return append(b, rest...)
}

// liveValue returns v's payload when v is well formed and its end is
// after now.
func liveValue(v []byte, now time.Time) ([]byte, bool) {
	if len(v) < 8 || !now.Before(time.Unix(0, int64(binary.BigEndian.Uint64(v)))) {
		return nil, false
	}
	return v[8:], true
}

// pruneAI drops expired store.AIStore entries (from prune).
func (s *Bolt) pruneAI(tx *bbolt.Tx, now time.Time) {
	for _, b := range aiBuckets {
		pruneBucket(s.bucket(tx, b), func(v []byte) bool { _, ok := liveValue(v, now); return !ok })
	}
}

// AITurns implements store.AIStore.
func (s *Bolt) AITurns(_ context.Context, openID string) ([]store.Turn, error) {
	var turns []store.Turn
	err := s.db.View(func(tx *bbolt.Tx) error {
		v, ok := liveValue(s.bucket(tx, bAITurns).Get([]byte(openID)), s.now())
		if !ok {
			return nil
		}
		return json.Unmarshal(v, &turns)
	})
	if err != nil {
		return nil, fmt.Errorf("reading the AI history: %w", err)
	}
	return turns, nil
}

// AddAITurn implements store.AIStore: committed before it returns.
func (s *Bolt) AddAITurn(_ context.Context, openID string, t store.Turn, keep int, ttl time.Duration) error {
	now := s.now()
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := s.bucket(tx, bAITurns)
		var turns []store.Turn
		if v, ok := liveValue(b.Get([]byte(openID)), now); ok {
			if err := json.Unmarshal(v, &turns); err != nil {
				turns = nil // a damaged history starts again rather than blocking answers
			}
		}
		turns = append(turns, t)
		if k := store.KeepTurns(keep); len(turns) > k {
			turns = turns[len(turns)-k:]
		}
		raw, err := json.Marshal(turns)
		if err != nil {
			return err
		}
		return b.Put([]byte(openID), withEnd(now.Add(ttl), raw))
	})
}

// TakeAIQuota implements store.AIStore: committed before it returns.
func (s *Bolt) TakeAIQuota(_ context.Context, key string, limit int, ttl time.Duration) (bool, error) {
	now := s.now()
	taken := false
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := s.bucket(tx, bAIQuota)
		end, n := now.Add(ttl), uint64(0)
		if raw := b.Get([]byte(key)); raw != nil {
			if v, ok := liveValue(raw, now); ok && len(v) == 8 {
				end, n = time.Unix(0, int64(binary.BigEndian.Uint64(raw))), binary.BigEndian.Uint64(v)
			}
		}
		if n >= uint64(limit) {
			return nil
		}
		taken = true
		return b.Put([]byte(key), withEnd(end, binary.BigEndian.AppendUint64(nil, n+1)))
	})
	return taken, err
}

// HoldReply implements store.AIStore: committed before it returns, so a held
// answer survives a restart.
func (s *Bolt) HoldReply(_ context.Context, openID string, reply []byte, ttl time.Duration) error {
	now := s.now()
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := s.bucket(tx, bHeld)
		replies := heldIn(b, openID, now)
		replies = append(replies, reply)
		if len(replies) > store.MaxHeldReplies {
			replies = replies[len(replies)-store.MaxHeldReplies:]
		}
		raw, err := json.Marshal(replies)
		if err != nil {
			return err
		}
		return b.Put([]byte(openID), withEnd(now.Add(ttl), raw))
	})
}

// TakeHeldReply implements store.AIStore. It is asked on every push of an
// account without the kefu API: a read finds that there is nothing, and
// only a user with held replies costs a write.
func (s *Bolt) TakeHeldReply(_ context.Context, openID string) ([]byte, error) {
	now := s.now()
	var found bool
	s.db.View(func(tx *bbolt.Tx) error {
		found = s.bucket(tx, bHeld).Get([]byte(openID)) != nil
		return nil
	})
	if !found {
		return nil, nil
	}
	var first []byte
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := s.bucket(tx, bHeld)
		v := b.Get([]byte(openID))
		if v == nil {
			return nil
		}
		replies := heldIn(b, openID, now)
		if len(replies) == 0 {
			return b.Delete([]byte(openID))
		}
		first = replies[0]
		if len(replies) == 1 {
			return b.Delete([]byte(openID))
		}
		raw, err := json.Marshal(replies[1:])
		if err != nil {
			return err
		}
		return b.Put([]byte(openID), append(append([]byte(nil), v[:8]...), raw...))
	})
	return first, err
}

// heldIn reads a user's held replies; a damaged entry reads as none.
func heldIn(b *bbolt.Bucket, openID string, now time.Time) [][]byte {
	v, ok := liveValue(b.Get([]byte(openID)), now)
	if !ok {
		return nil
	}
	var replies [][]byte
	if json.Unmarshal(v, &replies) != nil {
		return nil
	}
	return replies
}

// ForgetAI implements store.AIStore.
func (s *Bolt) ForgetAI(_ context.Context, openID string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		if err := s.bucket(tx, bAITurns).Delete([]byte(openID)); err != nil {
			return err
		}
		return s.bucket(tx, bHeld).Delete([]byte(openID))
	})
}

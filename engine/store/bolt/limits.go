package bolt

import (
	"encoding/binary"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/wxbot/wxbot/engine/store"
)

// bLimits keeps the rules' limit counts: LimitKey → end (unix ns) ‖ count,
// 16 bytes. It is made when first written: a file, or an account's
// buckets, made by an older wxbot lack it. The counts are taken in memory
// (store.LimitCounter) and written behind with the windows and cooldowns,
// so that a coupon limited to once a day is not given again because the
// bot restarted; a crash loses at most the last half second's counts.
var bLimits = []byte("limits")

// boltLimits are the limit counts in memory and those not yet written.
type boltLimits struct {
	store.LimitCounter
	mu       sync.Mutex
	dirty    map[string]store.LimitEntry
	prunedAt time.Time
}

// take counts a firing (see store.Cooldowns.TakeLimit) and marks its
// window to be written.
func (l *boltLimits) take(now time.Time, key string, count int, per time.Duration) bool {
	ok, e := l.TakeCounted(now, key, count, per)
	l.mu.Lock()
	if l.dirty == nil {
		l.dirty = map[string]store.LimitEntry{}
	}
	l.dirty[e.Key] = e
	l.mu.Unlock()
	return ok
}

// flushLimits writes the counts taken since the last flush, and drops the
// windows over from the bucket once an hour.
func (s *Bolt) flushLimits() {
	now := s.now()
	l := &s.limits
	l.mu.Lock()
	dirty := l.dirty
	l.dirty = nil
	prune := now.Sub(l.prunedAt) > time.Hour
	if prune {
		l.prunedAt = now
	}
	l.mu.Unlock()
	if len(dirty) == 0 && !prune {
		return
	}
	s.db.Update(func(tx *bbolt.Tx) error {
		b, err := s.madeBucket(tx, bLimits)
		if err != nil {
			return err
		}
		if prune {
			pruneBucket(b, func(v []byte) bool { return len(v) != 16 || !now.Before(limitEnd(v)) })
		}
		for k, e := range dirty {
			v := make([]byte, 16)
			binary.BigEndian.PutUint64(v, uint64(e.End.UnixNano()))
			binary.BigEndian.PutUint64(v[8:], uint64(e.N))
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

func limitEnd(v []byte) time.Time { return time.Unix(0, int64(binary.BigEndian.Uint64(v))) }

// loadLimits reads the counts of the windows not over into memory.
func (s *Bolt) loadLimits(now time.Time) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		b := s.bucket(tx, bLimits)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(v) == 16 {
				s.limits.Restore(now, store.LimitEntry{Key: string(k), N: int(binary.BigEndian.Uint64(v[8:])), End: limitEnd(v)})
			}
			return nil
		})
	})
}

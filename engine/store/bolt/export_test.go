package bolt

import (
	"fmt"

	"github.com/wxbot/wxbot/engine/store"
	bbolt "go.etcd.io/bbolt"
)

// CrashClose closes the file without writing the hot state behind, as a
// kill -9 would leave it.
func (s *Bolt) CrashClose() error {
	for _, v := range append(s.views, s) {
		v.crash = true
		close(v.stop)
		<-v.flushed
	}
	return s.db.Close()
}

// IDRetention is how long delivered send IDs are remembered.
const IDRetention = store.IDRetention

// Flush writes the hot state behind now.
func (s *Bolt) Flush() { s.flush() }

// TickFiles closes and removes the files beside the bbolt file as the
// half-second tick does.
func (s *Bolt) TickFiles() { s.tickLogs() }

// KeepFor is the bytes of records the files beside the bbolt file keep for
// a memory budget.
func KeepFor(budget int) int64 { return keepFor(budget) }

// SegmentBytes is the size at which a file of records is closed, for a
// memory budget.
func SegmentBytes(budget int) int64 { return max(keepFor(budget)/4, minSegment) }

// Prune drops expired state now, as the hourly prune does.
func (s *Bolt) Prune() { s.prune() }

// BoltBuckets are the buckets' names, for BucketKeys and PutRaw.
var BoltBuckets = struct{ Outbox, IDs, Dead, Windows, Cooldowns, Once string }{
	string(bOutbox), string(bIDs), string(bDead), string(bWindows), string(bCooldowns), string(bOnce)}

// BucketKeys lists the keys on disk in a bucket.
func (s *Bolt) BucketKeys(bucket string) []string {
	var keys []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucket)).ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	if err != nil {
		panic(err)
	}
	return keys
}

// PutRaw writes a value into a bucket as is, bypassing the store (to plant
// damage).
func (s *Bolt) PutRaw(bucket string, key, value []byte) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return fmt.Errorf("no bucket %q", bucket)
		}
		return b.Put(key, value)
	})
}

// SeqKey is the outbox's key for a sequence number.
func SeqKey(seq uint64) []byte { return seqKey(seq) }

// FullyChecked reports whether the open ran the full consistency check
// (it does when the last shutdown was not clean).
func (s *Bolt) FullyChecked() bool { return s.fullCheck }

package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/wxbot/wxbot/engine/store"
)

// bTallies holds the store.Tallies: a bucket per day, named as the day
// (20261206), so that the days sort by date and the forgotten ones are
// the first; in a day's bucket, per (kind, name) its count, and per kind
// how many names it has (tallyKey), so that the cap costs one read. It is
// made when first written: a file, or an account's buckets, made by an
// older wxbot lack it.
var bTallies = []byte("tallies")

// The keys of a day's bucket are uvarint(len(kind)) ‖ kind ‖ tag ‖ name:
// the kind's length keeps apart kinds and names whatever bytes they hold.
const (
	tagCount byte = 0 // ‖ name → the name's count
	tagNames byte = 1 // (no name) → how many names the kind has
)

// tallyKey is the key of tag for kind and name in a day's bucket.
func tallyKey(kind string, tag byte, name string) []byte {
	k := make([]byte, 0, binary.MaxVarintLen64+len(kind)+1+len(name))
	k = binary.AppendUvarint(k, uint64(len(kind)))
	k = append(k, kind...)
	k = append(k, tag)
	return append(k, name...)
}

// parseTallyKey reads a key of a day's bucket; false when it is no
// tallyKey.
func parseTallyKey(k []byte) (kind string, tag byte, name string, ok bool) {
	n, w := binary.Uvarint(k)
	if w <= 0 || uint64(len(k)-w) <= n {
		return "", 0, "", false
	}
	rest := k[w+int(n):]
	return string(k[w : w+int(n)]), rest[0], string(rest[1:]), true
}

// tallyValue encodes a count; readTally decodes one, 0 when damaged.
func tallyValue(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func readTally(v []byte) int64 {
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// AddTallies implements store.Tallies: committed before it returns, in
// one commit with the other writers of the moment (Batch). A batch with an
// invalid counter is refused whole; a count ≤ 0, or of a day already
// forgotten, is left out. The forgotten days leave the file at each add.
func (s *Bolt) AddTallies(_ context.Context, counts []store.Tally) error {
	if err := store.CheckTallies(counts); err != nil {
		return err
	}
	now := s.now()
	err := s.db.Batch(func(tx *bbolt.Tx) error {
		b, err := s.madeBucket(tx, bTallies)
		if err != nil {
			return err
		}
		if err := dropTallyDays(b, now); err != nil {
			return err
		}
		days := map[string]*bbolt.Bucket{}
		for _, t := range counts {
			if t.N <= 0 || store.TallyExpired(t.Day, now) {
				continue
			}
			d := days[t.Day]
			if d == nil {
				if d, err = b.CreateBucketIfNotExists([]byte(t.Day)); err != nil {
					return err
				}
				days[t.Day] = d
			}
			if err := addTally(d, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store %s: adding the daily counters: %w", s.path, err)
	}
	return nil
}

// addTally adds t to its counter in the day's bucket d, unless its name
// is new to a kind that has store.MaxTallyNames already.
func addTally(d *bbolt.Bucket, t store.Tally) error {
	k := tallyKey(t.Kind, tagCount, t.Name)
	v := d.Get(k)
	if v == nil {
		nk := tallyKey(t.Kind, tagNames, "")
		names := readTally(d.Get(nk))
		if names >= store.MaxTallyNames {
			return nil
		}
		if err := d.Put(nk, tallyValue(names+1)); err != nil {
			return err
		}
	}
	return d.Put(k, tallyValue(readTally(v)+t.N))
}

// dropTallyDays deletes the days past store.TallyRetention: they come
// first, the days' names sorting by date.
func dropTallyDays(b *bbolt.Bucket, now time.Time) error {
	type old struct {
		k      []byte
		bucket bool
	}
	var drop []old
	c := b.Cursor()
	for k, v := c.First(); k != nil && store.TallyExpired(string(k), now); k, v = c.Next() {
		drop = append(drop, old{bytes.Clone(k), v == nil})
	}
	for _, o := range drop {
		del := b.Delete
		if o.bucket {
			del = b.DeleteBucket
		}
		if err := del(o.k); err != nil {
			return err
		}
	}
	return nil
}

// ReadTallies implements store.Tallies, ordered by kind, then name. A
// damaged key is skipped.
func (s *Bolt) ReadTallies(_ context.Context, day string) ([]store.Tally, error) {
	if err := store.CheckTallyDay(day); err != nil {
		return nil, err
	}
	if store.TallyExpired(day, s.now()) { // not deleted until the next add
		return nil, nil
	}
	var out []store.Tally
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := s.bucket(tx, bTallies)
		if b == nil {
			return nil
		}
		if b = b.Bucket([]byte(day)); b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if kind, tag, name, ok := parseTallyKey(k); ok && tag == tagCount && v != nil {
				out = append(out, store.Tally{Day: day, Kind: kind, Name: name, N: readTally(v)})
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: reading the daily counters of %s: %w", s.path, day, err)
	}
	store.SortTallies(out)
	return out, nil
}

var _ store.Tallies = (*Bolt)(nil)

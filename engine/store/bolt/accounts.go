package bolt

import (
	"fmt"
	"hash/maphash"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/wxbot/wxbot/engine/dedup"
	"github.com/wxbot/wxbot/engine/store"
)

// Several Official Accounts share one bbolt file: each account's buckets
// live in a bucket of its own, "account:APPID", so that no key of one
// account can meet another's, and a bot without --accounts keeps the
// file's top level as before (a file from an older wxbot opens as it was).
// A view has its own hot state (windows, cooldowns), answers' files and
// write-behind, and shares the file, its lock and its fsyncs.

// accountBuckets are the buckets an account has; bMeta is the file's.
func accountBuckets() [][]byte {
	return append([][]byte{bOutbox, bIDs, bDead, bWindows, bCooldowns, bOnce, bUsers}, aiBuckets...)
}

// bucket is this store's bucket name: at the file's top level, or inside
// the account's bucket.
func (s *Bolt) bucket(tx *bbolt.Tx, name []byte) *bbolt.Bucket {
	if s.root == nil {
		return tx.Bucket(name)
	}
	return tx.Bucket(s.root).Bucket(name)
}

// madeBucket is bucket in a writable tx, made if absent: the buckets newer
// than the file or the account's buckets (a file made by an older wxbot
// lacks them).
func (s *Bolt) madeBucket(tx *bbolt.Tx, name []byte) (*bbolt.Bucket, error) {
	if s.root == nil {
		return tx.CreateBucketIfNotExists(name)
	}
	return tx.Bucket(s.root).CreateBucketIfNotExists(name)
}

// Account returns the store of one account in this file, creating its
// buckets the first time. The view is closed with s (or before, by its own
// Close, which leaves the file open). appID must be non-empty; the same
// appID twice gives two views of the same buckets, which the caller must
// not run at once.
func (s *Bolt) Account(appID string) (*Bolt, error) {
	if appID == "" {
		return nil, fmt.Errorf("store %s: an account view needs an AppID", s.path)
	}
	if !s.owner {
		return nil, fmt.Errorf("store %s: an account view of an account view", s.path)
	}
	root := []byte("account:" + appID)
	exists := false
	s.db.View(func(tx *bbolt.Tx) error {
		exists = tx.Bucket(root) != nil
		return nil
	})
	// The first start of many accounts creates their buckets together:
	// Batch shares one commit (one fsync) between concurrent callers.
	err := s.db.Batch(func(tx *bbolt.Tx) error {
		if exists {
			return nil
		}
		r, err := tx.CreateBucketIfNotExists(root)
		if err != nil {
			return err
		}
		for _, b := range accountBuckets() {
			if _, err := r.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: the buckets of account %s: %w", s.path, appID, err)
	}
	v := newBolt(s.path, s.now)
	v.db, v.root = s.db, root
	v.setFiles(s.path + "." + appID)
	if err := v.loadHot(); err != nil {
		return nil, fmt.Errorf("store %s: account %s: %w", s.path, appID, err)
	}
	s.mu.Lock()
	s.views = append(s.views, v)
	s.mu.Unlock()
	go v.flushLoop()
	return v, nil
}

// Accounts lists the AppIDs that have buckets in the file (Account), for
// a caller that must reach every account's sends: a spool that another
// process left.
func (s *Bolt) Accounts() ([]string, error) {
	var ids []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			if id, ok := strings.CutPrefix(string(name), "account:"); ok && id != "" {
				ids = append(ids, id)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: listing its accounts: %w", s.path, err)
	}
	return ids, nil
}

// newBolt is a store's state before its file is open.
func newBolt(path string, now func() time.Time) *Bolt {
	s := &Bolt{path: path, now: now, windows: map[uint64]window{}, seed: maphash.MakeSeed(),
		cooldowns: map[string]time.Time{}, dirtyW: map[string]bool{}, dirtyC: map[string]bool{},
		stop: make(chan struct{}), flushed: make(chan struct{}), flushNow: make(chan struct{}, 1)}
	s.setFiles(path)
	return s
}

// setFiles names the files beside the bbolt file (prefix.answers.*,
// prefix.queries.*); until a backend gives the memories' budgets, they
// keep what the default budgets hold.
func (s *Bolt) setFiles(prefix string) {
	s.answerLog.prefix, s.answerLog.span, s.answerLog.read = prefix+".answers", answerSegment, readAnswer
	s.queryLog.prefix, s.queryLog.span, s.queryLog.read = prefix+".queries", querySegment, readQuery
	s.answerLog.keep, s.queryLog.keep = keepFor(dedup.DefaultBytes), keepFor(store.DefaultReplayMemory)
}

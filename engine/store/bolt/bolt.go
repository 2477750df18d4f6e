package bolt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
)

var (
	bOutbox    = []byte("outbox")    // seq → Send
	bIDs       = []byte("ids")       // send ID → state byte + unix seconds
	bDead      = []byte("dead")      // seq → DeadLetter
	bWindows   = []byte("windows")   // openid → window
	bCooldowns = []byte("cooldowns") // key → end, unix nanoseconds
	bOnce      = []byte("once")      // key → end, unix nanoseconds
	bMeta      = []byte("meta")      // the store's own state: kShutdown
)

// kShutdown in bMeta says how the store was last left: shutClean, written
// by Close after the final flush, or shutRunning, written at every open.
// Anything else (a crash, a kill -9, a file from before the marker) makes
// the next open run the full consistency check.
var (
	kShutdown   = []byte("shutdown")
	shutClean   = []byte("clean")
	shutRunning = []byte("running")
)

// Send ID states, kept so that a send enqueued again (a WeChat retry after a
// restart) is recognised.
const (
	idPending byte = 'p'
	idDone    byte = 'd'
	idDead    byte = 'x'
)

// Bolt is the embedded store. Open it with OpenFile (or the bolt: driver, Open); only one process can
// hold it at a time.
type Bolt struct {
	db   *bbolt.DB
	path string
	now  func() time.Time
	// root is the bucket this account's buckets live in: nil for the
	// file's top level (the one account of a bot without --accounts),
	// "account:APPID" for an account view (Account), whose files beside
	// the bbolt file are PATH.APPID.* (setFiles).
	root []byte
	// views are the account views made from this store, closed with it;
	// owner is false for a view, which leaves the file to its owner.
	views []*Bolt
	owner bool

	mu sync.Mutex
	// windows are keyed by a hash of the OpenID and hold no pointers, so
	// the collector never scans them, however many followers there are;
	// dirtyW names the ones to write behind.
	windows   map[uint64]window
	seed      maphash.Seed
	cooldowns map[string]time.Time
	dirtyW    map[string]bool
	dirtyC    map[string]bool
	nonces    store.QueryMemory // signed query strings seen (RememberQuery)

	limits boltLimits // rules' limit: counted in memory, written behind

	// The answers kept for retries and the replay window's query strings,
	// to write behind to the files beside the bbolt file (segLog).
	answers, queries    recordBuffer
	answerLog, queryLog segLog

	stop     chan struct{}
	flushed  chan struct{}
	flushNow chan struct{} // the answers to write reached answerFlushBytes
	crash    bool          // tests: skip the final flush, as a kill -9 would

	fullCheck bool // the open ran the full consistency check (tests)
	hints     handoffHints
}

// window is a user's kefu window: its end, without pointers (Unix
// milliseconds). On disk it is 12 bytes: 4 that once held a send count
// (WeChat decides how many sends a window takes, see engine.KefuWindows;
// written as zero, ignored when read) and the end (uint64).
type window struct {
	Until int64
	saved int64 // the Until last written (write-behind skips small moves)
}

func (w window) encode() []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint64(b[4:], uint64(w.Until))
	return b
}

func decodeWindow(v []byte) (window, bool) {
	if len(v) != 12 {
		return window{}, false
	}
	u := int64(binary.BigEndian.Uint64(v[4:]))
	return window{Until: u, saved: u}, true
}

func (s *Bolt) hash(openID string) uint64 { return maphash.String(s.seed, openID) }

// shortWindow is the validity below which a window is not written behind:
// a click's one-minute window is gone before a restart would need it (a
// send it carries is written with the send, see Enqueue).
const shortWindow = 5 * time.Minute

// resaveAfter is how far a window's end may move before it is written
// again: a user's every message moves the 48-hour end, and persisting each
// move would cost a write per push for a difference nobody needs.
const resaveAfter = 10 * time.Minute

// OpenFileWaiting is OpenFile waiting at most wait for another process to
// release the file (a wait under 50 ms tries once): past it, the error
// wraps ErrLocked.
func OpenFileWaiting(path string, now func() time.Time, wait time.Duration) (*Bolt, error) {
	if now == nil {
		now = time.Now
	}
	wait = max(wait, time.Nanosecond) // bbolt waits forever on 0
	full, err := checkBolt(path, wait)
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("store %s is %w (another wxbot?): %w", path, ErrLocked, err)
		}
		if errors.Is(err, errDamaged) {
			return nil, err
		}
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	s := newBolt(path, now)
	s.owner, s.fullCheck = true, full
	// What the start reads is read under guard too: after a clean shutdown
	// checkBolt skipped the full check, and a page scribbled since then
	// must be an error here, not a crash. err is what bbolt returned;
	// panicked, a panic or a fault in it.
	panicked := guard(func() error {
		err = s.open(wait)
		return nil
	})
	if panicked != nil || err != nil {
		if s.db != nil {
			guard(s.db.Close) // after a panic bbolt has rolled its transaction back
		}
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("store %s is %w (another wxbot?): %w", path, ErrLocked, err)
		}
		if panicked != nil {
			return nil, damagedError(path, panicked.Error())
		}
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	go s.flushLoop()
	return s, nil
}

// open opens s.path for OpenFile: the buckets, the shutdown marker set to
// running (so that a crash from now on is known at the next open), the hot
// state, and a read of the outbox (the first thing the outbox will read).
func (s *Bolt) open(wait time.Duration) error {
	db, err := bbolt.Open(s.path, 0o600, &bbolt.Options{Timeout: wait})
	if err != nil {
		return err
	}
	db.MaxBatchDelay = 2 * time.Millisecond
	s.db = db
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range append(accountBuckets(), bMeta) {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put(kShutdown, shutRunning)
	})
	if err != nil {
		return err
	}
	if err := s.loadHot(); err != nil {
		return err
	}
	return db.View(func(tx *bbolt.Tx) error { return readBucket(s.bucket(tx, bOutbox)) })
}

// loadHot reads the unexpired windows, cooldowns and limits into memory.
func (s *Bolt) loadHot() error {
	now := s.now()
	return cmp.Or(s.loadLimits(now), s.db.View(func(tx *bbolt.Tx) error {
		err := s.bucket(tx, bWindows).ForEach(func(k, v []byte) error {
			if w, ok := decodeWindow(v); ok && now.UnixMilli() < w.Until {
				s.windows[s.hash(string(k))] = w
			}
			return nil
		})
		if err != nil {
			return err
		}
		return s.bucket(tx, bCooldowns).ForEach(func(k, v []byte) error {
			if len(v) == 8 {
				if end := time.Unix(0, int64(binary.BigEndian.Uint64(v))); now.Before(end) {
					s.cooldowns[string(k)] = end
				}
			}
			return nil
		})
	}))
}

// flushLoop writes dirty windows and cooldowns behind, and prunes old state.
func (s *Bolt) flushLoop() {
	defer close(s.flushed)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	prune := time.Now()
	for {
		select {
		case <-s.stop:
			if !s.crash {
				s.flush()
			}
			return
		case <-s.flushNow:
			s.flush()
		case <-t.C:
			s.flush()
			s.tickLogs()
			if time.Since(prune) > time.Hour {
				s.prune()
				prune = time.Now()
			}
		}
	}
}

func (s *Bolt) flush() {
	// Only the flush goroutine writes the files (tests' Flush aside: the
	// logs lock).
	writeBehind(&s.answers, &s.answerLog, s.now())
	writeBehind(&s.queries, &s.queryLog, s.now())
	s.flushLimits()
	s.mu.Lock()
	if len(s.dirtyW) == 0 && len(s.dirtyC) == 0 {
		s.mu.Unlock()
		return
	}
	ws := make(map[string][]byte, len(s.dirtyW))
	for k := range s.dirtyW {
		h := s.hash(k)
		if w, ok := s.windows[h]; ok {
			ws[k] = w.encode()
			w.saved = w.Until
			s.windows[h] = w
		}
	}
	cs := make(map[string][]byte, len(s.dirtyC))
	for k := range s.dirtyC {
		b := make([]byte, 8)
		binary.BigEndian.PutUint64(b, uint64(s.cooldowns[k].UnixNano()))
		cs[k] = b
	}
	s.dirtyW, s.dirtyC = emptied(s.dirtyW), emptied(s.dirtyC)
	s.mu.Unlock()
	if len(ws) == 0 && len(cs) == 0 {
		return
	}
	s.db.Update(func(tx *bbolt.Tx) error {
		for k, v := range ws {
			s.bucket(tx, bWindows).Put([]byte(k), v)
		}
		for k, v := range cs {
			s.bucket(tx, bCooldowns).Put([]byte(k), v)
		}
		return nil
	})
}

// tickLogs closes the files beside the bbolt file that are old enough and
// removes those no longer needed, push or no push.
func (s *Bolt) tickLogs() {
	s.answerLog.tick(s.now())
	s.queryLog.tick(s.now())
}

// prune drops expired windows and cooldowns and forgets old send IDs.
func (s *Bolt) prune() {
	now := s.now()
	s.mu.Lock()
	for h, w := range s.windows {
		if now.UnixMilli() >= w.Until {
			delete(s.windows, h)
		}
	}
	for k, end := range s.cooldowns {
		if !now.Before(end) {
			delete(s.cooldowns, k)
		}
	}
	s.mu.Unlock()
	expired := func(v []byte) bool {
		return len(v) != 8 || !now.Before(time.Unix(0, int64(binary.BigEndian.Uint64(v))))
	}
	s.db.Update(func(tx *bbolt.Tx) error {
		pruneBucket(s.bucket(tx, bWindows), func(v []byte) bool {
			w, ok := decodeWindow(v)
			return !ok || now.UnixMilli() >= w.Until
		})
		pruneBucket(s.bucket(tx, bCooldowns), expired)
		pruneBucket(s.bucket(tx, bOnce), expired)
		pruneBucket(s.bucket(tx, bUsers), userExpired(now))
		s.pruneAI(tx, now)
		s.pruneKeys(tx, now)
		pruneBucket(s.bucket(tx, bIDs), func(v []byte) bool {
			return len(v) == 9 && v[0] != idPending && now.Sub(time.Unix(int64(binary.BigEndian.Uint64(v[1:])), 0)) > store.IDRetention
		})
		return nil
	})
}

// pruneBucket deletes the keys whose values drop says are stale (collected
// first: a bucket must not change under its own ForEach).
func pruneBucket(b *bbolt.Bucket, drop func(v []byte) bool) {
	var keys [][]byte
	b.ForEach(func(k, v []byte) error {
		if drop(v) {
			keys = append(keys, append([]byte(nil), k...))
		}
		return nil
	})
	for _, k := range keys {
		b.Delete(k)
	}
}

// ClaimOnce implements store.Store: committed before it returns.
func (s *Bolt) ClaimOnce(_ context.Context, key string, ttl time.Duration) (bool, error) {
	now := s.now()
	first := false
	err := s.db.Batch(func(tx *bbolt.Tx) error {
		b := s.bucket(tx, bOnce)
		if v := b.Get([]byte(key)); len(v) == 8 && now.Before(time.Unix(0, int64(binary.BigEndian.Uint64(v)))) {
			first = false
			return nil
		}
		first = true
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, uint64(now.Add(ttl).UnixNano()))
		return b.Put([]byte(key), v)
	})
	return first, err
}

// TakeCooldown implements store.Store.
func (s *Bolt) TakeCooldown(_ context.Context, key string, ttl time.Duration) (bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if end, ok := s.cooldowns[key]; ok && now.Before(end) {
		return false, nil
	}
	s.cooldowns[key] = now.Add(ttl)
	s.dirtyC[key] = true // key is built by concatenation: it pins nothing
	return true, nil
}

// TakeLimit implements store.Store; see limits.
func (s *Bolt) TakeLimit(_ context.Context, key string, count int, per time.Duration) (bool, error) {
	return s.limits.take(s.now(), key, count, per), nil
}

// OpenWindow implements store.Store.
func (s *Bolt) OpenWindow(_ context.Context, openID string, until time.Time) error {
	now := s.now()
	h := s.hash(openID)
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.windows[h]
	u := store.MergeWindow(time.UnixMilli(w.Until), until, now)
	if u.UnixMilli() == w.Until {
		return nil
	}
	w.Until = u.UnixMilli()
	s.windows[h] = w
	if u.Sub(now) >= shortWindow && time.Duration(w.Until-w.saved)*time.Millisecond >= resaveAfter {
		s.markWindow(openID)
	}
	return nil
}

// emptied returns m cleared, or a new map if m had grown large: a Go map
// keeps its room when cleared, and a burst of new followers (50,000 names to
// write behind) would otherwise hold about 100 bytes each for good.
func emptied(m map[string]bool) map[string]bool {
	if len(m) > 1024 {
		return map[string]bool{}
	}
	clear(m)
	return m
}

// markWindow queues a window for the write-behind. The name is cloned: it
// is a slice of a push body, which must not stay pinned.
func (s *Bolt) markWindow(openID string) {
	if !s.dirtyW[openID] {
		s.dirtyW[strings.Clone(openID)] = true
	}
}

// TakeWindowSlot implements store.Store.
func (s *Bolt) TakeWindowSlot(_ context.Context, openID string, now time.Time) (bool, error) {
	h := s.hash(openID)
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.windows[h]
	return ok && now.UnixMilli() < w.Until, nil
}

// CloseWindow implements store.Store. A user without a window on record
// gets an ended one, in memory only: WeChat's refusal stands until their
// next opening, or until the hourly prune or a restart forgets it (their
// next send is then attempted, and WeChat answers again).
func (s *Bolt) CloseWindow(_ context.Context, openID string) error {
	h := s.hash(openID)
	now := s.now().UnixMilli()
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.windows[h]
	if !ok {
		s.windows[h] = window{Until: now, saved: now}
		return nil
	}
	w.Until = min(w.Until, now) // ended until the next opening
	s.windows[h] = w
	s.markWindow(openID)
	return nil
}

// KnowsWindow implements store.WindowKnower: the windows in memory, open,
// or ended since the last hourly prune or the start (only unexpired ones
// are read back).
func (s *Bolt) KnowsWindow(_ context.Context, openID string) (bool, error) {
	h := s.hash(openID)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.windows[h]
	return ok, nil
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

func idState(state byte, t time.Time) []byte {
	v := make([]byte, 9)
	v[0] = state
	binary.BigEndian.PutUint64(v[1:], uint64(t.Unix()))
	return v
}

// Enqueue implements store.Store: one fsync shared by concurrent callers.
// The recipients' kefu windows are written in the same transaction, so a
// crash right after a push cannot leave its sends without their window.
func (s *Bolt) Enqueue(_ context.Context, sends ...*outbox.Send) error {
	now := s.now()
	windows := map[string][]byte{}
	s.mu.Lock()
	for _, snd := range sends {
		if w, ok := s.windows[s.hash(snd.OrderKey)]; ok {
			windows[snd.OrderKey] = w.encode()
		}
	}
	s.mu.Unlock()
	return s.db.Batch(func(tx *bbolt.Tx) error {
		for k, v := range windows {
			if err := s.bucket(tx, bWindows).Put([]byte(k), v); err != nil {
				return err
			}
		}
		ob, ids := s.bucket(tx, bOutbox), s.bucket(tx, bIDs)
		for _, snd := range sends {
			if ids.Get([]byte(snd.ID)) != nil {
				continue // enqueued before: idempotent
			}
			seq, err := ob.NextSequence()
			if err != nil {
				return err
			}
			c := *snd
			c.Seq = seq
			b, err := json.Marshal(&c)
			if err != nil {
				return err
			}
			if err := ob.Put(seqKey(seq), b); err != nil {
				return err
			}
			if err := ids.Put([]byte(snd.ID), idState(idPending, now)); err != nil {
				return err
			}
		}
		return nil
	})
}

// corrupt is an outbox entry that does not decode: key, value and why.
type corrupt struct {
	k, v []byte
	err  error
}

// Due implements store.Store. An entry that does not decode (a damaged file, a
// hand edit) is moved to the dead letters, so that it does not stop the
// whole outbox.
func (s *Bolt) Due(_ context.Context, now time.Time, limit int, skip func(string) bool) ([]*outbox.Send, error) {
	var out []*outbox.Send
	var bad []corrupt
	err := s.db.View(func(tx *bbolt.Tx) error {
		seen := map[string]bool{}
		c := s.bucket(tx, bOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var snd outbox.Send
			if err := json.Unmarshal(v, &snd); err != nil {
				// k and v are only valid in the transaction.
				bad = append(bad, corrupt{bytes.Clone(k), bytes.Clone(v), err})
				continue
			}
			if seen[snd.OrderKey] {
				continue
			}
			seen[snd.OrderKey] = true
			if (skip != nil && skip(snd.OrderKey)) || snd.NotBefore.After(now) {
				continue
			}
			out = append(out, &snd)
		}
		return nil
	})
	if err == nil && len(bad) > 0 {
		err = s.deadCorrupt(bad)
	}
	return out, err
}

// deadCorrupt moves undecodable outbox entries to the dead letters, under
// the same key, with the error and the start of the bytes as the reason.
// An entry that changed or went since Due read it is left alone, so that
// concurrent Due calls record it once. Its send ID is unknown, so it is not
// marked dead: were the send enqueued again, it would be delivered.
func (s *Bolt) deadCorrupt(bad []corrupt) error {
	now := s.now()
	return s.db.Batch(func(tx *bbolt.Tx) error {
		ob, dead := s.bucket(tx, bOutbox), s.bucket(tx, bDead)
		for _, c := range bad {
			if !bytes.Equal(ob.Get(c.k), c.v) {
				continue
			}
			snd := &outbox.Send{}
			if len(c.k) == 8 {
				snd.Seq = binary.BigEndian.Uint64(c.k)
			}
			raw := c.v
			if len(raw) > 200 {
				raw = raw[:200]
			}
			reason := fmt.Sprintf("corrupt outbox entry %x: %v (%d bytes: %q)", c.k, c.err, len(c.v), raw)
			b, err := json.Marshal(outbox.DeadLetter{Send: snd, Reason: reason, At: now})
			if err != nil {
				return err
			}
			if err := ob.Delete(c.k); err != nil {
				return err
			}
			if err := dead.Put(c.k, b); err != nil {
				return err
			}
		}
		return nil
	})
}

// Done implements store.Store.
func (s *Bolt) Done(_ context.Context, snd *outbox.Send) error {
	now := s.now()
	return s.db.Batch(func(tx *bbolt.Tx) error {
		if err := s.bucket(tx, bOutbox).Delete(seqKey(snd.Seq)); err != nil {
			return err
		}
		return s.bucket(tx, bIDs).Put([]byte(snd.ID), idState(idDone, now))
	})
}

// Retry implements store.Store.
func (s *Bolt) Retry(_ context.Context, snd *outbox.Send) error {
	b, err := json.Marshal(snd)
	if err != nil {
		return err
	}
	return s.db.Batch(func(tx *bbolt.Tx) error {
		ob := s.bucket(tx, bOutbox)
		if ob.Get(seqKey(snd.Seq)) == nil {
			return nil // already gone
		}
		return ob.Put(seqKey(snd.Seq), b)
	})
}

// Dead implements store.Store.
func (s *Bolt) Dead(_ context.Context, snd *outbox.Send, reason string) error {
	now := s.now()
	b, err := json.Marshal(outbox.DeadLetter{Send: snd, Reason: reason, At: now})
	if err != nil {
		return err
	}
	return s.db.Batch(func(tx *bbolt.Tx) error {
		if err := s.bucket(tx, bOutbox).Delete(seqKey(snd.Seq)); err != nil {
			return err
		}
		if err := s.bucket(tx, bDead).Put(seqKey(snd.Seq), b); err != nil {
			return err
		}
		return s.bucket(tx, bIDs).Put([]byte(snd.ID), idState(idDead, now))
	})
}

// DeadLetters implements store.Store.
func (s *Bolt) DeadLetters(_ context.Context, limit int) ([]outbox.DeadLetter, error) {
	var out []outbox.DeadLetter
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := s.bucket(tx, bDead).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var d outbox.DeadLetter
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// Pending implements store.Store.
func (s *Bolt) Pending(context.Context) (int, error) {
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		n = s.bucket(tx, bOutbox).Stats().KeyN
		return nil
	})
	return n, err
}

// Path is the store's file.
func (s *Bolt) Path() string { return s.path }

// Close flushes the hot state, marks the shutdown clean (the next open
// skips the full check) and closes the file, its account views first. A
// view's Close flushes the view and leaves the file open.
func (s *Bolt) Close() error {
	select {
	case <-s.stop:
		return nil
	default:
	}
	s.mu.Lock()
	views := s.views
	s.mu.Unlock()
	for _, v := range views {
		v.Close()
	}
	close(s.stop)
	<-s.flushed
	s.answerLog.close(true)
	s.queryLog.close(true)
	if !s.owner {
		return nil // the file is its owner's
	}
	err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bMeta).Put(kShutdown, shutClean) })
	if err != nil {
		err = fmt.Errorf("store %s: marking the shutdown clean (the next start checks the whole file): %w", s.path, err)
	}
	return errors.Join(err, s.db.Close())
}

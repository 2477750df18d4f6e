package bolt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/wxbot/wxbot/engine/outbox"
)

// The validation of a bbolt file before OpenFile uses it, and the error
// that says it is damaged.

// errDamaged marks the errors about the file's contents.
var errDamaged = errors.New("damaged")

// damagedError says that the store at path is damaged, why, what to do,
// and which pending sends moving it aside would lose.
func damagedError(path, why string) error {
	return fmt.Errorf("store %s is %w (%s): move it aside to start with a new, empty store "+
		"(%s), or try to recover it first with "+
		"`bbolt check %s` and `bbolt compact -o %s.compacted %s`",
		path, errDamaged, why, lostSends(path), path, path, path)
}

// pendingListed is how many pending sends a damaged store's error names.
const pendingListed = 3

// lostSends describes the sends still in the outbox of a damaged store,
// which moving it aside loses: as many as can be read, and the first few.
func lostSends(path string) string {
	n, first, complete := readPending(path, pendingListed)
	if n == 0 {
		if complete {
			return "its outbox reads as empty: no pending send is lost"
		}
		return "the sends still in its outbox are then lost"
	}
	var b strings.Builder
	count := fmt.Sprint(n)
	if !complete {
		count = "at least " + count // the rest of the outbox could not be read
	}
	fmt.Fprintf(&b, "the sends still in its outbox are then lost: %s can be read", count)
	for i, snd := range first {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%s%s (%s, %s)", sep, snd.ID, snd.Kind, snd.OrderKey)
	}
	if n > len(first) {
		fmt.Fprintf(&b, " and %d more", n-len(first))
	}
	return b.String()
}

// readPending reads the outbox of the store at path read-only, under
// guard: the number of sends that decode, the first max of them, and
// whether the whole outbox could be read. Whatever fails (the file does
// not open, a page is damaged) ends the reading silently.
func readPending(path string, max int) (n int, first []outbox.Send, complete bool) {
	guard(func() error {
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			return err
		}
		defer db.Close()
		return db.View(func(tx *bbolt.Tx) error {
			ob := tx.Bucket(bOutbox)
			if ob == nil {
				complete = true
				return nil
			}
			c := ob.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				var snd outbox.Send
				if v == nil || json.Unmarshal(v, &snd) != nil {
					continue
				}
				n++
				if len(first) < max {
					first = append(first, snd) // decoded: nothing points into the map
				}
			}
			complete = true
			return nil
		})
	})
	return n, first, complete
}

// checkBolt validates an existing store file before OpenFile uses it:
// bbolt trusts its file, so a damaged one (a truncated copy, a full disk,
// scribbled pages) makes it fault (SIGBUS) or panic ("invalid freelist
// page", slice bounds out of range), which would crash the process at
// start-up. It checks the file's size against the pages its meta page
// names, then opens it read-only and reads every page (each bucket's pages,
// the free list) and runs bbolt's own consistency check.
//
// Recovering from bbolt's panics, and from memory faults in its map of the
// file (debug.SetPanicOnFault), is deliberate here: it is the only way to
// validate an untrusted file with bbolt. What bbolt had set up when it
// panicked may leak (a file handle, a map), which is harmless since the
// error stops the start-up.
//
// The cheap checks (the size against the meta page, the free list, which
// bbolt reads at every open anyway) always run. The full check reads the
// whole file, which takes time on a large store, so it runs only when the
// last shutdown was not clean (kShutdown): after a crash, a kill -9, or on
// a file from a version without the marker. full says whether it ran.
// After a clean shutdown, OpenFile still reads what the start reads under
// guard. wait bounds the wait for another process's lock.
func checkBolt(path string, wait time.Duration) (full bool, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() == 0) {
		return false, nil // a new store: bbolt writes it
	}
	if err != nil {
		return false, err
	}
	damaged := func(format string, args ...any) error {
		return damagedError(path, fmt.Sprintf(format, args...))
	}
	size := fi.Size()
	readOnly := func(preload bool, f func(tx *bbolt.Tx) error) error {
		return guard(func() error {
			db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, PreLoadFreelist: preload, Timeout: wait})
			if err != nil {
				return err
			}
			defer db.Close()
			return db.View(f)
		})
	}
	// The geometry: only the meta pages are read.
	var pageSize, hwm int64
	err = readOnly(false, func(tx *bbolt.Tx) error {
		pageSize, hwm = int64(tx.DB().Info().PageSize), tx.Size()
		return nil
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return false, err
	case err != nil:
		return false, damaged("%v", err)
	case size%pageSize != 0 || size < 4*pageSize:
		return false, damaged("its size, %d bytes, is not a whole number of %d-byte pages, at least 4", size, pageSize)
	case size < hwm:
		return false, damaged("truncated: %d bytes, but its pages reach %d", size, hwm)
	}
	// The free list (preloaded) and the shutdown marker; unless the marker
	// says clean, every page, in this goroutine, where a fault or panic is
	// caught; then bbolt's check, which reads the same pages in a goroutine
	// of its own.
	err = readOnly(true, func(tx *bbolt.Tx) error {
		if m := tx.Bucket(bMeta); m != nil && bytes.Equal(m.Get(kShutdown), shutClean) {
			return nil
		}
		full = true
		err := tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			if err := readBucket(b); err != nil {
				return fmt.Errorf("bucket %q: %w", name, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		var errs []error
		for err := range tx.Check() { // drained: it stops only when read to the end
			if len(errs) < 5 {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return full, err
	}
	if err != nil {
		if full {
			return full, damaged("the last shutdown was not clean, and a check found: %v", err)
		}
		return full, damaged("%v", err)
	}
	return full, nil
}

// readBucket reads every page of b and of the buckets in it.
func readBucket(b *bbolt.Bucket) error {
	b.Stats()
	return b.ForEach(func(k, v []byte) error {
		if v != nil {
			return nil
		}
		if c := b.Bucket(k); c != nil {
			if err := readBucket(c); err != nil {
				return fmt.Errorf("bucket %q: %w", k, err)
			}
		}
		return nil
	})
}

// guard runs f, turning a panic or a memory fault in it into an error.
// The error does not say "panic": an operator reading it should not take
// it for a crash of wxbot (and the tests look for crashes by that word).
func guard(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt could not read it: %v", r)
		}
	}()
	return f()
}

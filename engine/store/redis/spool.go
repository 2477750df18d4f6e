package redis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/bolt"
)

// The local spool (--spool) is a bbolt file, which one process holds at a
// time. So that two bots started in one directory both start (a deploy
// that starts the new bot before it stops the old one), the path names a
// few slots, PATH, PATH.1 … PATH.15, and a bot takes the first one that
// no live process holds. A slot that no process holds at a start, left
// with sends by a bot that stopped while Redis failed, is moved to Redis
// by that start, then left empty for the next bot to take.

// spoolSlots bounds the slots of one --spool path.
const spoolSlots = 16

// slotWait is how long a slot's lock is waited for: not at all. A running
// bot holds it for good; a bot that is starting too holds it for as long
// as it reads the file, and losing that race costs only a later slot.
const slotWait = 0

// slotPath is the i-th slot of path.
func slotPath(path string, i int) string {
	if i == 0 {
		return path
	}
	return path + "." + strconv.Itoa(i)
}

// takeSpool opens the first slot of path that no live process holds; held
// are the slots before it, which other processes hold.
func takeSpool(path string, o store.Options) (spool *bolt.Bolt, taken int, held []int, err error) {
	for i := range spoolSlots {
		p := slotPath(path, i)
		s, err := bolt.OpenFileWaiting(p, o.Now, slotWait)
		if errors.Is(err, bolt.ErrLocked) {
			held = append(held, i)
			continue
		}
		if err != nil {
			return nil, 0, nil, err
		}
		if len(held) == 0 {
			o.Logger.Info("sends accepted while Redis fails are spooled to this file", "spool", p)
		} else {
			o.Logger.Info("sends accepted while Redis fails are spooled to this file; the ones before it are held by other processes (other bots in this directory)",
				"spool", p, "held", len(held))
		}
		return s, i, held, nil
	}
	return nil, 0, nil, fmt.Errorf("%s and %s to %s are all held by other processes (other bots started here): stop one of them, or give this bot a --spool of its own",
		path, slotPath(path, 1), slotPath(path, spoolSlots-1))
}

// orphan is a slot that no process held at the start and that has sends:
// its file's top level and each account's part of it, each with the Redis
// keys its sends move to.
type orphan struct {
	path  string
	file  *bolt.Bolt
	sends int
	parts []orphanPart
}

type orphanPart struct {
	appID  string // "" for the file's top level
	spool  *bolt.Bolt
	target *Redis // nil until the account's keys are reached
}

// adoptOrphans opens the slots of path that no process holds, skipping the
// one this bot took and those it found held, and keeps those with sends.
func adoptOrphans(path string, skip []int, o store.Options) []*orphan {
	var out []*orphan
	for i := range spoolSlots {
		p := slotPath(path, i)
		if slices.Contains(skip, i) {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			continue // no such slot
		}
		s, err := bolt.OpenFileWaiting(p, o.Now, slotWait)
		if errors.Is(err, bolt.ErrLocked) {
			continue // a live bot's
		}
		if err != nil {
			o.Logger.Error("a spool file that no process holds cannot be opened; its sends wait for it to be repaired", "spool", p, "err", err)
			continue
		}
		f, err := openOrphan(p, s)
		if err != nil || f.sends == 0 {
			if err != nil {
				o.Logger.Error("reading a spool file that no process holds failed; its sends wait for the next start", "spool", p, "err", err)
			}
			s.Close()
			continue
		}
		o.Logger.Info("a spool no process holds has sends; they move to the store when it answers", "spool", p, "sends", f.sends)
		out = append(out, f)
	}
	return out
}

// openOrphan reads the parts of the slot at path and counts their sends.
func openOrphan(path string, s *bolt.Bolt) (*orphan, error) {
	f := &orphan{path: path, file: s, parts: []orphanPart{{spool: s}}}
	ids, err := s.Accounts()
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		v, err := s.Account(id)
		if err != nil {
			return nil, err
		}
		f.parts = append(f.parts, orphanPart{appID: id, spool: v})
	}
	for _, p := range f.parts {
		n, err := p.spool.Pending(context.Background())
		if err != nil {
			return nil, err
		}
		f.sends += n
	}
	return f, nil
}

// drain moves what it can of f's sends to r (each account's to its keys)
// and reports whether none is left; then f is closed.
func (f *orphan) drain(ctx context.Context, r *Redis, o store.Options) bool {
	left := false
	for i := range f.parts {
		p := &f.parts[i]
		if p.target == nil {
			p.target = r
			if p.appID != "" {
				var err error
				if p.target, err = r.Account(p.appID); err != nil {
					left = true
					continue // Redis fails: the next round
				}
			}
		}
		g := NewGuard(p.target, GuardOptions{Spool: p.spool, Logger: o.Logger, Now: o.Now})
		g.drainSpool(ctx)
		if n, err := p.spool.Pending(ctx); err != nil || n > 0 {
			left = true
		}
	}
	if left {
		return false
	}
	if err := f.file.Close(); err != nil {
		o.Logger.Warn("closing a drained spool file failed", "spool", f.path, "err", err)
	}
	o.Logger.Info("a spool no process holds was moved to the store", "spool", f.path, "sends", f.sends)
	return true
}

// drainOrphans moves the orphans' sends to r, now and then every tick
// until none is left, in the background; the function it returns stops
// it and closes what is left (its sends wait for the next start).
func drainOrphans(r *Redis, files []*orphan, o store.Options, every time.Duration) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			files = slices.DeleteFunc(files, func(f *orphan) bool { return f.drain(ctx, r, o) })
			if len(files) == 0 {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() error {
		cancel()
		<-done
		var errs []error
		for _, f := range files {
			errs = append(errs, f.file.Close())
		}
		return errors.Join(errs...)
	}
}

package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/wxbot/wxbot/engine"
)

// Reloader keeps an engine's rules in step with the rules on disk. A
// reload loads, compiles and tests the new rules off to the side and swaps
// them in only when all of that succeeds; otherwise the running rules stay
// and the error is kept for Status. Reloads are serialized.
type Reloader struct {
	path string
	loc  *time.Location
	eng  *engine.Engine
	log  *slog.Logger

	// Debounce merges a burst of file events (an editor's save, a
	// ConfigMap swap) into one reload.
	Debounce time.Duration
	// Watcher, when set, is the process's shared file watcher (many
	// accounts); nil gives this reloader a watcher of its own.
	Watcher *Watcher
	// Shared says the process runs many reloaders (many accounts): a
	// reload then leaves its garbage to the collector instead of forcing a
	// full collection of everyone's heap (debug.FreeOSMemory), which cost
	// the other accounts 8% of their throughput at two reloads a second.
	Shared bool
	// Poll is the interval of the poll that backs the watcher up (network
	// file systems, lost watches); 0 disables it. Each poll reads and
	// hashes the files and compares with the running rules' hash; only a
	// change is parsed, compiled and tested.
	Poll time.Duration

	mu     sync.Mutex // serializes reloads
	smu    sync.Mutex // guards status
	status Status
	kick   chan string
	// failed is what the last refused reload read (the files' hash, or the
	// read error), and failErr its error: a poll or file event that finds
	// the same broken files again is not parsed, logged or counted again.
	// Guarded by mu.
	failed  string
	failErr error

	// For tests: noWatch adds no watch, leaving the poll (and Trigger);
	// started, when set, is called once Run's watch is in place and the
	// start-up check is done.
	noWatch bool
	started func()
}

// Status is what GET /rules shows about reloading.
type Status struct {
	Source         string    `json:"source"`
	Files          []string  `json:"files"`
	Hash           string    `json:"hash"`
	LoadedAt       time.Time `json:"loaded_at"`
	Warnings       []string  `json:"warnings"`
	LastReloadAt   time.Time `json:"last_reload_at,omitzero"`
	LastReloadOK   bool      `json:"last_reload_ok"`
	LastError      string    `json:"last_error,omitempty"`
	LastErrorAt    time.Time `json:"last_error_at,omitzero"`
	Reloads        uint64    `json:"reloads"`
	ReloadFailures uint64    `json:"reload_failures"`
}

// NewReloader returns a reloader for the rules at path, which must already
// be loaded into eng (Initial records that first load).
func NewReloader(path string, loc *time.Location, eng *engine.Engine, log *slog.Logger) *Reloader {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reloader{path: path, loc: loc, eng: eng, log: log,
		Debounce: 250 * time.Millisecond, Poll: 30 * time.Second, kick: make(chan string, 1)}
}

// Initial records the rules loaded at start-up.
func (r *Reloader) Initial(l *Loaded) {
	r.smu.Lock()
	defer r.smu.Unlock()
	r.status.Source, r.status.Files = r.path, l.Files
	r.status.Hash, r.status.LoadedAt = l.Set.Hash, l.Set.LoadedAt
	r.status.Warnings = diagStrings(l.Diags)
	r.status.LastReloadOK = true
}

// Status returns a snapshot of the reload state.
func (r *Reloader) Status() Status {
	r.smu.Lock()
	defer r.smu.Unlock()
	s := r.status
	s.Files = append([]string(nil), s.Files...)
	s.Warnings = append([]string(nil), s.Warnings...)
	return s
}

// ErrUnchanged is returned by Reload when the files hash as the running rules.
var ErrUnchanged = errors.New("rules unchanged")

// Reload loads the rules now. It returns ErrUnchanged when they are what is
// running (unless force), and the load or test error when the new rules
// were refused.
func (r *Reloader) Reload(ctx context.Context, reason string, force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	// The bytes first, read once: parsing and compiling a big file costs
	// a CPU-second, and an unchanged file needs neither.
	src, err := readRules(r.path)
	if err == nil && !force && src.hash == r.eng.Rules().Hash {
		r.failed, r.failErr = "", nil
		r.backInStep(reason)
		return ErrUnchanged
	}
	seen := "read: " + fmt.Sprint(err)
	if err == nil {
		seen = src.hash
	}
	if !force && seen == r.failed {
		return r.failErr // still the files refused last time: said and counted then
	}
	var l *Loaded
	if err == nil {
		l, err = src.load(r.path)
	}
	if err == nil {
		err = TestsPass(ctx, l, r.loc)
	}
	r.smu.Lock()
	defer r.smu.Unlock()
	r.status.LastReloadAt = start
	if err != nil {
		r.status.LastReloadOK = false
		r.status.LastError, r.status.LastErrorAt = err.Error(), start
		r.status.ReloadFailures++
		r.failed, r.failErr = seen, err
		r.log.Error("rules reload refused; the running rules stay", "reason", reason, "source", r.path, "err", err)
		return err
	}
	r.eng.SetRules(l.Set)
	// Parsing and compiling a large file allocates many times what the
	// rules keep (about 110 MB for 10,000 rules, which keep about 9 MB);
	// hand that back to the OS now rather than carry it as resident memory.
	if !r.Shared {
		debug.FreeOSMemory()
	}
	// The status says what is wrong now, not what once was: a successful
	// reload clears the error (the log keeps its history).
	r.failed, r.failErr = "", nil
	r.status.LastReloadOK = true
	r.status.LastError, r.status.LastErrorAt = "", time.Time{}
	r.status.Reloads++
	r.status.Files, r.status.Hash, r.status.LoadedAt = l.Files, l.Set.Hash, l.Set.LoadedAt
	r.status.Warnings = diagStrings(l.Diags)
	r.log.Info("rules reloaded", "reason", reason, "source", r.path, "rules", len(l.Set.Rules),
		"hash", l.Set.Hash, "warnings", len(l.Diags), "took", time.Since(start))
	for _, d := range l.Diags {
		r.log.Warn("rules", "warning", d.String())
	}
	return nil
}

// backInStep clears a reload failure once the rules on disk are the
// running rules again (a broken edit undone with git checkout, cp or mv):
// the status describes the file on disk, and nothing is left to reload. A
// successful reload clears it the same way (Reload).
func (r *Reloader) backInStep(reason string) {
	r.smu.Lock()
	defer r.smu.Unlock()
	if r.status.LastReloadOK {
		return
	}
	r.log.Info("the rules on disk are the running rules again; the earlier reload failure is cleared",
		"reason", reason, "source", r.path, "hash", r.status.Hash, "failed_at", r.status.LastErrorAt)
	r.status.LastReloadOK = true
	r.status.LastError, r.status.LastErrorAt = "", time.Time{}
}

// TestsPass runs the rules' own tests; a failing test refuses the rules,
// at start-up as on a reload. The error names each failing test and its
// position.
func TestsPass(ctx context.Context, l *Loaded, loc *time.Location) error {
	var fails []string
	for _, res := range l.RunTests(ctx, loc) {
		if !res.Passed() {
			fails = append(fails, res.String())
		}
	}
	if len(fails) > 0 {
		return fmt.Errorf("%d test(s) failed:\n%s", len(fails), strings.Join(fails, "\n"))
	}
	return nil
}

func diagStrings(ds Diagnostics) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

// Trigger asks Run for a reload (SIGHUP does this); it never blocks.
func (r *Reloader) Trigger(reason string) {
	select {
	case r.kick <- reason:
	default: // one is already pending
	}
}

// Run watches the rules until ctx is done. It watches the directory (of
// the file, or the directory itself), not the file: editors replace files
// by renaming, and Kubernetes swaps a ConfigMap by re-pointing the ..data
// symlink, both of which a watch on the file would lose.
func (r *Reloader) Run(ctx context.Context) error {
	dir := r.path
	if st, err := os.Stat(r.path); err == nil && !st.IsDir() {
		dir = filepath.Dir(r.path)
	}
	events, errs, stop := r.watch(dir)
	defer stop()
	// A change made after the rules were loaded at start-up but before the
	// watch was in place raised no event: compare the rules on disk with
	// the running ones once now, or that change waits for the poll (with
	// the poll off, for the next change).
	if err := r.Reload(ctx, "start-up check", false); err != nil && !errors.Is(err, ErrUnchanged) && !r.Shared {
		debug.FreeOSMemory() // that load's garbage, as after a reload
	}
	if r.started != nil {
		r.started()
	}
	var poll <-chan time.Time
	if r.Poll > 0 {
		t := time.NewTicker(r.Poll)
		defer t.Stop()
		poll = t.C
	}
	var debounce *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			if debounce != nil {
				debounce.Stop()
			}
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if !r.relevant(dir, ev.Name) {
				continue
			}
			if debounce == nil {
				debounce = time.NewTimer(r.Debounce)
			} else {
				debounce.Reset(r.Debounce)
			}
			fire = debounce.C
		case err, ok := <-errs:
			if ok {
				r.log.Warn("rules watcher error; the poll still runs", "err", err)
			}
		case <-fire:
			fire = nil
			r.Reload(ctx, "file change", false)
		case reason := <-r.kick:
			r.Reload(ctx, reason, true)
		case <-poll:
			// A full load, compared by hash with the running rules (see Poll).
			r.Reload(ctx, "poll", false)
		}
	}
}

// watch starts watching dir: on the shared Watcher when there is one, else
// on a watcher of its own. A directory that cannot be watched, or no
// watcher to be had, leaves the poll (a warning, not an error).
func (r *Reloader) watch(dir string) (<-chan fsnotify.Event, <-chan error, func()) {
	if r.noWatch { // a test of the poll
		return nil, nil, func() {}
	}
	if r.Watcher != nil {
		events, cancel, err := r.Watcher.Watch(dir)
		if err != nil {
			r.log.Warn("cannot watch the rules directory; relying on the poll", "dir", dir, "err", err)
			return nil, nil, func() {}
		}
		return events, nil, cancel
	}
	w, err := fsnotify.NewWatcher()
	if err != nil { // out of inotify instances, say: the poll still runs
		r.log.Warn("cannot watch the rules; relying on the poll (--rules-poll)", "dir", dir, "err", err)
		return nil, nil, func() {}
	}
	if err := w.Add(dir); err != nil {
		r.log.Warn("cannot watch the rules directory; relying on the poll", "dir", dir, "err", err)
	}
	return w.Events, w.Errors, func() { w.Close() }
}

// relevant filters directory events down to those that can change the
// rules: the rules file or a *.yaml, and Kubernetes' ..data swaps.
func (r *Reloader) relevant(dir, name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, "..") {
		return true // ..data, ..2026_11_24_…: a ConfigMap update
	}
	if dir != r.path { // watching a file's directory
		return filepath.Clean(name) == filepath.Clean(r.path)
	}
	return strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml")
}

package rules

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// Watcher is one file watcher (one inotify instance) that many Reloaders
// share: a process serving many accounts would otherwise pass the
// kernel's limit of inotify instances per user (128 by default), and the
// reloaders past it would watch nothing.
type Watcher struct {
	w *fsnotify.Watcher

	mu   sync.Mutex
	subs map[string]map[chan fsnotify.Event]bool // directory → its subscribers
	done chan struct{}
}

// NewWatcher starts a shared watcher; Close stops it.
func NewWatcher() (*Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching files: %w", err)
	}
	sw := &Watcher{w: w, subs: map[string]map[chan fsnotify.Event]bool{}, done: make(chan struct{})}
	go sw.run()
	return sw, nil
}

// Watch delivers the events of the files in dir (and of dir itself) until
// cancel. A subscriber that lags loses events, never blocks the others:
// reloaders debounce, and one queued event is enough to reload.
func (sw *Watcher) Watch(dir string) (events <-chan fsnotify.Event, cancel func(), err error) {
	dir = filepath.Clean(dir)
	ch := make(chan fsnotify.Event, 16)
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.subs[dir] == nil {
		if err := sw.w.Add(dir); err != nil {
			return nil, nil, err
		}
		sw.subs[dir] = map[chan fsnotify.Event]bool{}
	}
	sw.subs[dir][ch] = true
	return ch, func() {
		sw.mu.Lock()
		defer sw.mu.Unlock()
		delete(sw.subs[dir], ch)
		if len(sw.subs[dir]) == 0 {
			delete(sw.subs, dir)
			sw.w.Remove(dir)
		}
	}, nil
}

// Close stops the watcher; subscribers get no more events.
func (sw *Watcher) Close() error {
	err := sw.w.Close()
	<-sw.done
	return err
}

func (sw *Watcher) run() {
	defer close(sw.done)
	for {
		select {
		case ev, ok := <-sw.w.Events:
			if !ok {
				return
			}
			sw.deliver(filepath.Dir(ev.Name), ev)
			sw.deliver(filepath.Clean(ev.Name), ev) // a watched directory itself replaced
		case _, ok := <-sw.w.Errors:
			if !ok {
				return
			}
		}
	}
}

func (sw *Watcher) deliver(dir string, ev fsnotify.Event) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	for ch := range sw.subs[dir] {
		select {
		case ch <- ev:
		default:
		}
	}
}

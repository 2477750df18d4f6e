package store

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxbot/wxbot/engine/dedup"
	"github.com/wxbot/wxbot/engine/wechat"
)

// Options are what a bot asks of the store it opens; zero values are
// sensible.
type Options struct {
	// Now is the stores' clock (time.Now when nil).
	Now    func() time.Time
	Logger *slog.Logger
	// RetryMemory bounds the answers kept in memory for WeChat's retries
	// (dedup.DefaultBytes when 0).
	RetryMemory int
	// ReplayMemory bounds the signed query strings kept in memory against
	// replays (DefaultReplayMemory when 0); a shared store keeps them in
	// itself.
	ReplayMemory int
	// Spool is the local bbolt file where a shared store's sends wait while
	// it fails (wxbot-spool.db when "").
	Spool string
	// HoldLate: replies later than the deadline wait for WeChat's retries
	// (--kefu=false), so a retry's claim must stay pending for WeChat's
	// whole retry span.
	HoldLate bool
	// OnDegraded hears when a shared store starts and stops failing;
	// OnDedupFallback when a retry is deduplicated in this process only.
	OnDegraded      func(degraded bool)
	OnDedupFallback func(err error)
}

// QueryLog remembers signed query strings for the replay window (see
// callback.Replays): it returns the hash of the body first seen with key,
// "" the first time.
type QueryLog interface {
	RememberQuery(ctx context.Context, key, bodyHash string, ttl time.Duration) (string, error)
}

// Backend is everything a bot needs from one store, made by one Open: the
// caller never asks which store it is.
type Backend struct {
	// Store keeps state, sends and AI memory; on a shared store it is
	// guarded (a store that hangs degrades to memory and a local spool).
	Store Store
	// Dedup keeps WeChat's retries' answers, surviving a restart.
	Dedup dedup.Cache
	// Replays keeps the replay window's query strings.
	Replays QueryLog
	// Tokens is the access_token cache replicas share for an AppID; nil
	// when the token lives in this process.
	Tokens func(appID string) wechat.TokenCache
	// Health reports a shared store that fails (nil: it never degrades).
	Health func() (degraded bool, err error)
	// Account opens the backend of one Official Account on this store, its
	// keys namespaced by the AppID, with its own options (the memory
	// budgets, HoldLate, callbacks); close it before this one. Nil when the
	// store holds one account only.
	Account func(appID string, o Options) (*Backend, error)

	closers []func() error
}

// OnClose adds f to what Close does, last added first.
func (b *Backend) OnClose(f func() error) { b.closers = append(b.closers, f) }

// Close stops the backend's background work and closes what it opened.
func (b *Backend) Close() error {
	var first error
	for i := len(b.closers) - 1; i >= 0; i-- {
		if err := b.closers[i](); err != nil && first == nil {
			first = err
		}
	}
	b.closers = nil
	return first
}

// Driver opens a Backend from its URL; drivers register under the URL's
// scheme (bolt, redis), the way database/sql drivers do.
type Driver func(rawURL string, o Options) (*Backend, error)

var (
	driversMu sync.RWMutex
	drivers   = map[string]Driver{}
)

// Register makes a driver available under scheme. It panics on an empty
// scheme, a nil driver or a scheme registered twice.
func Register(scheme string, d Driver) {
	driversMu.Lock()
	defer driversMu.Unlock()
	if scheme == "" || d == nil {
		panic("store: Register needs a scheme and a driver")
	}
	if _, dup := drivers[scheme]; dup {
		panic("store: Register called twice for " + scheme)
	}
	drivers[scheme] = d
}

// Schemes lists the registered schemes, sorted.
func Schemes() []string {
	driversMu.RLock()
	defer driversMu.RUnlock()
	return slices.Sorted(func(yield func(string) bool) {
		for s := range drivers {
			if !yield(s) {
				return
			}
		}
	})
}

// Open opens the store a URL names (bolt:PATH, redis://…) with the driver
// registered for its scheme.
func Open(rawURL string, o Options) (*Backend, error) {
	scheme, _, ok := strings.Cut(rawURL, ":")
	driversMu.RLock()
	d := drivers[scheme]
	driversMu.RUnlock()
	if !ok || d == nil {
		return nil, fmt.Errorf("store URL %s: want one of %s (e.g. bolt:wxbot.db or redis://127.0.0.1:6379/0)", Redacted(rawURL), strings.Join(Schemes(), ", "))
	}
	return d(rawURL, o.WithDefaults())
}

// WithDefaults is o with its zero values made sensible.
func (o Options) WithDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RetryMemory <= 0 {
		o.RetryMemory = dedup.DefaultBytes
	}
	if o.ReplayMemory <= 0 {
		o.ReplayMemory = DefaultReplayMemory
	}
	if o.Spool == "" {
		o.Spool = "wxbot-spool.db"
	}
	return o
}

// Redacted is a store URL fit for errors and logs: its password hidden.
func Redacted(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		if i := strings.Index(rawURL, "@"); i >= 0 { // user:password@host
			return strings.SplitN(rawURL, "//", 2)[0] + "//xxxxx" + rawURL[i:]
		}
		return strconv.Quote(rawURL)
	}
	return strconv.Quote(u.Redacted())
}

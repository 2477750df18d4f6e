package redis

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/wxbot/wxbot/engine/dedup"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/bolt"
	"github.com/wxbot/wxbot/engine/wechat"
)

func init() {
	store.Register("redis", Open)
	store.Register("redis-cluster", Open)
}

// heldStale is how long a held push's claim stays pending (--kefu=false):
// WeChat's whole retry span, so that the last retry does not take a pending
// mark for a dead claimer and run the rules again.
const heldStale = 20 * time.Second

// Open is the redis:// driver. The store is shared by replicas and sits
// behind a Guard: a Redis that hangs or refuses degrades the bot to memory
// and a local spool (o.Spool, or the first of its slots that no other
// process holds: see takeSpool) instead of holding pushes past WeChat's 5
// seconds or losing sends. Replicas share retries' answers (with this
// process's memory as the fallback), the replay window and the
// access_token.
func Open(rawURL string, o store.Options) (*store.Backend, error) {
	LogRedisTo(o.Logger)
	r, err := Connect(rawURL, o.Now)
	if err != nil {
		return nil, err
	}
	spool, taken, held, err := takeSpool(o.Spool, o)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("--spool: %w", err)
	}
	b := guardedBackend(r, spool, o)
	if orphans := adoptOrphans(o.Spool, append(held, taken), o); len(orphans) > 0 {
		b.OnClose(drainOrphans(r, orphans, o, time.Second)) // first: before r closes
	}
	b.Account = func(appID string, o store.Options) (*store.Backend, error) {
		o = o.WithDefaults()
		rv, err := r.Account(appID)
		if err != nil {
			return nil, err
		}
		sv, err := spool.Account(appID)
		if err != nil {
			return nil, fmt.Errorf("--spool: %w", err)
		}
		return guardedBackend(rv, sv, o), nil
	}
	if n, err := spool.Pending(context.Background()); err == nil && n > 0 {
		o.Logger.Info("the local spool has sends from before the restart; they move to Redis when it answers", "spooled", n)
	}
	return b, nil
}

// guardedBackend is what a bot needs of r (the connection's own keys, or an
// account's view): r behind a Guard spooling to spool, the retry answers
// shared with the replicas (this process's memory as the fallback), the
// replay window and the access_token.
func guardedBackend(r *Redis, spool *bolt.Bolt, o store.Options) *store.Backend {
	g := NewGuard(r, GuardOptions{Spool: spool, Logger: o.Logger, OnChange: o.OnDegraded, Now: o.Now})
	shared := NewDedup(r, dedup.DefaultTTL)
	if o.HoldLate {
		shared.Stale = heldStale
	}
	onFallback, fellBack := o.OnDedupFallback, newQuietLog(o.Now)
	b := &store.Backend{
		Store: g, Replays: g, Health: g.Degraded,
		Dedup: &dedup.Fallback{
			Shared: shared, Local: dedup.NewLocalSized(dedup.DefaultTTL, o.RetryMemory, o.Now), Breaker: g,
			OnFallback: func(err error) {
				if onFallback != nil {
					onFallback(err)
				}
				fellBack.log(o.Logger, slog.LevelWarn, "Redis unreachable: retries are deduplicated in this process only", "err", err)
			},
		},
		Tokens: func(appID string) wechat.TokenCache { return r.TokenCache(appID) },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx, 500*time.Millisecond); close(done) }()
	b.OnClose(g.Close)
	b.OnClose(func() error { cancel(); <-done; return nil })
	b.OnClose(func() error { shared.Close(); return nil }) // first: the answers still queued
	return b
}

package redis

import (
	"context"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// The Guard's store.AIStore: through the store with the push path's short
// timeout; while it fails, in this process's memory (a history, a count or
// a held reply written meanwhile stays with this replica).

// AITurns implements store.AIStore.
func (g *Guard) AITurns(ctx context.Context, openID string) ([]store.Turn, error) {
	return guarded(g, ctx, g.o.CallTimeout,
		func(c context.Context) ([]store.Turn, error) { return g.Primary.AITurns(c, openID) },
		func() ([]store.Turn, error) { return g.local.AITurns(ctx, openID) })
}

// AddAITurn implements store.AIStore.
func (g *Guard) AddAITurn(ctx context.Context, openID string, t store.Turn, keep int, ttl time.Duration) error {
	err := g.call(ctx, g.o.CallTimeout, func(c context.Context) error { return g.Primary.AddAITurn(c, openID, t, keep, ttl) })
	if err == nil {
		return nil
	}
	return g.local.AddAITurn(ctx, openID, t, keep, ttl)
}

// TakeAIQuota implements store.AIStore.
func (g *Guard) TakeAIQuota(ctx context.Context, key string, limit int, ttl time.Duration) (bool, error) {
	return guarded(g, ctx, g.o.CallTimeout,
		func(c context.Context) (bool, error) { return g.Primary.TakeAIQuota(c, key, limit, ttl) },
		func() (bool, error) { return g.local.TakeAIQuota(ctx, key, limit, ttl) })
}

// HoldReply implements store.AIStore.
func (g *Guard) HoldReply(ctx context.Context, openID string, reply []byte, ttl time.Duration) error {
	err := g.call(ctx, g.o.CallTimeout, func(c context.Context) error { return g.Primary.HoldReply(c, openID, reply, ttl) })
	if err == nil {
		return nil
	}
	return g.local.HoldReply(ctx, openID, reply, ttl)
}

// TakeHeldReply implements store.AIStore: a reply held in this process while the
// store failed comes first.
func (g *Guard) TakeHeldReply(ctx context.Context, openID string) ([]byte, error) {
	if r, _ := g.local.TakeHeldReply(ctx, openID); r != nil {
		return r, nil
	}
	return guarded(g, ctx, g.o.CallTimeout, func(c context.Context) ([]byte, error) { return g.Primary.TakeHeldReply(c, openID) }, nil)
}

// ForgetAI implements store.AIStore: from this process's memory too, and from
// the store, which must answer (a deletion is not left to chance).
func (g *Guard) ForgetAI(ctx context.Context, openID string) error {
	g.local.ForgetAI(ctx, openID)
	return g.call(ctx, g.o.CallTimeout, func(c context.Context) error { return g.Primary.ForgetAI(c, openID) })
}

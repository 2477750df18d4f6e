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
	var turns []store.Turn
	err := g.call(ctx, g.o.CallTimeout, func(c context.Context) (e error) {
		turns, e = g.primary.AITurns(c, openID)
		return e
	})
	if err == nil {
		return turns, nil
	}
	return g.local.AITurns(ctx, openID)
}

// AddAITurn implements store.AIStore.
func (g *Guard) AddAITurn(ctx context.Context, openID string, t store.Turn, keep int, ttl time.Duration) error {
	err := g.call(ctx, g.o.CallTimeout, func(c context.Context) error { return g.primary.AddAITurn(c, openID, t, keep, ttl) })
	if err == nil {
		return nil
	}
	return g.local.AddAITurn(ctx, openID, t, keep, ttl)
}

// TakeAIQuota implements store.AIStore.
func (g *Guard) TakeAIQuota(ctx context.Context, key string, limit int, ttl time.Duration) (bool, error) {
	var ok bool
	err := g.call(ctx, g.o.CallTimeout, func(c context.Context) (e error) {
		ok, e = g.primary.TakeAIQuota(c, key, limit, ttl)
		return e
	})
	if err == nil {
		return ok, nil
	}
	return g.local.TakeAIQuota(ctx, key, limit, ttl)
}

// HoldReply implements store.AIStore.
func (g *Guard) HoldReply(ctx context.Context, openID string, reply []byte, ttl time.Duration) error {
	err := g.call(ctx, g.o.CallTimeout, func(c context.Context) error { return g.primary.HoldReply(c, openID, reply, ttl) })
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
	var r []byte
	err := g.call(ctx, g.o.CallTimeout, func(c context.Context) (e error) {
		r, e = g.primary.TakeHeldReply(c, openID)
		return e
	})
	return r, err
}

// ForgetAI implements store.AIStore: from this process's memory too, and from
// the store, which must answer (a deletion is not left to chance).
func (g *Guard) ForgetAI(ctx context.Context, openID string) error {
	g.local.ForgetAI(ctx, openID)
	return g.call(ctx, g.o.CallTimeout, func(c context.Context) error { return g.primary.ForgetAI(c, openID) })
}

package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
)

// RememberKey implements store.IdempotencyKeys: one script, so that two
// replicas given the same key at once agree on the first.
func (s *Redis) RememberKey(ctx context.Context, key, fingerprint string, ttl time.Duration) (string, error) {
	first, err := rememberQuery.Run(ctx, s.rdb, []string{s.k("apikey", key)}, fingerprint, max(ttl.Milliseconds(), 1)).Text()
	if err != nil {
		return "", fmt.Errorf("redis idempotency key: %w", err)
	}
	return first, nil
}

// Track implements outbox.Tracker from the send ID's key (see Enqueue,
// settleScript and Drop: p pending, d delivered, x dead, r dropped); a
// dead send's reason is read from the dead letters' stream.
func (s *Redis) Track(ctx context.Context, id string) (outbox.Status, error) {
	v, err := s.rdb.Get(ctx, s.k("id", id)).Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return outbox.Status{}, nil
	case err != nil:
		return outbox.Status{}, fmt.Errorf("redis outbox: %w", err)
	}
	switch v {
	case "p":
		return outbox.Status{State: outbox.Pending}, nil
	case "d":
		return outbox.Status{State: outbox.Sent}, nil
	case "r":
		return outbox.Status{State: outbox.Dead, Reason: outbox.DroppedReason}, nil
	}
	reason, err := s.deadReason(ctx, id)
	return outbox.Status{State: outbox.Dead, Reason: reason}, err
}

// deadReason is the reason of the newest dead letter of the send id, ""
// when the stream no longer holds one (it keeps about the newest 10,000).
func (s *Redis) deadReason(ctx context.Context, id string) (string, error) {
	start := "+"
	for {
		msgs, err := s.rdb.XRevRangeN(ctx, s.k("dead"), start, "-", 500).Result()
		if err != nil {
			return "", fmt.Errorf("redis outbox: %w", err)
		}
		for _, m := range msgs {
			if d, ok := deadLetter(m); ok && d.Send != nil && d.Send.ID == id {
				return d.Reason, nil
			}
		}
		if len(msgs) < 500 {
			return "", nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// RememberKey implements store.IdempotencyKeys on the guarded store only:
// a key remembered in one replica's memory would not stop another replica
// from sending it again, so while the store fails the caller is refused
// and tries again later.
func (g *Guard) RememberKey(ctx context.Context, key, fingerprint string, ttl time.Duration) (string, error) {
	keys, err := primaryAs[store.IdempotencyKeys](g, "idempotency keys")
	if err != nil {
		return "", err
	}
	return guarded(g, ctx, 2*time.Second, func(c context.Context) (string, error) {
		return keys.RememberKey(c, key, fingerprint, ttl)
	}, nil)
}

// Track implements outbox.Tracker: the store's status of the send, or,
// for a send it does not know, the local spool's, where a send accepted
// while the store failed waits.
func (g *Guard) Track(ctx context.Context, id string) (outbox.Status, error) {
	t, err := primaryAs[outbox.Tracker](g, "record of sends")
	if err != nil {
		return outbox.Status{}, err
	}
	st, err := guarded(g, ctx, 2*time.Second, func(c context.Context) (outbox.Status, error) { return t.Track(c, id) }, nil)
	if err == nil && st.State != outbox.Unknown {
		return st, nil
	}
	// A spooled send moved to the store is done in the spool: only a
	// send still waiting there is news, failing store or not.
	if sp, serr := g.spool.Track(ctx, id); serr == nil && sp.State == outbox.Pending {
		return sp, nil
	}
	return st, err
}

var (
	_ outbox.Tracker        = (*Redis)(nil)
	_ outbox.Tracker        = (*Guard)(nil)
	_ store.IdempotencyKeys = (*Redis)(nil)
	_ store.IdempotencyKeys = (*Guard)(nil)
)

// deadLetter decodes an entry of the dead letters' stream.
func deadLetter(m goredis.XMessage) (outbox.DeadLetter, bool) {
	var d outbox.DeadLetter
	raw, ok := m.Values["dead"].(string)
	return d, ok && json.Unmarshal([]byte(raw), &d) == nil
}

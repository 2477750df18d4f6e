package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxbot/wxbot/engine/store"
)

// The store.HandoffIndex in Redis is one hash (PREFIX handoffs), openid →
// "END_MS JSON": one key, so that a cluster keeps it on one node, and
// every replica writes and reads the same handoffs. Redis cannot expire a
// field (before 7.4), so the ended ones leave at each write and read.

// putHandoff sets a handoff and drops the ended ones. KEYS: the hash.
// ARGV: now (ms), openid, "END_MS JSON".
var putHandoff = goredis.NewScript(`
local now = tonumber(ARGV[1])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local e = tonumber(string.match(all[i+1], '^(%d+) '))
  if e == nil or e <= now then redis.call('HDEL', KEYS[1], all[i]) end
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1`)

// handoffRecord is a handoff as the hash keeps it, after its end.
type handoffRecord struct {
	Account string    `json:"account,omitempty"`
	Waiting bool      `json:"waiting,omitempty"`
	Since   time.Time `json:"since"`
}

// PutHandoff implements store.HandoffIndex.
func (s *Redis) PutHandoff(ctx context.Context, h store.Handoff, until time.Time) error {
	body, err := json.Marshal(handoffRecord{Account: h.Account, Waiting: h.Waiting, Since: h.Since})
	if err != nil {
		return err
	}
	v := strconv.FormatInt(ms(until), 10) + " " + string(body)
	if err := putHandoff.Run(ctx, s.rdb, []string{s.k("handoffs")}, ms(s.now()), h.OpenID, v).Err(); err != nil {
		return fmt.Errorf("redis: recording a handoff: %w", err)
	}
	return nil
}

// EndHandoff implements store.HandoffIndex.
func (s *Redis) EndHandoff(ctx context.Context, openID string) error {
	if err := s.rdb.HDel(ctx, s.k("handoffs"), openID).Err(); err != nil {
		return fmt.Errorf("redis: ending a handoff: %w", err)
	}
	return nil
}

// Handoffs implements store.HandoffIndex. A damaged field is dropped with
// the ended ones: nothing else would read it.
func (s *Redis) Handoffs(ctx context.Context) ([]store.Handoff, error) {
	all, err := s.rdb.HGetAll(ctx, s.k("handoffs")).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: listing the handoffs: %w", err)
	}
	now := ms(s.now())
	var out []store.Handoff
	var ended []string
	for id, v := range all {
		end, body, _ := strings.Cut(v, " ")
		e, err := strconv.ParseInt(end, 10, 64)
		var r handoffRecord
		if err != nil || e <= now || json.Unmarshal([]byte(body), &r) != nil {
			ended = append(ended, id)
			continue
		}
		out = append(out, store.Handoff{OpenID: id, Account: r.Account, Waiting: r.Waiting, Since: r.Since})
	}
	if len(ended) > 0 {
		// best effort: the next write drops them too
		s.rdb.HDel(ctx, s.k("handoffs"), ended...)
	}
	store.SortHandoffs(out)
	return out, nil
}

var _ store.HandoffIndex = (*Redis)(nil)

// The Guard's store.HandoffIndex goes to the store or fails: the user
// states it mirrors are not kept while the store fails either (see Guard),
// and a handoff kept in one replica's memory would count in that
// replica's gauge only.

// PutHandoff implements store.HandoffIndex.
func (g *Guard) PutHandoff(ctx context.Context, h store.Handoff, until time.Time) error {
	idx, err := primaryAs[store.HandoffIndex](g, "handoff index")
	if err != nil {
		return err
	}
	return g.call(ctx, g.o.CallTimeout, func(c context.Context) error { return idx.PutHandoff(c, h, until) })
}

// EndHandoff implements store.HandoffIndex.
func (g *Guard) EndHandoff(ctx context.Context, openID string) error {
	idx, err := primaryAs[store.HandoffIndex](g, "handoff index")
	if err != nil {
		return err
	}
	return g.call(ctx, g.o.CallTimeout, func(c context.Context) error { return idx.EndHandoff(c, openID) })
}

// Handoffs implements store.HandoffIndex, with the patience of a scrape
// rather than a push's.
func (g *Guard) Handoffs(ctx context.Context) ([]store.Handoff, error) {
	idx, err := primaryAs[store.HandoffIndex](g, "handoff index")
	if err != nil {
		return nil, err
	}
	return guarded(g, ctx, 2*time.Second, idx.Handoffs, nil)
}

var _ store.HandoffIndex = (*Guard)(nil)

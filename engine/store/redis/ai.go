package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/wxbot/wxbot/engine/store"
)

// store.AIStore on Redis: a list per user for the turns and for the held
// replies (appended, trimmed and given their expiry in one MULTI), a
// counter per quota key (checked and counted in one script).

// AITurns implements store.AIStore.
func (s *Redis) AITurns(ctx context.Context, openID string) ([]store.Turn, error) {
	raw, err := s.rdb.LRange(ctx, s.k("ai", "turns", openID), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the AI history: %w", err)
	}
	turns := make([]store.Turn, 0, len(raw))
	for _, r := range raw {
		var t store.Turn
		if json.Unmarshal([]byte(r), &t) == nil { // a damaged turn is skipped, not fatal
			turns = append(turns, t)
		}
	}
	return turns, nil
}

// AddAITurn implements store.AIStore.
func (s *Redis) AddAITurn(ctx context.Context, openID string, t store.Turn, keep int, ttl time.Duration) error {
	raw, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return s.appendTrimmed(ctx, s.k("ai", "turns", openID), raw, store.KeepTurns(keep), ttl)
}

// appendTrimmed appends v to the list key, keeps its last keep items and
// sets its expiry, atomically.
func (s *Redis) appendTrimmed(ctx context.Context, key string, v []byte, keep int, ttl time.Duration) error {
	_, err := s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.RPush(ctx, key, v)
		p.LTrim(ctx, key, int64(-keep), -1)
		p.PExpire(ctx, key, max(ttl, time.Millisecond))
		return nil
	})
	return err
}

// takeQuota counts one under KEYS[1] unless ARGV[1] are counted; ARGV[2]
// is the count's life in ms, from its first count.
var takeQuota = goredis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
if n == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`)

// TakeAIQuota implements store.AIStore.
func (s *Redis) TakeAIQuota(ctx context.Context, key string, limit int, ttl time.Duration) (bool, error) {
	r, err := takeQuota.Run(ctx, s.rdb, []string{s.k("ai", "quota", key)}, strconv.Itoa(limit), max(ttl.Milliseconds(), 1)).Int()
	return r == 1, err
}

// HoldReply implements store.AIStore.
func (s *Redis) HoldReply(ctx context.Context, openID string, reply []byte, ttl time.Duration) error {
	return s.appendTrimmed(ctx, s.k("held", openID), reply, store.MaxHeldReplies, ttl)
}

// TakeHeldReply implements store.AIStore: LPOP, so that two replicas answering
// two pushes of one user never hand out the same reply.
func (s *Redis) TakeHeldReply(ctx context.Context, openID string) ([]byte, error) {
	b, err := s.rdb.LPop(ctx, s.k("held", openID)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	return b, err
}

// ForgetAI implements store.AIStore.
func (s *Redis) ForgetAI(ctx context.Context, openID string) error {
	return s.rdb.Del(ctx, s.k("ai", "turns", openID), s.k("held", openID)).Err()
}

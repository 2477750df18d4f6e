package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
	"github.com/wxbot/wxbot/engine/store"
)

// A user's state in Redis is a hash (PREFIX user:OPENID, field → JSON
// value) with Redis's own expiry, and the users' expiries are also a
// sorted set (PREFIX users), so counting users with state is one ZCARD,
// not a SCAN of the keyspace.

// patchUser applies a store.UserPatch atomically, so replicas patching one user
// at once keep each other's keys. KEYS: the user's hash, the users' set.
// ARGV: clear (1/0), ttl ms, expiry ms, openid, max keys, max bytes, the
// count of keys to unset, those keys, then key/value pairs to set. It
// returns the error "too large: …" (and writes nothing) past a limit.
var patchUser = goredis.NewScript(`
local clear, ttl, untilms, id = ARGV[1] == '1', ARGV[2], ARGV[3], ARGV[4]
local maxk, maxb, nunset = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local st = {}
if not clear then
  local cur = redis.call('HGETALL', KEYS[1])
  for i = 1, #cur, 2 do st[cur[i]] = cur[i+1] end
end
for i = 8, 7 + nunset do st[ARGV[i]] = nil end
for i = 8 + nunset, #ARGV, 2 do st[ARGV[i]] = ARGV[i+1] end
local n, size, flat = 0, 0, {}
for k, v in pairs(st) do
  n = n + 1
  size = size + #k + #v
  flat[#flat+1] = k
  flat[#flat+1] = v
end
if n > maxk then return redis.error_reply('too large: ' .. n .. ' keys, at most ' .. maxk) end
if size > maxb then return redis.error_reply('too large: ' .. size .. ' bytes, at most ' .. maxb) end
redis.call('DEL', KEYS[1])
if n == 0 then
  redis.call('ZREM', KEYS[2], id)
  return 0
end
redis.call('HSET', KEYS[1], unpack(flat))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], untilms, id)
return n`)

// LoadUser implements engine.Users.
func (s *Redis) LoadUser(ctx context.Context, openID string) (map[string]any, error) {
	m, err := s.rdb.HGetAll(ctx, s.k("user", openID)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the state of %s: %w", openID, err)
	}
	st := make(store.EncodedState, len(m))
	for k, v := range m {
		st[k] = []byte(v)
	}
	return st.Decode()
}

// PatchUser implements engine.Users.
func (s *Redis) PatchUser(ctx context.Context, openID string, p *store.UserPatch) error {
	set, err := store.EncodeValues(p.Set)
	if err != nil {
		return err
	}
	ttl := p.TTLOrDefault()
	clear := "0"
	if p.Clear {
		clear = "1"
	}
	args := make([]any, 0, 7+len(p.Unset)+2*len(set))
	args = append(args, clear, ttl.Milliseconds(), ms(s.now().Add(ttl)), openID, store.MaxStateKeys, store.MaxStateBytes, len(p.Unset))
	for _, k := range p.Unset {
		args = append(args, k)
	}
	for k, v := range set {
		args = append(args, k, string(v))
	}
	err = patchUser.Run(ctx, s.rdb, []string{s.k("user", openID), s.usersSet(openID)}, args...).Err()
	if err != nil && strings.HasPrefix(err.Error(), "too large: ") {
		return fmt.Errorf("%w: %s", store.ErrStateTooLarge, strings.TrimPrefix(err.Error(), "too large: "))
	}
	return err
}

// DeleteUser implements engine.Users.
func (s *Redis) DeleteUser(ctx context.Context, openID string) (bool, error) {
	var del *goredis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		del = p.Del(ctx, s.k("user", openID))
		p.ZRem(ctx, s.usersSet(openID), openID)
		return nil
	})
	if err != nil {
		return false, err
	}
	return del.Val() > 0, nil
}

// usersSet is the sorted set that counts openID's state: the followers'
// (CountUsers), or the bot's own states' (store.InternalUser), which
// wxbot_state_users leaves out.
func (s *Redis) usersSet(openID string) string {
	if store.InternalUser(openID) {
		return s.k("internal-users")
	}
	return s.k("users")
}

// CountUsers implements engine.Users: the expired leave the set first.
func (s *Redis) CountUsers(ctx context.Context) (int, error) {
	var card *goredis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.ZRemRangeByScore(ctx, s.k("users"), "-inf", strconv.FormatInt(ms(s.now()), 10))
		card = p.ZCard(ctx, s.k("users"))
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return 0, err
	}
	return int(card.Val()), nil
}

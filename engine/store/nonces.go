package store

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/wxbot/wxbot/engine/dedup"
)

// A signed query string (timestamp, nonce) is remembered with a hash of
// the body it came with, for the replay window (--max-skew): the same
// body again is a retry, another body a forgery (WeChat's signature does
// not cover the body). See callback.Replays.

// nonceMemory keeps query strings in process memory: a retry cache
// (dedup.Local: pointer-free, sharded, two generations dropped wholesale)
// whose answer is the body's hash. It is made on first use, with the
// window the caller asks for.
type nonceMemory struct {
	once sync.Once
	seen *dedup.Local
}

// maxNonces bounds the query strings a generation keeps (about 10 MiB; at
// 600 pushes a second that is the whole 5-minute window): under more load
// the window shrinks instead of memory growing.
const maxNonces = 1 << 18

func (m *nonceMemory) remember(key, bodyHash string, now func() time.Time, ttl time.Duration) string {
	m.once.Do(func() { m.seen = dedup.NewLocalSized(ttl, 2*maxNonces, now) })
	a, first, _ := m.seen.Claim(context.Background(), key)
	if first {
		a.Finish("", []byte(bodyHash))
		return ""
	}
	_, body, _ := a.Wait(context.Background()) // finished at once by the first
	return string(body)
}

// RememberQuery implements callback.Replays: it returns the hash of the
// body first seen with key ("" the first time).
func (s *Memory) RememberQuery(_ context.Context, key, bodyHash string, ttl time.Duration) (string, error) {
	return s.nonces.remember(key, bodyHash, s.now, ttl), nil
}

// RememberQuery implements callback.Replays, in this process's memory: a
// restart forgets (replicas share query strings only on Redis).
func (s *Bolt) RememberQuery(_ context.Context, key, bodyHash string, ttl time.Duration) (string, error) {
	return s.nonces.remember(key, bodyHash, s.now, ttl), nil
}

// rememberQuery: KEYS the query's key; ARGV body hash, TTL ms. Returns the
// body hash stored before, or "".
var rememberQuery = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ''`)

// RememberQuery implements callback.Replays, shared by the replicas.
func (s *Redis) RememberQuery(ctx context.Context, key, bodyHash string, ttl time.Duration) (string, error) {
	return rememberQuery.Run(ctx, s.rdb, []string{s.k("q", key)}, bodyHash, ttl.Milliseconds()).Text()
}

// RememberQuery implements callback.Replays; degraded, in memory.
func (g *Guard) RememberQuery(ctx context.Context, key, bodyHash string, ttl time.Duration) (string, error) {
	r, ok := g.primary.(interface {
		RememberQuery(context.Context, string, string, time.Duration) (string, error)
	})
	if !ok {
		return g.local.RememberQuery(ctx, key, bodyHash, ttl)
	}
	var first string
	err := g.call(ctx, g.o.CallTimeout, func(c context.Context) (e error) {
		first, e = r.RememberQuery(c, key, bodyHash, ttl)
		return e
	})
	if err == nil {
		return first, nil
	}
	return g.local.RememberQuery(ctx, key, bodyHash, ttl)
}

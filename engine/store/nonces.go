package store

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// A signed query string (timestamp, nonce) is remembered with a hash of
// the body it came with, for the replay window (--max-skew): the same
// body again is a retry, another body a forgery (WeChat's signature does
// not cover the body). See callback.Replays.

// nonceMemory keeps query strings in process memory.
type nonceMemory struct {
	mu      sync.Mutex
	seen    map[string]nonceEntry
	sweepAt time.Time
}

type nonceEntry struct {
	body string
	end  time.Time
}

func (m *nonceMemory) remember(key, bodyHash string, now time.Time, ttl time.Duration) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]nonceEntry{}
	}
	if now.After(m.sweepAt) {
		for k, e := range m.seen {
			if !now.Before(e.end) {
				delete(m.seen, k)
			}
		}
		m.sweepAt = now.Add(time.Minute)
	}
	if e, ok := m.seen[key]; ok && now.Before(e.end) {
		return e.body
	}
	m.seen[strings.Clone(key)] = nonceEntry{body: strings.Clone(bodyHash), end: now.Add(ttl)}
	return ""
}

// RememberQuery implements callback.Replays: it returns the hash of the
// body first seen with key ("" the first time).
func (s *Memory) RememberQuery(_ context.Context, key, bodyHash string, ttl time.Duration) (string, error) {
	return s.nonces.remember(key, bodyHash, s.now(), ttl), nil
}

// RememberQuery implements callback.Replays, in this process's memory: a
// restart forgets (replicas share query strings only on Redis).
func (s *Bolt) RememberQuery(_ context.Context, key, bodyHash string, ttl time.Duration) (string, error) {
	return s.nonces.remember(key, bodyHash, s.now(), ttl), nil
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

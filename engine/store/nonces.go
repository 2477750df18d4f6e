package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// A signed query string (timestamp, nonce) is remembered with a hash of
// the body it came with, for the replay window (--max-skew): the same
// body again is a retry, another body a forgery (WeChat's signature does
// not cover the body). See callback.Replays.

// nonceMemory keeps query strings in process memory, without pointers
// (keys and bodies as 128-bit hashes), so that the collector never scans
// them: a busy account sees hundreds of thousands in a replay window.
type nonceMemory struct {
	mu      sync.Mutex
	seen    map[[16]byte]nonceEntry
	sweepAt time.Time
}

type nonceEntry struct {
	body [16]byte
	end  int64 // Unix nanoseconds
}

func (m *nonceMemory) remember(key, bodyHash string, now time.Time, ttl time.Duration) string {
	k := sha256.Sum256([]byte(key))
	var id [16]byte
	copy(id[:], k[:16])
	var body [16]byte
	if n, err := hex.Decode(body[:], []byte(bodyHash)); err != nil || n != len(body) {
		b := sha256.Sum256([]byte(bodyHash)) // not hex: keep a hash of it
		copy(body[:], b[:16])
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[[16]byte]nonceEntry{}
	}
	if now.After(m.sweepAt) {
		for k, e := range m.seen {
			if now.UnixNano() >= e.end {
				delete(m.seen, k)
			}
		}
		m.sweepAt = now.Add(time.Minute)
	}
	if e, ok := m.seen[id]; ok && now.UnixNano() < e.end {
		if e.body == body {
			return bodyHash
		}
		return hex.EncodeToString(e.body[:])
	}
	m.seen[id] = nonceEntry{body: body, end: now.Add(ttl).UnixNano()}
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

package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// A signed query string (timestamp, nonce) is remembered with a hash of
// the body it came with, for the replay window (--max-skew): the same
// body again is a retry, another body a forgery (WeChat's signature does
// not cover the body). See callback.Replays.

// nonceMemory keeps query strings in process memory, without pointers
// (keys as two 64-bit hashes, bodies as 128-bit hashes) so that the
// collector never scans them, in 32 shards, each with two generations
// dropped wholesale, like the retry cache: a busy account sees hundreds of
// thousands of query strings in a replay window, and remembering one must
// cost next to nothing.
type nonceMemory struct {
	once   sync.Once
	seed   maphash.Seed
	seed2  maphash.Seed
	shards [32]nonceShard
}

// maxNonces bounds the query strings one generation keeps (about 10 MiB;
// at 600 pushes a second that is the whole 5-minute window).
const maxNonces = 1 << 18

type nonceShard struct {
	mu        sync.Mutex
	cur, prev map[uint64]nonceEntry
	rotateAt  time.Time
}

type nonceEntry struct {
	check uint64 // the key's second hash
	body  [16]byte
}

func (m *nonceMemory) remember(key, bodyHash string, now time.Time, ttl time.Duration) string {
	m.once.Do(func() { m.seed, m.seed2 = maphash.MakeSeed(), maphash.MakeSeed() })
	h, check := maphash.String(m.seed, key), maphash.String(m.seed2, key)
	var body [16]byte
	if n, err := hex.Decode(body[:], []byte(bodyHash)); err != nil || n != len(body) {
		sum := sha256.Sum256([]byte(bodyHash)) // not the 128-bit hex hash callers give: keep a hash of it
		copy(body[:], sum[:16])
	}
	sh := &m.shards[h%uint64(len(m.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// Entries live between ttl and twice ttl: the whole window at least,
	// unless a shard fills up first (memory stays bounded: under more load
	// than maxNonces a window, query strings are remembered for less).
	if sh.cur == nil || now.After(sh.rotateAt) || len(sh.cur) >= maxNonces/len(m.shards) {
		sh.prev, sh.cur = sh.cur, map[uint64]nonceEntry{}
		if now.After(sh.rotateAt.Add(ttl)) {
			sh.prev = nil
		}
		sh.rotateAt = now.Add(ttl)
	}
	for _, g := range [2]map[uint64]nonceEntry{sh.cur, sh.prev} {
		if e, ok := g[h]; ok && e.check == check {
			if e.body == body {
				return bodyHash
			}
			return hex.EncodeToString(e.body[:])
		}
	}
	sh.cur[h] = nonceEntry{check: check, body: body}
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

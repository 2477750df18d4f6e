package store

import (
	"context"
	"encoding/hex"
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

// ReplayMemory bounds the memory of the query strings kept in this process
// (73 bytes each: 4 MiB hold about 57,000, the whole 5-minute window below
// about 190 pushes a second): under more load the window shrinks instead
// of memory growing. Set it before the first push (serve's
// --replay-memory); Redis keeps them in Redis instead.
var ReplayMemory = 4 << 20

func (m *nonceMemory) remember(key, bodyHash string, now func() time.Time, ttl time.Duration) string {
	m.once.Do(func() { m.seen = dedup.NewLocalSized(ttl, ReplayMemory, now) })
	a, first, _ := m.seen.Claim(context.Background(), key)
	if first {
		// The hash is hex: kept as its bytes, it takes half the room.
		var raw [64]byte
		n, err := hex.Decode(raw[:min(len(bodyHash)/2, len(raw))], []byte(bodyHash))
		if err != nil || len(bodyHash) > 2*len(raw) || !lowerHex(bodyHash) {
			a.Finish("", []byte(bodyHash))
		} else {
			a.Finish(rawHash, raw[:n])
		}
		return ""
	}
	ct, body, _ := a.Wait(context.Background()) // finished at once by the first
	if ct == rawHash {
		return hex.EncodeToString(body)
	}
	return string(body)
}

// rawHash marks a hash kept as bytes: dedup keeps a content type with each
// answer, which a body hash has no use for otherwise.
const rawHash = "application/xml; charset=utf-8"

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

// lowerHex reports whether s is lower-case hex, which the bytes give back.
func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

package store

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// A signed query string (timestamp, nonce) is remembered with a hash of
// the body it came with, for the replay window (--max-skew): the same
// body again is a retry, another body a forgery (WeChat's signature does
// not cover the body). See callback.Replays.

// QueryMemory keeps query strings in process memory. Each of its shards
// holds two generations of an open-addressed table of (key hash, body
// hash) slots, 24 bytes each and without pointers, made once at the budget:
// remembering a query string allocates nothing, the collector never scans
// the tables, and a generation is dropped wholesale (every TTL, or early
// when the current one is full). It is made on first use, with the window
// the caller asks for.
type QueryMemory struct {
	// Budget is the tables' bytes (DefaultReplayMemory when 0); set it
	// before the first Remember.
	Budget int

	once sync.Once
	seed maphash.Seed
	// ttl is the longest window asked for (nanoseconds): a store that
	// reloads query strings from before a restart asks with the window they
	// were kept for, and the first push's window, if longer, takes over.
	ttl    atomic.Int64
	shards []nonceShard
	// early counts generations dropped before their TTL because the budget
	// was reached: the window shrank.
	early atomic.Uint64
}

const nonceShards = 16

type nonceShard struct {
	mu        sync.Mutex
	cur, prev nonceTable
	rotateAt  time.Time
	_         [32]byte // 128 bytes a shard: two shards' locks never share a cache line
}

// nonceTable is one generation: linear probing in slots kept at most 3/4
// full, so a probe always ends at an empty slot.
type nonceTable struct {
	slots []nonceSlot
	n     int
}

type nonceSlot struct {
	key  uint64 // the query string's keyed hash; 0 is an empty slot
	body [16]byte
}

const nonceSlotBytes = 24

// find returns key's slot, or the empty slot where it goes.
func (t *nonceTable) find(key uint64) (*nonceSlot, bool) {
	hi, _ := bits.Mul64(key, uint64(len(t.slots))) // key's place, spread over the table
	for i := int(hi); ; i++ {
		if i == len(t.slots) {
			i = 0
		}
		s := &t.slots[i]
		if s.key == key {
			return s, true
		}
		if s.key == 0 {
			return s, false
		}
	}
}

func (t *nonceTable) full() bool { return t.n >= len(t.slots)*3/4 }

func (t *nonceTable) reset() {
	clear(t.slots)
	t.n = 0
}

// DefaultReplayMemory is a QueryMemory's budget when it names none: 32
// bytes a query string once the tables are full, so 2 MiB hold about
// 65,000, the whole 5-minute window below about 210 pushes a second. Under
// more load the window shrinks instead of memory growing (serve's
// --replay-memory); Redis keeps them in Redis instead.
const DefaultReplayMemory = 2 << 20

func (m *QueryMemory) init(ttl time.Duration) {
	m.seed = maphash.MakeSeed()
	m.ttl.Store(int64(ttl))
	m.shards = make([]nonceShard, nonceShards)
	budget := m.Budget
	if budget <= 0 {
		budget = DefaultReplayMemory
	}
	slots := max(budget/nonceShards/2/nonceSlotBytes, 8)
	for i := range m.shards {
		m.shards[i].cur.slots = make([]nonceSlot, slots)
		m.shards[i].prev.slots = make([]nonceSlot, slots)
	}
}

// Remember returns the body hash first seen with key, or "" if key is new.
// A hash given as 32 lower-case hex digits (what callback passes) is kept
// as its 16 bytes; any other string as 16 bytes of its SHA-256. Either way
// the same string comes back as itself, and another as a different string.
func (m *QueryMemory) Remember(key, bodyHash string, now func() time.Time, ttl time.Duration) string {
	body := QueryBody(bodyHash)
	prev, seen := m.RememberBody(key, body, now(), ttl)
	switch {
	case !seen:
		return ""
	case prev == body:
		return bodyHash
	}
	return hex.EncodeToString(prev[:])
}

// QueryBody is the 16 bytes a QueryMemory keeps for a body hash (see
// Remember): a store that writes query strings down keeps these.
func QueryBody(bodyHash string) [16]byte {
	var body [16]byte
	if len(bodyHash) == 32 && lowerHex(bodyHash) {
		hex.Decode(body[:], []byte(bodyHash))
	} else {
		sum := sha256.Sum256([]byte(bodyHash))
		copy(body[:], sum[:])
	}
	return body
}

// RememberBody is Remember with the body as QueryBody made it: it returns
// the body first seen with key and true, or body is remembered and false.
func (m *QueryMemory) RememberBody(key string, body [16]byte, now time.Time, ttl time.Duration) ([16]byte, bool) {
	m.once.Do(func() { m.init(ttl) })
	if int64(ttl) > m.ttl.Load() {
		m.ttl.Store(int64(ttl)) // racing raises keep one of the longer windows: either will do
	}
	k := maphash.String(m.seed, key)
	if k == 0 {
		k = 1
	}
	sh := &m.shards[k%nonceShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.cur.full() || now.After(sh.rotateAt) {
		m.rotate(sh, now)
	}
	s, ok := sh.cur.find(k)
	if !ok {
		if p, seen := sh.prev.find(k); seen {
			return p.body, true
		}
	}
	if ok {
		return s.body, true
	}
	*s = nonceSlot{key: k, body: body}
	sh.cur.n++
	return body, false
}

// rotate drops the older generation: every TTL, or early when the current
// one is full. The shard is locked.
func (m *QueryMemory) rotate(sh *nonceShard, now time.Time) {
	if !now.After(sh.rotateAt) {
		m.early.Add(1)
	}
	ttl := time.Duration(m.ttl.Load())
	sh.prev, sh.cur = sh.cur, sh.prev
	sh.cur.reset()
	if now.After(sh.rotateAt.Add(ttl)) { // idle for long: all of it is stale
		sh.prev.reset()
	}
	sh.rotateAt = now.Add(ttl)
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

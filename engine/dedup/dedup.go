// Package dedup makes WeChat's retries of a push run the rules once. WeChat
// retries a push it got no answer to within 5 s, up to three times; the
// first copy claims the push's key, and the copies that follow wait for the
// first copy's answer and get the same bytes.
//
// [Local] serves one process; engine/store/redis has the one that replicas
// share, and [Fallback] puts a local one behind a shared one that fails.
//
// This package imports nothing of wxbot.
package dedup

import (
	"context"
	"errors"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTTL covers WeChat's retry span (three retries, about 5 s apart,
// so about 15 s) with room to spare; answers are kept between one and two
// TTLs. Every answer is held that long, so the TTL bounds memory.
const DefaultTTL = 30 * time.Second

// Local is the retry cache of one process.
//
// Entries live between TTL and twice the TTL: each shard keeps two
// generations and drops the older one wholesale, which costs nothing per
// request and needs no sweeper goroutine. Finished answers are kept
// without pointers (a map of two 64-bit hashes of the key to a span of a
// byte arena), so the garbage collector never scans them, however many
// there are; only pushes still being answered hold an inflight.
type Local struct {
	ttl         time.Duration
	now         func() time.Time
	seed, seed2 maphash.Seed
	shardBytes  int // a generation's budget in one shard
	shards      [32]dedupShard
	// EarlyRotations counts generations dropped before their TTL because
	// the cap was reached (load beyond what the TTL can hold).
	EarlyRotations atomic.Uint64
	// Persist, when set, hears every finished answer with how long it must
	// be kept, so that a store can keep it across a restart (see Preload).
	Persist func(key, contentType string, body []byte, until time.Time)
}

// Preload files an answer kept from before a restart: a retry of that
// push gets its bytes and runs nothing. It copies body: a store reading
// its answers back reuses one buffer.
func (d *Local) Preload(key, contentType string, body []byte) {
	a, first := d.claimAnswer(key)
	if first {
		f := a.(*inflight)
		f.key = "" // already kept: not persisted again
		f.Finish(contentType, body)
	}
}

// DefaultBytes bounds the memory the answers kept for retries take (about
// 8,000 plaintext replies, 3,000 encrypted ones: at 200 pushes a second,
// the 15 seconds in which WeChat retries): under more load than that,
// answers are kept for less than the TTL (a push is kept in flight,
// whatever the budget, until it is answered). serve's --retry-memory sets
// it.
const DefaultBytes = 2 << 20

// entryBytes is what an answer costs besides its bytes: its slot in the
// index, measured (24-byte slots in tables between 7/16 and 7/8 full,
// their control words and directory). 32 counted before let a memory of
// 16-byte answers, the replay memory's, take twice its budget.
const entryBytes = 56

type dedupShard struct {
	owner     *Local
	mu        sync.Mutex
	inflight  map[uint64]*inflight // answers being computed
	cur, prev generation
	rotateAt  time.Time
}

// generation is one TTL's finished answers: pointer-free.
type generation struct {
	index map[uint64]span // first hash → answer
	arena []byte          // content-type index byte, then the body
}

type span struct {
	check uint64 // the second hash: two 64-bit hashes must both collide
	off   uint32
	n     uint32
}

// contentTypes are the answers' content types, stored as an index.
var contentTypes = []string{"text/plain; charset=utf-8", "application/xml; charset=utf-8"}

func (g *generation) get(h, check uint64) (string, []byte, bool) {
	sp, ok := g.index[h]
	if !ok || sp.check != check {
		return "", nil, false
	}
	b := g.arena[sp.off : sp.off+sp.n : sp.off+sp.n]
	return contentTypes[b[0]], b[1:], true
}

// bytes is what the generation keeps, as counted against the budget.
func (g *generation) bytes() int { return len(g.index)*entryBytes + len(g.arena) }

// reset empties the generation, keeping its arena for the next answers.
// An arena grows as answers come (one made at the budget would be mostly
// unused by small answers, the replay memory's hashes) but never past
// what the budget leaves beside the index (see Finish).
func (g *generation) reset(budget int) {
	clear(g.index)
	if cap(g.arena) > budget {
		g.arena = nil
	}
	g.arena = g.arena[:0]
}

// inflight is the answer to one push being computed. Finish moves it to
// its shard's pointer-free storage.
type inflight struct {
	finished atomic.Bool
	mu       sync.Mutex
	done     chan struct{} // made by the first waiter; nil if none came
	body     []byte
	ct       string
	shard    *dedupShard
	h, check uint64
	key      string                                             // for persist; "" when not persisted
	persist  func(key, ct string, body []byte, until time.Time) // Local.Persist
	until    time.Time                                          // how long a persisted answer is kept
}

// finishedAnswer is a settled answer handed to a retry.
type finishedAnswer struct {
	ct   string
	body []byte
}

func (a finishedAnswer) Finish(string, []byte) {}
func (a finishedAnswer) Wait(context.Context) (string, []byte, error) {
	return a.ct, a.body, nil
}

// NewLocal returns a Local remembering answers for at least ttl, as long
// as they fit in DefaultBytes.
func NewLocal(ttl time.Duration, now func() time.Time) *Local {
	return NewLocalSized(ttl, DefaultBytes, now)
}

// NewLocalSized is NewLocal keeping answers in about maxBytes (two
// generations of half that each, the answers' bytes and their index)
// before it rotates early.
func NewLocalSized(ttl time.Duration, maxBytes int, now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	d := &Local{ttl: ttl, now: now, seed: maphash.MakeSeed(), seed2: maphash.MakeSeed(), shardBytes: max(maxBytes/2/32, 256)}
	for i := range d.shards {
		sh := &d.shards[i]
		sh.owner = d
		sh.inflight = map[uint64]*inflight{}
		sh.cur.index = map[uint64]span{}
		sh.prev.index = map[uint64]span{}
		sh.cur.reset(d.shardBytes)
	}
	return d
}

// rotate drops the older generation and starts a new one: every TTL, or
// early when the current one is full. The shard is locked.
func (sh *dedupShard) rotate(now time.Time, early bool) {
	d := sh.owner
	if early {
		d.EarlyRotations.Add(1)
	}
	sh.prev, sh.cur = sh.cur, sh.prev
	sh.cur.reset(d.shardBytes)
	if now.After(sh.rotateAt.Add(d.ttl)) { // idle for long: all of it is stale
		sh.prev.reset(d.shardBytes)
	}
	sh.rotateAt = now.Add(d.ttl)
}

// Cache decides which copy of a push runs the rules. The in-process Local
// serves one bot; a shared one (Redis) makes replicas behind a load
// balancer answer a retry that lands elsewhere with the same bytes.
type Cache interface {
	// Claim returns the push's answer slot and whether the caller is first:
	// the first calls Finish, the others Wait.
	Claim(ctx context.Context, key string) (Answer, bool, error)
}

// Window is the kefu window a push opens: its user, and when it ends.
type Window struct {
	OpenID string
	Until  time.Time
	// Read names a key of the user's state to read back with the claim
	// ("": none), so that the push needs no round trip of its own for it.
	Read string
}

// WindowClaim is what ClaimWindow did besides the claim.
type WindowClaim struct {
	First  bool // the caller is the first copy: it answers
	Opened bool // the window is recorded; when not, the caller records it
	// Read is the state key's encoded value ("" for none) when it was read
	// with the claim; nil when not.
	Read *string
}

// WindowCache is a Cache on a shared store that records, in the claim's
// own round trip, the kefu window the push opens, when the caller is
// first, and reads a key of the user's state: a push pays one round trip
// for all three.
type WindowCache interface {
	ClaimWindow(ctx context.Context, key string, w Window) (Answer, WindowClaim, error)
}

// Answer is the reply bytes of one push, being computed or done.
type Answer interface {
	Finish(contentType string, body []byte)
	Wait(ctx context.Context) (contentType string, body []byte, err error)
}

// Claim implements Cache.
func (d *Local) Claim(_ context.Context, key string) (Answer, bool, error) {
	a, first := d.claimAnswer(key)
	return a, first, nil
}

func (d *Local) claimAnswer(key string) (Answer, bool) {
	h, check := maphash.String(d.seed, key), maphash.String(d.seed2, key)
	sh := &d.shards[h%uint64(len(d.shards))]
	now := d.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if early := sh.cur.bytes() >= d.shardBytes; early || now.After(sh.rotateAt) {
		sh.rotate(now, early)
	}
	if f, ok := sh.inflight[h]; ok && f.check == check {
		return f, false
	}
	for _, g := range [2]*generation{&sh.cur, &sh.prev} {
		if ct, body, ok := g.get(h, check); ok {
			return finishedAnswer{ct, body}, false
		}
	}
	f := &inflight{shard: sh, h: h, check: check}
	if d.Persist != nil {
		f.key, f.persist, f.until = key, d.Persist, now.Add(d.ttl)
	}
	sh.inflight[h] = f
	return f, true
}

// Detached returns an Answer that no cache holds: a push whose claim failed
// is answered through it, rather than lost.
func Detached() Answer { return &inflight{} }

// Finish publishes the first copy's answer and files it away.
func (f *inflight) Finish(contentType string, body []byte) {
	f.mu.Lock()
	f.ct, f.body = contentType, body
	f.finished.Store(true)
	if f.done != nil {
		close(f.done)
		f.done = nil
	}
	f.mu.Unlock()
	sh := f.shard
	if sh == nil {
		return
	}
	if f.persist != nil && f.key != "" {
		f.persist(f.key, contentType, body, f.until)
	}
	ct := byte(0)
	for i, c := range contentTypes {
		if c == contentType {
			ct = byte(i)
		}
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.inflight[f.h] == f {
		delete(sh.inflight, f.h)
	}
	if g, n := &sh.cur, 1+len(body); len(g.arena)+n > cap(g.arena) {
		// Grow the arena (doubling) only up to what the budget leaves
		// beside the index: appends alone would double it past the budget.
		room := sh.owner.shardBytes - len(g.index)*entryBytes
		g.arena = slices.Grow(g.arena, min(max(2*cap(g.arena), 1024), max(room, len(g.arena)+n))-len(g.arena))
	}
	off := len(sh.cur.arena)
	sh.cur.arena = append(append(sh.cur.arena, ct), body...)
	sh.cur.index[f.h] = span{check: f.check, off: uint32(off), n: uint32(len(body) + 1)}
}

// Wait returns the first copy's answer once it is there.
func (f *inflight) Wait(ctx context.Context) (contentType string, body []byte, err error) {
	if f.finished.Load() {
		return f.ct, f.body, nil
	}
	f.mu.Lock()
	if f.finished.Load() {
		f.mu.Unlock()
		return f.ct, f.body, nil
	}
	if f.done == nil {
		f.done = make(chan struct{})
	}
	done := f.done
	f.mu.Unlock()
	select {
	case <-done:
		return f.ct, f.body, nil
	case <-ctx.Done():
		return "", nil, ctx.Err()
	}
}

// Fallback uses Shared and, when it fails or hangs (Redis down or stuck),
// Local, so that pushes keep being answered within WeChat's 5 seconds;
// OnFallback hears of each fallback (a warning and a metric).
type Fallback struct {
	Shared Cache
	Local  *Local
	// Timeout bounds a claim on Shared (300 ms when 0).
	Timeout time.Duration
	// Breaker, when set, says when to skip Shared altogether (a store
	// that failed recently) and hears how each claim went.
	Breaker    Breaker
	OnFallback func(err error)
}

// Breaker is a circuit breaker in front of a shared store
// (redis.Guard is one).
type Breaker interface {
	Allow() bool
	Report(ctx context.Context, err error)
}

// errSkipped is a claim not tried on a store the breaker skips.
var errSkipped = errors.New("shared dedup skipped: the store failed recently")

// Claim implements Cache.
func (f *Fallback) Claim(ctx context.Context, key string) (Answer, bool, error) {
	a, c, err := f.claim(ctx, key, nil)
	return a, c.First, err
}

// ClaimWindow implements WindowCache: the window is recorded with the
// claim when Shared can (it is a WindowCache and answers); after a
// fallback it is not, and the caller records it through its store.
func (f *Fallback) ClaimWindow(ctx context.Context, key string, w Window) (Answer, WindowClaim, error) {
	a, wc, err := f.claim(ctx, key, &w)
	return a, wc, err
}

func (f *Fallback) claim(ctx context.Context, key string, w *Window) (Answer, WindowClaim, error) {
	err := errSkipped
	if f.Breaker == nil || f.Breaker.Allow() {
		timeout := f.Timeout
		if timeout <= 0 {
			timeout = 300 * time.Millisecond
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		var a Answer
		var c WindowClaim
		if wc, ok := f.Shared.(WindowCache); ok && w != nil {
			a, c, err = wc.ClaimWindow(cctx, key, *w)
		} else {
			a, c.First, err = f.Shared.Claim(cctx, key)
		}
		cancel()
		if f.Breaker != nil {
			f.Breaker.Report(ctx, err)
		}
		if err == nil {
			return a, c, nil
		}
	}
	if f.OnFallback != nil {
		f.OnFallback(err)
	}
	a, first, err := f.Local.Claim(ctx, key)
	return a, WindowClaim{First: first}, err
}

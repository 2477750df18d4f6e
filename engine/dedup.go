package engine

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Dedup makes WeChat's retries of a push (it retries up to three times, 5 s
// apart) run the rules once: the first copy claims the push's key, and the
// copies that follow wait for the first copy's answer and get the same bytes.
//
// Entries live between TTL and twice the TTL: each shard keeps two
// generations and drops the older one wholesale, which costs nothing per
// request and needs no sweeper goroutine.
type Dedup struct {
	ttl      time.Duration
	now      func() time.Time
	seed     maphash.Seed
	shardCap int
	shards   [32]dedupShard
	// EarlyRotations counts generations dropped before their TTL because
	// the cap was reached (load beyond what the TTL can hold).
	EarlyRotations atomic.Uint64
}

// DefaultDedupEntries bounds the answers kept for retries (about 10 MiB):
// under more load than that, answers are kept for less than the TTL, but
// still for the few seconds in which WeChat's first retry comes.
const DefaultDedupEntries = 32_000

type dedupShard struct {
	mu        sync.Mutex
	cur, prev map[string]*Inflight
	rotateAt  time.Time
}

// Inflight is the answer to one push, being computed or done. It lives as
// long as the TTL, so it is kept small: once finished it holds the answer
// bytes and a flag, and the channel waiters block on is released.
type Inflight struct {
	finished atomic.Bool
	mu       sync.Mutex
	done     chan struct{} // made by the first waiter; nil if none came
	body     []byte
	ct       string
}

// NewDedup returns a Dedup remembering answers for at least ttl, as long
// as no more than DefaultDedupEntries arrive in that time.
func NewDedup(ttl time.Duration, now func() time.Time) *Dedup {
	if now == nil {
		now = time.Now
	}
	d := &Dedup{ttl: ttl, now: now, seed: maphash.MakeSeed(), shardCap: DefaultDedupEntries / 2 / 32}
	for i := range d.shards {
		d.shards[i].cur = make(map[string]*Inflight)
		d.shards[i].prev = make(map[string]*Inflight)
	}
	return d
}

// Deduper decides which copy of a push runs the rules. The in-process
// Dedup serves one bot; a shared one (Redis) makes replicas behind a load
// balancer answer a retry that lands elsewhere with the same bytes.
type Deduper interface {
	// Claim returns the push's answer slot and whether the caller is first:
	// the first calls Finish, the others Wait.
	Claim(ctx context.Context, key string) (Answer, bool, error)
}

// Answer is the reply bytes of one push, being computed or done.
type Answer interface {
	Finish(contentType string, body []byte)
	Wait(ctx context.Context) (contentType string, body []byte, err error)
}

// Claim implements Deduper.
func (d *Dedup) Claim(_ context.Context, key string) (Answer, bool, error) {
	f, first := d.claim(key)
	return f, first, nil
}

// claim returns the entry for key and whether the caller is first.
func (d *Dedup) claim(key string) (*Inflight, bool) {
	sh := &d.shards[maphash.String(d.seed, key)%uint64(len(d.shards))]
	now := d.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if early := len(sh.cur) >= d.shardCap; early || now.After(sh.rotateAt) {
		if early {
			d.EarlyRotations.Add(1)
		}
		sh.prev, sh.cur = sh.cur, sh.prev
		clear(sh.cur)
		if now.After(sh.rotateAt.Add(d.ttl)) { // idle for long: all of it is stale
			clear(sh.prev)
		}
		sh.rotateAt = now.Add(d.ttl)
	}
	if f, ok := sh.cur[key]; ok {
		return f, false
	}
	if f, ok := sh.prev[key]; ok {
		sh.cur[key] = f // keep it for another generation
		return f, false
	}
	f := &Inflight{}
	sh.cur[key] = f
	return f, true
}

func (d *Dedup) claimAnswer(key string) (Answer, bool) {
	f, first := d.claim(key)
	return f, first
}

// Finish publishes the first copy's answer.
func (f *Inflight) Finish(contentType string, body []byte) {
	f.mu.Lock()
	f.ct, f.body = contentType, body
	f.finished.Store(true)
	if f.done != nil {
		close(f.done)
		f.done = nil
	}
	f.mu.Unlock()
}

// Wait returns the first copy's answer once it is there.
func (f *Inflight) Wait(ctx context.Context) (contentType string, body []byte, err error) {
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

// FallbackDeduper uses Primary (shared) and, when it fails (Redis down),
// Local, so that pushes keep being answered; OnFallback hears of each
// fallback (a warning and a metric).
type FallbackDeduper struct {
	Primary    Deduper
	Local      *Dedup
	OnFallback func(err error)
}

// Claim implements Deduper.
func (f *FallbackDeduper) Claim(ctx context.Context, key string) (Answer, bool, error) {
	a, first, err := f.Primary.Claim(ctx, key)
	if err == nil {
		return a, first, nil
	}
	if f.OnFallback != nil {
		f.OnFallback(err)
	}
	return f.Local.Claim(ctx, key)
}

package engine

import (
	"context"
	"hash/maphash"
	"sync"
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
	ttl    time.Duration
	now    func() time.Time
	seed   maphash.Seed
	shards [32]dedupShard
}

type dedupShard struct {
	mu        sync.Mutex
	cur, prev map[string]*Inflight
	rotateAt  time.Time
}

// Inflight is the answer to one push, being computed or done.
type Inflight struct {
	done chan struct{}
	body []byte
	ct   string
}

// NewDedup returns a Dedup remembering answers for at least ttl.
func NewDedup(ttl time.Duration, now func() time.Time) *Dedup {
	if now == nil {
		now = time.Now
	}
	d := &Dedup{ttl: ttl, now: now, seed: maphash.MakeSeed()}
	for i := range d.shards {
		d.shards[i].cur = make(map[string]*Inflight)
		d.shards[i].prev = make(map[string]*Inflight)
	}
	return d
}

// Claim returns the entry for key and whether the caller is first. The first
// caller must call Finish on it; the others call Wait.
func (d *Dedup) Claim(key string) (*Inflight, bool) {
	sh := &d.shards[maphash.String(d.seed, key)%uint64(len(d.shards))]
	now := d.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now.After(sh.rotateAt) {
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
	f := &Inflight{done: make(chan struct{})}
	sh.cur[key] = f
	return f, true
}

// Finish publishes the first copy's answer.
func (f *Inflight) Finish(contentType string, body []byte) {
	f.ct, f.body = contentType, body
	close(f.done)
}

// Wait returns the first copy's answer once it is there.
func (f *Inflight) Wait(ctx context.Context) (contentType string, body []byte, err error) {
	select {
	case <-f.done:
		return f.ct, f.body, nil
	case <-ctx.Done():
		return "", nil, ctx.Err()
	}
}

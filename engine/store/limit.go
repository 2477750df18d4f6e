package store

import (
	"strconv"
	"sync"
	"time"
)

// LimitWindow is the fixed window of per that holds now: its number since
// the Unix epoch and its end. Fixed windows aligned to the epoch need no
// per-key start, so replicas on Redis agree on them with a single INCR;
// the price is that up to twice count firings can fall in one span of per
// that straddles a window's end.
func LimitWindow(now time.Time, per time.Duration) (n int64, end time.Time) {
	if per <= 0 {
		per = time.Second
	}
	n = now.UnixNano() / int64(per)
	return n, time.Unix(0, (n+1)*int64(per))
}

// LimitKey is key in window n, the name a store counts it under: a new
// window is a new key, so counts need no reset, only expiry.
func LimitKey(key string, n int64) string {
	return key + "\x00" + strconv.FormatInt(n, 10)
}

// LimitCounter counts firings in memory for the stores that keep rules'
// limits in the process (memory, bolt, Redis degraded).
type LimitCounter struct {
	mu      sync.Mutex
	counts  map[string]limitCount
	sweepAt time.Time
}

type limitCount struct {
	n   int
	end time.Time
}

// LimitEntry is one window's count, as a store that writes the counts
// behind keeps it: Key is a LimitKey.
type LimitEntry struct {
	Key string
	N   int
	End time.Time
}

// Take implements Cooldowns.TakeLimit on the clock reading now.
func (c *LimitCounter) Take(now time.Time, key string, count int, per time.Duration) bool {
	ok, _ := c.TakeCounted(now, key, count, per)
	return ok
}

// Restore puts back a window's count read from disk after a restart; a
// window over at now is left out.
func (c *LimitCounter) Restore(now time.Time, e LimitEntry) {
	if !now.Before(e.End) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = map[string]limitCount{}
	}
	if v := c.counts[e.Key]; e.N > v.n {
		c.counts[e.Key] = limitCount{n: e.N, end: e.End}
	}
}

// TakeCounted is Take, with the window's count after it, for a store
// that writes the counts behind (bolt).
func (c *LimitCounter) TakeCounted(now time.Time, key string, count int, per time.Duration) (bool, LimitEntry) {
	n, end := LimitWindow(now, per)
	k := LimitKey(key, n)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = map[string]limitCount{}
	}
	if now.After(c.sweepAt) { // drop the windows that are over now and then
		for k, v := range c.counts {
			if !now.Before(v.end) {
				delete(c.counts, k)
			}
		}
		c.sweepAt = now.Add(time.Minute)
	}
	v := c.counts[k] // k is built by concatenation: it pins no push body
	v.n++
	v.end = end
	c.counts[k] = v
	return v.n <= count, LimitEntry{Key: k, N: v.n, End: end}
}

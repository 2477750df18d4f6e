package api

import (
	"math"
	"sync"
	"time"
)

// limiter allows each token rate requests a second on average, in bursts
// of as many (at least one): a token bucket per token name, in this
// process.
type limiter struct {
	rate  float64 // 0: no limit
	burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64) *limiter {
	return &limiter{rate: rate, burst: max(1, math.Ceil(rate)), buckets: map[string]*bucket{}}
}

// allow takes one request of name's at now; when there is none to take,
// it says how long until there is.
func (l *limiter) allow(name string, now time.Time) (bool, time.Duration) {
	if l.rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[name]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[name] = b
	}
	if now.After(b.last) {
		b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

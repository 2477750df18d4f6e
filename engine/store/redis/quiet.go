package redis

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// quietLog logs a line that every push or send would repeat while the
// store is down (thousands a minute on a busy bot) at most once an
// interval, saying how many it left out since; the state changes
// (degraded, back) are logged as they happen elsewhere.
type quietLog struct {
	mu      sync.Mutex
	every   time.Duration
	now     func() time.Time
	last    time.Time
	skipped int
}

// quietEvery is how often a repeated line is logged.
const quietEvery = 10 * time.Second

func newQuietLog(now func() time.Time) *quietLog {
	if now == nil {
		now = time.Now
	}
	return &quietLog{every: quietEvery, now: now}
}

// log logs msg with args, or counts it when one was logged within the
// interval.
func (q *quietLog) log(l *slog.Logger, level slog.Level, msg string, args ...any) {
	q.mu.Lock()
	now := q.now()
	if !q.last.IsZero() && now.Sub(q.last) < q.every {
		q.skipped++
		q.mu.Unlock()
		return
	}
	skipped := q.skipped
	q.last, q.skipped = now, 0
	q.mu.Unlock()
	if skipped > 0 {
		args = append(args, "not_logged_since", skipped)
	}
	l.Log(context.Background(), level, msg, args...)
}

package outbox

import (
	"context"
	"time"
)

// Hooks into the outbox's scheduling for outbox_test, which lives outside
// the package so that it can use the stores of engine/store.

func (ob *Outbox) Skipper() func(string) bool           { return ob.skipper() }
func (ob *Outbox) Deliver(ctx context.Context, s *Send) { ob.deliver(ctx, s) }
func (ob *Outbox) Release(key string)                   { ob.release(key) }
func (ob *Outbox) BackoffFor(n int) time.Duration       { return ob.o.Backoff(n) }

func (ob *Outbox) MarkBusy(key string) {
	ob.mu.Lock()
	ob.busy[key] = true
	ob.mu.Unlock()
}

package store

import (
	"context"
	"time"
)

// IdempotencyKeys remember other systems' requests by their idempotency
// keys, for the send API: a key posted again is answered as the first time
// (the send it made is not made twice), and a key reused for another
// request is refused. What a key remembers must hold across a restart and,
// on a shared store, for every replica: two replicas that get the same key
// at once agree on which request came first. The memory, bolt and redis
// stores implement it; a caller finds it by type assertion.
type IdempotencyKeys interface {
	// RememberKey stores fingerprint (a hash of the request) under key
	// for ttl unless key holds an unexpired one, and returns the
	// fingerprint stored first: "" when this call stored it. When it
	// returns, the key is durable.
	RememberKey(ctx context.Context, key, fingerprint string, ttl time.Duration) (string, error)
}

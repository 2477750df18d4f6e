package callback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"
)

// WeChat's signature covers the token, the timestamp and the nonce, not
// the body: whoever sees one signed query string (an access log keeps
// them) could post any push with it for the whole skew window. So each
// query string is remembered with a hash of its body for MaxSkew: the
// same body again is a retry (nothing runs twice, however late it comes
// within the window), another body is refused.

// Replays remembers signed query strings. The stores implement it, in
// memory, in the bbolt store (kept across a restart), and in Redis for
// replicas.
type Replays interface {
	// RememberQuery stores bodyHash (a 128-bit hash, in hex) under key for
	// ttl unless something is there, and returns what was there: "" the
	// first time.
	RememberQuery(ctx context.Context, key, bodyHash string, ttl time.Duration) (prev string, err error)
}

// checkReplay refuses a signed query string that comes again with another
// body, and marks a push that comes again with its body as a repeat.
func (h *Handler) checkReplay(ctx context.Context, q *query, body []byte, ps *pushState) *refusal {
	if h.cfg.MaxSkew <= 0 {
		return nil
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:16])
	key := q.timestamp + ":" + q.nonce + ":" + q.signature
	prev, err := h.cfg.Replays.RememberQuery(ctx, key, hash, 2*h.cfg.MaxSkew) // a timestamp is good MaxSkew either side
	if err != nil {
		h.log.Warn("remembering the query string failed; replays of it are not detected", "err", err)
		return nil
	}
	if prev != "" && prev != hash {
		return refuse(http.StatusUnauthorized, badSignature, "replay",
			"a signed query string seen before with another body: a replay (WeChat's signature does not cover the body; --require-encryption makes a body unforgeable)", nil)
	}
	ps.repeat = prev == hash
	return nil
}

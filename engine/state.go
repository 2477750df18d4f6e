package engine

import (
	"context"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// The engine's state lives outside it, in engine/store (memory, bbolt,
// Redis). Each user of it takes only the small interface it needs, the way
// database/sql/driver composes optional interfaces; store.Store composes
// them all for wiring.

// Cooldowns keep rules' `cooldown:` per user.
type Cooldowns interface {
	// TakeCooldown starts a cooldown of ttl under key unless one is running;
	// it reports whether it started one (the rule may fire).
	TakeCooldown(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Claims remember that something happened once, durably.
type Claims interface {
	// ClaimOnce records key durably for ttl and reports whether this is the
	// first claim: when it returns true, the key is on disk (or in Redis), so
	// a redelivery after a restart is recognised. Payment notifications use
	// it (WeChat Pay redelivers for about 24 hours).
	ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// KefuWindows keep each user's kefu window: how many customer-service
// messages WeChat still accepts for them, and until when (see KefuWindowFor).
type KefuWindows interface {
	// OpenWindow records that a user's action opened a kefu window until
	// until. It is called on the push path and must be cheap. Only the end
	// is kept: the quota an event grants by WeChat's rules is for lint and
	// explain (KefuWindowFor), but whether openings stack is undocumented,
	// so WeChat decides how many sends a window takes.
	OpenWindow(ctx context.Context, openID string, until time.Time) error
	// TakeWindowSlot reports whether to attempt a send: false only when it
	// is certain to be refused (no opening whose time still runs, or WeChat
	// refused since the last opening: CloseWindow).
	TakeWindowSlot(ctx context.Context, openID string, now time.Time) (bool, error)
	// CloseWindow ends a user's window until their next opening: WeChat
	// answered 45015 or 45047.
	CloseWindow(ctx context.Context, openID string) error
}

// State is what the engine itself keeps per user while it dispatches.
type State interface {
	Cooldowns
	KefuWindows
	Users
}

// Users keep each user's state for the `state` action and `user` in
// expressions (see store.UserPatch for the rules of a write).
type Users interface {
	// LoadUser returns the user's state; nil when there is none or it
	// expired.
	LoadUser(ctx context.Context, openID string) (map[string]any, error)
	// PatchUser applies p to the user's state as one atomic write and
	// renews its expiry. It fails with store.ErrStateTooLarge, leaving the
	// state as it was, when the result would pass the limits.
	PatchUser(ctx context.Context, openID string, p *store.UserPatch) error
	// DeleteUser removes the user's state; it reports whether there was one.
	DeleteUser(ctx context.Context, openID string) (bool, error)
	// CountUsers is how many users have a state that has not expired.
	CountUsers(ctx context.Context) (int, error)
}

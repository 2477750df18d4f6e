package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
)

// Store is everything the bot keeps beyond a push, for wiring: the engine
// takes its [State], the payment handler the [Claims], the kefu deliverer
// the [KefuWindows], the ai action the [AIStore], late replies the
// [HeldReplies], and the outbox its queue. The memory, bolt and redis
// packages implement it.
type Store interface {
	State
	Claims
	AIStore
	HeldReplies
	outbox.Queue
	Close() error
}

// Cooldowns keep rules' `cooldown:` per user.
type Cooldowns interface {
	// TakeCooldown starts a cooldown of ttl under key unless one is running;
	// it reports whether it started one (the rule may fire).
	TakeCooldown(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// TakeLimit counts one firing under key in the current window of per
	// (windows are aligned to the Unix epoch: see LimitWindow) and reports
	// whether it is within count (the rule may fire). Firings past count
	// are counted too, so a refused burst stays refused to the window's end.
	TakeLimit(ctx context.Context, key string, count int, per time.Duration) (bool, error)
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
// messages WeChat still accepts for them, and until when (see engine.KefuWindowFor).
type KefuWindows interface {
	// OpenWindow records that a user's action opened a kefu window until
	// until. It is called on the push path and must be cheap. Only the end
	// is kept: the quota an event grants by WeChat's rules is for lint and
	// explain (engine.KefuWindowFor), but whether openings stack is undocumented,
	// so WeChat decides how many sends a window takes.
	OpenWindow(ctx context.Context, openID string, until time.Time) error
	// TakeWindowSlot reports whether the user's window is open: false when
	// the time of their last opening is over, when WeChat refused since
	// that opening (CloseWindow), and when the store knows no window of
	// theirs, which is no certain refusal (see WindowKnower).
	TakeWindowSlot(ctx context.Context, openID string, now time.Time) (bool, error)
	// CloseWindow ends a user's window until their next opening: WeChat
	// answered 45015 or 45047.
	CloseWindow(ctx context.Context, openID string) error
}

// WindowKnower is a KefuWindows that tells a user whose window it does not
// know from one whose window it knows is over. Not knowing is not a
// refusal: the window may have been opened where the store could not see
// it (a Redis outage keeps the windows opened meanwhile in one process's
// memory, and a restart loses them) or forgotten, so a send to such a user
// is attempted and WeChat decides. A KefuWindows without it has every
// refused slot taken as certain.
type WindowKnower interface {
	// KnowsWindow reports whether the user has a window on record: open,
	// over, or closed (CloseWindow records a closed one for a user it
	// did not know, so that WeChat's refusal stands until their next
	// opening).
	KnowsWindow(ctx context.Context, openID string) (bool, error)
}

// State is what the engine itself keeps per user while it dispatches.
type State interface {
	Cooldowns
	KefuWindows
	Users
}

// Users keep each user's state for the `state` action and `user` in
// expressions (see UserPatch for the rules of a write).
type Users interface {
	// LoadUser returns the user's state; nil when there is none or it
	// expired.
	LoadUser(ctx context.Context, openID string) (map[string]any, error)
	// PatchUser applies p to the user's state as one atomic write and
	// renews its expiry. It fails with ErrStateTooLarge, leaving the
	// state as it was, when the result would pass the limits.
	PatchUser(ctx context.Context, openID string, p *UserPatch) error
	// DeleteUser removes the user's state; it reports whether there was one.
	DeleteUser(ctx context.Context, openID string) (bool, error)
	// CountUsers is how many users have a state that has not expired.
	CountUsers(ctx context.Context) (int, error)
}

// MergeWindow applies an opening ending at newUntil to a user's window
// ending at until, and returns the window's end. WeChat does not say how
// openings combine for Official Accounts; this keeps whichever lasts
// longer, and an ended window gives way to any opening. The same opening
// applied twice (a retried push) changes nothing. Only the end is kept:
// WeChat decides how many sends a window takes (see KefuWindows),
// and a send is refused without an API call only once its time is over.
func MergeWindow(until, newUntil, now time.Time) time.Time {
	if !now.Before(until) || newUntil.After(until) {
		return newUntil
	}
	return until
}

// SeqCursor reads a page cursor of the stores that number sends.
func SeqCursor(after string) (uint64, error) {
	if after == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(after, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("page cursor %q: want the next of a previous page", after)
	}
	return n, nil
}

// Revived is a dead letter's send made pending again: attempts reset, due
// at now.
func Revived(snd *outbox.Send, now time.Time) *outbox.Send {
	c := *snd
	c.Attempts, c.LastError, c.NotBefore, c.Ref = 0, "", now, ""
	return &c
}

// IDRetention is how long a delivered send's ID is remembered: longer than
// any retry of the push that made it, so that a send enqueued again (a
// WeChat retry after a restart) is recognised.
const IDRetention = 48 * time.Hour

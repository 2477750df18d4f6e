package store

import (
	"context"
	"time"
)

// What the `ai` action keeps between pushes: each user's recent turns (sent
// along with the next question), the per-user daily answer counts, and, on
// accounts without the kefu API (--kefu=false), the late replies held for
// the user's next push. They live beside, not inside, the per-user state of
// the `state` action: a history is far larger than the 8 KiB a state may
// hold, and a held reply is a queue, not a key.

// Bounds of what one user can make the store keep.
const (
	// MaxAITurns is the longest history kept; an action asks for at most
	// this many earlier turns.
	MaxAITurns = 50
	// MaxHeldReplies bounds a user's held replies: past it, the oldest is
	// dropped (a user who never writes again does not grow the store).
	MaxHeldReplies = 32
)

// Turn is one question of a user and the answer it got.
type Turn struct {
	Q string `json:"q"`
	A string `json:"a"`
}

// AIStore keeps what the `ai` action and late replies need beyond a push.
// Memory, Bolt, Redis and Guard implement it; on Redis, replicas share it
// and every read-modify-write is atomic.
type AIStore interface {
	// AITurns returns the user's kept turns, oldest first; none when there
	// are none or they expired.
	AITurns(ctx context.Context, openID string) ([]Turn, error)
	// AddAITurn appends t to the user's turns, keeps the last keep of them
	// (at most MaxAITurns) and renews their expiry to ttl from now.
	AddAITurn(ctx context.Context, openID string, t Turn, keep int, ttl time.Duration) error
	// TakeAIQuota counts one answer under key unless limit answers are
	// counted already; it reports whether this one was counted (the answer
	// may go ahead). The count lives ttl from its first answer.
	TakeAIQuota(ctx context.Context, key string, limit int, ttl time.Duration) (bool, error)
	// ForgetAI deletes the user's turns and held replies (they
	// unsubscribed). Daily counts stay: leaving and following again does
	// not reset a limit.
	ForgetAI(ctx context.Context, openID string) error
}

// HeldReplies keep the late replies of an account without the kefu API
// (--kefu=false) for the user's next push: every late reply uses them (an
// AI answer, a slow webhook), not only the ai action.
type HeldReplies interface {
	// HoldReply appends an encoded reply to the user's held replies and
	// renews their expiry to ttl from now.
	HoldReply(ctx context.Context, openID string, reply []byte, ttl time.Duration) error
	// TakeHeldReply removes and returns the user's oldest held reply; nil
	// when there is none.
	TakeHeldReply(ctx context.Context, openID string) ([]byte, error)
}

// KeepTurns is how many turns a write keeps: keep, within 1…MaxAITurns.
func KeepTurns(keep int) int { return min(max(keep, 1), MaxAITurns) }

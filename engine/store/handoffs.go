package store

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// Handoff is one user in a handoff (user.kf, see engine/handoff.go), as
// the HandoffIndex keeps it.
type Handoff struct {
	OpenID string
	// Account is the agent holding the conversation (prefix@wechat-id);
	// empty while the user waits for one.
	Account string
	Waiting bool
	Since   time.Time
}

// HandoffIndex keeps the users in a handoff apart from their states, so
// that the metrics (wxbot_handoff_sessions) and the console list them
// without reading every user's state: the open handoffs of an account are
// few (its agents' sessions and the users waiting for one), the users with
// a state many. The engine writes it after each write of user.kf; an
// entry ends at its until (the handoff's timeout), so that one a lost
// write left behind ends with the handoff it describes.
type HandoffIndex interface {
	// PutHandoff records (or replaces) h.OpenID's handoff until until.
	PutHandoff(ctx context.Context, h Handoff, until time.Time) error
	// EndHandoff forgets openID's handoff; none is no error.
	EndHandoff(ctx context.Context, openID string) error
	// Handoffs lists the handoffs not ended, oldest Since first.
	Handoffs(ctx context.Context) ([]Handoff, error)
}

// HandoffHints is a store that tells, without reading a user's state,
// that the user has no handoff: the engine then skips that read in a
// push's handoff check, the one store read most pushes would make. Only a
// store that sees every write of the index (one process: bbolt) can say
// so; on a shared store another replica may have written one, and the
// retry claim reads user.kf instead (engine.Event.KfRead).
type HandoffHints interface {
	// MayHaveHandoff reports false only when the index never had openID,
	// or its handoff ended: a handoff is always in the index before the
	// user's state holds it (see engine's indexHandoff).
	MayHaveHandoff(openID string) bool
}

// SortHandoffs orders hs oldest Since first (then by OpenID, so that a
// page lists them alike each time), as HandoffIndex.Handoffs returns them.
func SortHandoffs(hs []Handoff) {
	slices.SortFunc(hs, func(a, b Handoff) int {
		return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.OpenID, b.OpenID))
	})
}

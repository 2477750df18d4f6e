package outbox

import (
	"context"
	"fmt"
)

// State is where a send stands, as a Tracker tells it.
type State string

// The states of a send. A send the queue never took, or forgot
// (store.IDRetention after it settled), is Unknown.
const (
	Unknown State = ""
	Pending State = "pending" // waiting, being delivered, or retried
	Sent    State = "sent"    // delivered: the API accepted it
	Dead    State = "dead"    // given up, or dropped by an operator
)

// DroppedReason is the reason a Tracker gives for a send an operator
// dropped (Admin.Drop): it will not be delivered, like a dead letter.
const DroppedReason = "dropped by an operator (wxbot outbox drop)"

// Status is what became of a send.
type Status struct {
	State State
	// Reason says why a Dead send was given up (the dead letter's reason,
	// DroppedReason, or "" when the dead letter is no longer kept).
	Reason string
}

// Tracker tells what became of a send by its ID: the send API's GET
// /v1/messages/ID, for systems that posted a send and want to know
// whether it reached the user. The stores under engine/store implement it
// beside Admin; a caller finds it by type assertion.
type Tracker interface {
	// Track reports the status of the send id: Unknown when the queue
	// never took it or forgot it (an ID is kept store.IDRetention after
	// its send settled).
	Track(ctx context.Context, id string) (Status, error)
}

// Add stores sends durably and wakes the workers, as Enqueue does, but
// returns the queue's refusal instead of holding the sends in memory: for
// a caller that answers to someone else for the sends' durability (the
// send API's 202 promises a send that survives a restart) and can tell
// them to try again. A kind nothing delivers is ErrNoDeliverer.
func (ob *Outbox) Add(ctx context.Context, sends ...*Send) error {
	prepared, err := ob.prepare(sends)
	if err != nil {
		return err
	}
	if err := ob.store.Enqueue(ctx, prepared...); err != nil {
		return fmt.Errorf("outbox: storing %d send(s): %w", len(prepared), err)
	}
	ob.poke()
	return nil
}

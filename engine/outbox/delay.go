package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// KindDelayed is the kind of a delayed send's stand-in: it waits out the
// delay in a line of its own, then puts the send in its key's line (see
// Order). The outbox handles stand-ins itself; no deliverer is registered
// for them.
const KindDelayed = "delayed"

// standIn is what the queue keeps of a send with a Delay until it comes
// due: the send as its payload, due at the end of the delay.
//
// Its key is the send's key with the delay: stand-ins of one key and one
// delay come due in the order they were made, so a line per key and delay
// keeps them in order and none holds back one due before it. (A line per
// send would do too, but the Redis store keeps two counters per key for
// good.) Its ID is the send's with "/delayed": a push retried before or
// after the send came due enqueues the same IDs, which the queue ignores.
func standIn(s *Send) (*Send, error) {
	due := s.Created.Add(s.Delay)
	inner := *s
	inner.Delay, inner.NotBefore = 0, due
	payload, err := Encode(&inner)
	if err != nil {
		return nil, fmt.Errorf("outbox: delaying send %s: %w", s.ID, err)
	}
	return &Send{ID: s.ID + "/delayed", Kind: KindDelayed, OrderKey: fmt.Sprintf("delay %v:%s", s.Delay, s.OrderKey),
		Rule: s.Rule, Payload: payload, NotBefore: due, Created: s.Created}, nil
}

// splitStandIns separates the stand-ins among due sends.
func splitStandIns(due []*Send) (sends, ripe []*Send) {
	isStandIn := func(s *Send) bool { return s.Kind == KindDelayed }
	if !slices.ContainsFunc(due, isStandIn) {
		return due, nil
	}
	for _, s := range due {
		if isStandIn(s) {
			ripe = append(ripe, s)
		} else {
			sends = append(sends, s)
		}
	}
	return sends, ripe
}

// promote puts the sends of stand-ins that came due in their keys' lines,
// earliest due first (those due at once in the order Due gave them, oldest
// first), and reports whether the queue took them all; the rest wait for
// the next poll.
func (ob *Outbox) promote(ctx context.Context, ripe []*Send) bool {
	slices.SortStableFunc(ripe, func(a, b *Send) int { return a.NotBefore.Compare(b.NotBefore) })
	for _, w := range ripe {
		var s Send
		err := json.Unmarshal(w.Payload, &s)
		if err == nil && (s.ID == "" || s.Kind == "") {
			err = fmt.Errorf("no ID or kind")
		}
		if err != nil {
			reason := fmt.Sprintf("a damaged delayed send: its payload is not a send (%v)", err)
			ob.log.Error("outbox: send dead-lettered", "kind", w.Kind, "rule", w.Rule, "reason", reason)
			if ob.o.Observer != nil {
				ob.o.Observer.DeadLettered(w, reason)
			}
			if err := ob.store.Dead(ctx, w, reason); err != nil {
				ob.log.Error("outbox: storing the dead letter failed", "id", w.ID, "err", err)
				return false
			}
			continue
		}
		if err := ob.store.Enqueue(ctx, &s); err != nil {
			ob.log.Error("outbox: a delayed send came due but the queue refused it; offered again at the next poll", "id", s.ID, "err", err)
			return false
		}
		// Should Done fail, the stand-in comes due again and its send,
		// enqueued again under the same ID, is ignored.
		if err := ob.store.Done(ctx, w); err != nil {
			ob.log.Error("outbox: a delayed send came due but its stand-in stays; retried at the next poll", "id", w.ID, "err", err)
			return false
		}
		ob.log.Debug("outbox: a delayed send came due", "kind", s.Kind, "rule", s.Rule)
	}
	return true
}

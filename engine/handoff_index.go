package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/wxbot/wxbot/engine/store"
)

// The open handoffs are kept apart from the users' states too, in the
// store's HandoffIndex, so that wxbot_handoff_sessions and the console's
// Activity page read a few entries, the same for every replica on one
// Redis, instead of every user's state (or a count of kf events seen by
// one process, which another replica's events would not reach). The
// index follows the writes of user.kf: a state write that sets it puts
// the handoff, one that unsets or clears it (or deletes the user) ends
// it. A handoff whose end no write records (WeChat's own 30 minutes, a
// user who never writes again) ends in the index at its timeout, as it
// does for the rules.

// patchUser writes p to openID's state with the index of handoffs around
// it: a handoff p starts is in the index before the state holds it (so
// that a store answering store.HandoffHints from the index never misses
// one), and one p ends leaves the index once the state no longer holds
// it. A failed write leaves the index as it was, or (a start) with a
// handoff the state lacks, which ends at its timeout.
func (e *Engine) patchUser(ctx context.Context, openID string, p *store.UserPatch) error {
	_, starts := p.Set[KfKey]
	if starts {
		e.indexHandoff(ctx, openID, p)
	}
	err := e.state.PatchUser(ctx, openID, p)
	if err == nil && !starts {
		e.indexHandoff(ctx, openID, p)
	}
	return err
}

// indexHandoff mirrors what a state write p does to openID's user.kf in
// the store's index (see patchUser for when). A failed index write is
// logged: the handoff itself holds, the gauge and the console miss it
// until its next write or its timeout.
func (e *Engine) indexHandoff(ctx context.Context, openID string, p *store.UserPatch) {
	idx, ok := e.state.(store.HandoffIndex)
	if !ok || openID == "" || p == nil {
		return
	}
	var err error
	v, set := p.Set[KfKey]
	switch {
	case set:
		k, ok := KfOf(map[string]any{KfKey: v})
		if !ok { // an operator's own kf key, or a handoff the state no longer holds
			err = idx.EndHandoff(ctx, openID)
			break
		}
		until := e.now().Add(p.TTLOrDefault()) // the state's own end
		if t := e.Rules().Handoff.Timeout; t > 0 {
			until = k.Since.Add(t)
		}
		err = idx.PutHandoff(ctx, store.Handoff{OpenID: openID, Account: k.Account, Waiting: k.Waiting, Since: k.Since}, until)
	case p.Clear || slices.Contains(p.Unset, KfKey):
		err = idx.EndHandoff(ctx, openID)
	default:
		return
	}
	if err != nil {
		e.log.Warn("the index of open handoffs was not updated: wxbot_handoff_sessions and the console miss this user's change until their next handoff event or its timeout",
			"err", err)
	}
}

// Handoffs lists the users in a handoff now, oldest first: those an agent
// holds (Account set) and those waiting for one, as the store's index has
// them, ended by the running rules' handoff timeout.
func (e *Engine) Handoffs(ctx context.Context) ([]store.Handoff, error) {
	idx, ok := e.state.(store.HandoffIndex)
	if !ok {
		return nil, fmt.Errorf("store %T keeps no index of handoffs: use the memory, bolt or redis store", e.state)
	}
	hs, err := idx.Handoffs(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the open handoffs: %w (the store did not answer: try again)", err)
	}
	now, timeout := e.now(), e.Rules().Handoff.Timeout
	return slices.DeleteFunc(hs, func(h store.Handoff) bool {
		return !(KfState{Account: h.Account, Waiting: h.Waiting, Since: h.Since}).Active(now, timeout)
	}), nil
}

// HandoffSessions counts the users an agent holds now (not those
// waiting): wxbot_handoff_sessions.
func (e *Engine) HandoffSessions(ctx context.Context) (int, error) {
	hs, err := e.Handoffs(ctx)
	n := 0
	for _, h := range hs {
		if h.Account != "" {
			n++
		}
	}
	return n, err
}

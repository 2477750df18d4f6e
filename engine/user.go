package engine

import (
	"context"
	"errors"

	"github.com/wxbot/wxbot/engine/store"
)

// A push's user state: read once, on first need (Env.LoadUser); changed
// by the `state` steps of the rules it matches, at match time, so that the
// rules checked after one see its change; written once, as one merged
// patch, before the push is answered (Engine.saveUser). Actions see the
// state as it was at their step: runActions replays the views.

// userView is the user's state after one state step of the push, or the
// step's error (the state is then unchanged).
type userView struct {
	user map[string]any
	err  error
}

// UserStateError is a push's user state that could not be read: its rules
// see an empty state.
type UserStateError struct{ Err error }

func (e *UserStateError) Error() string {
	return "user state unavailable, the rules see none: " + e.Err.Error()
}
func (e *UserStateError) Unwrap() error { return e.Err }

// needUser loads the state if it is not loaded; the error comes once.
func (e *Env) needUser(ctx context.Context) error {
	if e.userLoaded {
		return nil
	}
	if _, err := e.LoadUser(ctx); err != nil {
		return &UserStateError{Err: err}
	}
	return nil
}

// applyState runs the state steps of matched rule r.
func (e *Env) applyState(r *Rule) {
	for i := range r.Steps {
		st := &r.Steps[i]
		if st.State == nil {
			continue
		}
		p, err := st.State.StatePatch(e)
		if err != nil {
			e.views = append(e.views, userView{user: e.User, err: err})
			continue
		}
		e.User = p.Apply(e.User)
		if e.patch == nil {
			e.patch = new(store.UserPatch)
		}
		e.patch.Then(p)
		e.views = append(e.views, userView{user: e.User})
	}
}

// StateObserver is an Observer that also hears about user state: each
// write's result (written, refused: over a limit, error: the store
// failed, deleted: the user unsubscribed).
type StateObserver interface {
	StateWrite(result string)
}

// saveUser stores the push's state change before the push is answered,
// or forgets the user when they unsubscribed: their state and their AI
// history. A failed write is logged and counted; the push is answered all
// the same.
func (e *Engine) saveUser(p *Push) {
	ev := p.Event
	if ev.From == "" {
		return
	}
	result := ""
	switch {
	case ev.Type == "unsubscribe":
		e.forgetAI(ev.From)
		if _, err := e.state.DeleteUser(e.ctx, ev.From); err != nil {
			e.log.Error("deleting the state of a user who unsubscribed failed; it expires with its ttl", "err", err)
			result = "error"
		} else {
			result = "deleted"
			e.indexHandoff(e.ctx, ev.From, &store.UserPatch{Clear: true})
		}
	case p.env.patch != nil:
		err := e.patchUser(e.ctx, ev.From, p.env.patch)
		switch {
		case errors.Is(err, store.ErrStateTooLarge):
			e.log.Warn("user state not written: over the limit of 64 keys and 8 KiB a user (unset keys a dialog no longer needs)",
				"rules", p.RuleNames(), "err", err)
			result = "refused"
		case err != nil:
			e.log.Error("user state not written; the user's next push sees the state from before", "rules", p.RuleNames(), "err", err)
			result = "error"
		default:
			result = "written"
		}
	}
	if result == "" { // the push touched no state: most pushes
		return
	}
	if so, ok := e.obs.(StateObserver); ok {
		so.StateWrite(result)
	}
}

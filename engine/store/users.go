package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Per-user state: the `state` action's map of a user's keys (the dialog step,
// a phone number), kept with an expiry that every write renews.

// The limits of one user's state. They keep a state small enough to read
// whole on every push that needs it, and bound what one user can make the
// store keep.
const (
	MaxStateKeys  = 64
	MaxStateBytes = 8 << 10
	// DefaultStateTTL is how long a state lives after its last write when
	// the write names no ttl; MaxStateTTL is the longest a write may name.
	DefaultStateTTL = 24 * time.Hour
	MaxStateTTL     = 30 * 24 * time.Hour
)

// ErrStateTooLarge is a write refused because the state would pass
// MaxStateKeys or MaxStateBytes; the stored state is left as it was.
var ErrStateTooLarge = errors.New("user state over its limit")

// UserPatch is what one push changes in its user's state. A store applies
// it as a whole: Clear, then Unset, then Set; so two pushes of one user
// that touch different keys keep each other's changes.
type UserPatch struct {
	Clear bool
	Unset []string
	// Set values are JSON-encodable: strings, float64, bools, lists of them.
	Set map[string]any
	// TTL is how long the state lives after this write (DefaultStateTTL when
	// zero).
	TTL time.Duration
}

// TTLOrDefault is p.TTL, or DefaultStateTTL when unset.
func (p *UserPatch) TTLOrDefault() time.Duration {
	if p.TTL <= 0 {
		return DefaultStateTTL
	}
	return p.TTL
}

// Then merges a later patch q into p: the result applied once equals p then
// q applied in turn.
func (p *UserPatch) Then(q *UserPatch) {
	if q.Clear {
		*p = UserPatch{Clear: true}
	}
	for _, k := range q.Unset {
		delete(p.Set, k)
		if !slices.Contains(p.Unset, k) {
			p.Unset = append(p.Unset, k)
		}
	}
	for k, v := range q.Set {
		if p.Set == nil {
			p.Set = make(map[string]any, len(q.Set))
		}
		p.Set[k] = v
		p.Unset = slices.DeleteFunc(p.Unset, func(u string) bool { return u == k })
	}
	p.TTL = q.TTL
}

// Apply returns state with p applied, as a new map (state is not changed).
func (p *UserPatch) Apply(state map[string]any) map[string]any {
	out := make(map[string]any, len(state)+len(p.Set))
	if !p.Clear {
		maps.Copy(out, state)
	}
	for _, k := range p.Unset {
		delete(out, k)
	}
	maps.Copy(out, p.Set)
	return out
}

// EncodedState is a state as the stores keep it: each value JSON-encoded.
type EncodedState map[string][]byte

// EncodeValues encodes the values of a patch's Set for storage.
func EncodeValues(set map[string]any) (EncodedState, error) {
	out := make(EncodedState, len(set))
	for k, v := range set {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("state key %q: %w", k, err)
		}
		out[k] = b
	}
	return out, nil
}

// Decode turns stored values back into a state (numbers as float64).
func (s EncodedState) Decode() (map[string]any, error) {
	if len(s) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(s))
	for k, b := range s {
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("stored state key %q: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

// Size is what the state counts against MaxStateBytes: its keys and encoded
// values.
func (s EncodedState) Size() int {
	n := 0
	for k, v := range s {
		n += len(k) + len(v)
	}
	return n
}

// checkLimits reports ErrStateTooLarge when s is over a limit.
func (s EncodedState) checkLimits() error {
	if len(s) > MaxStateKeys {
		return fmt.Errorf("%w: %d keys, at most %d", ErrStateTooLarge, len(s), MaxStateKeys)
	}
	if n := s.Size(); n > MaxStateBytes {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrStateTooLarge, n, MaxStateBytes)
	}
	return nil
}

// ApplyEncoded applies p (its Set already encoded as set) to a stored
// state, checking the limits; the input is not changed.
func ApplyEncoded(cur EncodedState, p *UserPatch, set EncodedState) (EncodedState, error) {
	out := make(EncodedState, len(cur)+len(set))
	if !p.Clear {
		maps.Copy(out, cur)
	}
	for _, k := range p.Unset {
		delete(out, k)
	}
	maps.Copy(out, set)
	return out, out.checkLimits()
}

// InternalUserPrefix starts the names of the states the bot keeps for
// itself beside its followers' (the console's sessions, the agents
// online): no OpenID has a colon. They are kept and read like any user's,
// but CountUsers (wxbot_state_users) counts followers only.
const InternalUserPrefix = "wxbot:"

// InternalUser reports whether id names one of the bot's own states.
func InternalUser(id string) bool { return strings.HasPrefix(id, InternalUserPrefix) }

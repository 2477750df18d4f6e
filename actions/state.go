package actions

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/store"
)

func init() {
	engine.Register(engine.Spec{
		Name:   "state",
		Doc:    "remember things about the user for later rules: set (interpolated), unset, clear, ttl",
		Params: func() any { return new(StateParams) },
		New:    func(p any) (engine.Action, error) { return &stateAction{p: p.(*StateParams)}, nil },
		Inline: true, // the engine applies the change when the rule matches; Run has nothing left to do
	})
}

// StateParams are the params of `state`. The change applies in this order:
// clear, unset, set.
type StateParams struct {
	// Set stores these keys. Strings are interpolated; a string that is
	// exactly one ${…} keeps the expression's type (a number, a list).
	Set map[string]engine.Value `yaml:"set" doc:"keys to store: strings (with ${ expr }), numbers, bools or lists"`
	// Unset removes these keys.
	Unset []string `yaml:"unset" doc:"keys to remove"`
	// Clear removes every key first.
	Clear bool `yaml:"clear" doc:"remove every key first (then set)"`
	// TTL is how long the state lives after this write.
	TTL time.Duration `yaml:"ttl" doc:"the state expires this long after its last write (default 24h, at most 720h)"`
}

// Validate checks keys, the ttl, and that every ${…} standing alone can
// yield a value a state keeps.
func (p *StateParams) Validate() error {
	if len(p.Set) == 0 && len(p.Unset) == 0 && !p.Clear && p.TTL == 0 {
		return errors.New("want at least one of set, unset, clear or ttl")
	}
	switch {
	case p.TTL < 0:
		return fmt.Errorf("ttl: %v is negative", p.TTL)
	case p.TTL > 0 && p.TTL < time.Second:
		return fmt.Errorf("ttl: %v is less than a second", p.TTL)
	case p.TTL > store.MaxStateTTL:
		return fmt.Errorf("ttl: %v is longer than the %v a state may live", p.TTL, store.MaxStateTTL)
	}
	if len(p.Set) > store.MaxStateKeys {
		return fmt.Errorf("set: %d keys; a user's state holds at most %d", len(p.Set), store.MaxStateKeys)
	}
	for _, k := range slices.Sorted(maps.Keys(p.Set)) {
		if err := checkStateKey(k); err != nil {
			return fmt.Errorf("set: %w", err)
		}
		if slices.Contains(p.Unset, k) {
			return fmt.Errorf("set and unset both name %q", k)
		}
		v := p.Set[k]
		if err := storable(&v); err != nil {
			return fmt.Errorf("set: %s: %w", k, err)
		}
	}
	for _, k := range p.Unset {
		if err := checkStateKey(k); err != nil {
			return fmt.Errorf("unset: %w", err)
		}
	}
	return nil
}

// checkStateKey keeps keys reachable as user.KEY in expressions.
func checkStateKey(k string) error {
	if k == "" {
		return errors.New("an empty key")
	}
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return fmt.Errorf("key %q: use letters, digits and _ (not first), so that rules can read it as user.%s", k, strings.Map(keyRune, k))
		}
	}
	return nil
}

func keyRune(r rune) rune {
	if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
		return r
	}
	return '_'
}

func storable(v *engine.Value) error {
	for i := range v.Items() {
		if err := storable(&v.Items()[i]); err != nil {
			return err
		}
	}
	if t := v.Template(); t != nil && t.Single() && !engine.StorableKind(t.SingleType()) {
		return fmt.Errorf("%s yields %v, which a state cannot keep: store a string, number, bool or a list of them", t, t.SingleType())
	}
	return nil
}

// StateSets implements engine.StateSetter.
func (p *StateParams) StateSets() map[string]*string {
	out := make(map[string]*string, len(p.Set))
	for k, v := range p.Set {
		if t := v.Template(); t != nil && t.Constant() {
			s := t.String()
			out[k] = &s
		} else {
			out[k] = nil
		}
	}
	return out
}

type stateAction struct{ p *StateParams }

// StatePatch implements engine.StatePatcher: the values are computed in
// the push's environment when the rule matches.
func (a *stateAction) StatePatch(env *engine.Env) (*store.UserPatch, error) {
	patch := &store.UserPatch{Clear: a.p.Clear, Unset: a.p.Unset, TTL: a.p.TTL}
	if len(a.p.Set) > 0 {
		patch.Set = make(map[string]any, len(a.p.Set))
	}
	for k, v := range a.p.Set {
		x, err := v.Eval(env)
		if err != nil {
			return nil, fmt.Errorf("state: set: %s: %w", k, err)
		}
		if x == nil {
			return nil, fmt.Errorf("state: set: %s: the value is nil (use unset to remove a key)", k)
		}
		patch.Set[k] = x
	}
	return patch, nil
}

// Run does nothing: the engine applied the patch when the rule matched
// (see engine.StatePatcher).
func (a *stateAction) Run(context.Context, *engine.Call) error { return nil }

package engine

import "context"

// Trace is what happened to one rule for one event, for `wxbot explain` and
// rule tests.
type Trace struct {
	Rule *Rule
	// Gate stopped the rule: on, text, key, active, when, cooldown, disabled;
	// "" when the rule matched; "unreached" when an earlier rule matched
	// and stopped the search.
	Gate string
	// When is the condition's value when it was evaluated.
	When    *bool
	Err     error
	Matched bool
}

// GateUnreached marks rules after the one that stopped the search.
const GateUnreached = "unreached"

// Explain runs ev through every rule in match order, without the index, and
// says what each gate decided. It takes cooldowns from store like a real
// push would, so pass a scratch store.
func (s *RuleSet) Explain(ctx context.Context, ev *Event, env *Env, store Store) []Trace {
	norm := NormalizeText(ev.Content)
	out := make([]Trace, 0, len(s.ordered))
	stopped := false
	for _, r := range s.ordered {
		t := Trace{Rule: r}
		switch {
		case stopped:
			t.Gate = GateUnreached
		case !r.Answers(ev.Type):
			t.Gate = GateOn
		default:
			t.Gate, t.Err = r.Check(ctx, ev, norm, env, s.Windows, store)
			if r.When != nil && (t.Gate == "" || t.Gate == GateWhen || t.Gate == GateCooldown) && t.Err == nil {
				v := t.Gate != GateWhen
				t.When = &v
			}
			if t.Gate == "" {
				t.Matched = true
				stopped = !r.Continue
			}
		}
		out = append(out, t)
	}
	return out
}

package engine

import "context"

// Trace is what happened to one rule for one event, for `wxbot explain` and
// rule tests.
type Trace struct {
	Rule *Rule
	// Gate stopped the rule; "" when the rule matched; GateUnreached when
	// an earlier rule matched and stopped the search.
	Gate Gate
	// When is the condition's value when it was evaluated.
	When    *bool
	Err     error
	Matched bool
}

// Explain runs ev through every rule in match order, without the index, and
// says what each gate decided. It takes cooldowns like a real push would,
// so pass a scratch store. The state steps of matched rules change
// env.User as in a push, so later rules are checked with the change.
func (s *RuleSet) Explain(ctx context.Context, ev *Event, env *Env, cooldowns Cooldowns) []Trace {
	norm := NormalizeText(ev.Content)
	s.beginHandoff(ctx, ev, env)
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
			if r.ReadsUser || r.setsState {
				env.needUser(ctx) // a failed read leaves an empty state, as in MatchInto
			}
			t.Gate, t.Err = r.Check(ctx, ev, norm, env, s.Schedules, cooldowns)
			if r.When != nil && (t.Gate == "" || t.Gate == GateWhen || t.Gate == GateCooldown || t.Gate == GateLimit) && t.Err == nil {
				v := t.Gate != GateWhen
				t.When = &v
			}
			if t.Gate == "" {
				t.Matched = true
				stopped = !r.Continue
				if r.setsState {
					env.applyState(r)
				}
			}
		}
		out = append(out, t)
	}
	return out
}

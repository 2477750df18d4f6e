package rules

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/wxbot/wxbot/engine"
)

// lint adds the warnings that need the whole rule set: rules an earlier
// rule always shadows, passive responses that can never be sent, disabled
// rules.
func (l *loader) lint(set *engine.RuleSet) {
	for _, r := range set.Rules {
		if r.Disabled {
			l.warnAtPos(r.Pos, fmt.Sprintf("rule %q is disabled (enabled: false): it is loaded and checked but never matches", r.Name))
		}
	}
	ordered := set.Ordered()
	stops := coverIndex(ordered, func(a *engine.Rule) bool { return !a.Continue })
	for i, b := range ordered {
		if b.Disabled {
			continue
		}
		if a := stops.coveredBy(b, i); a != nil {
			l.warnAtPos(b.Pos, fmt.Sprintf("rule %q can never match: rule %q (%s:%d) matches every push it would and stops the search (order it earlier with priority, or narrow %q)",
				b.Name, a.Name, a.Pos.File, a.Pos.Line, a.Name))
		}
	}
	// A rule that goes on (continue: true) after sending a passive response
	// leaves nothing for later rules' passive responses on the same pushes.
	answers := coverIndex(ordered, func(a *engine.Rule) bool { return a.Continue && hasPassive(a) })
	for i, b := range ordered {
		if b.Disabled || !hasPassive(b) || stops.coveredBy(b, i) != nil {
			continue
		}
		if a := answers.coveredBy(b, i); a != nil {
			st := b.Steps[slices.IndexFunc(b.Steps, func(s engine.Step) bool { return s.Passive })]
			l.warnAtPos(st.Pos, fmt.Sprintf("rule %q: %s can never be sent: rule %q (%s:%d) always answers these pushes first (only one passive response goes back per push)",
				b.Name, st.Name, a.Name, a.Pos.File, a.Pos.Line))
		}
	}
}

func hasPassive(r *engine.Rule) bool {
	return slices.ContainsFunc(r.Steps, func(s engine.Step) bool { return s.Passive })
}

func (l *loader) warnAtPos(p engine.Pos, msg string) {
	l.diags = append(l.diags, Diagnostic{Pos: p, Severity: SevWarning, Msg: msg})
}

// coverIdx finds, for a rule B, an earlier rule A (in match order) that
// matches every push B matches. Only "plain" rules qualify as A: enabled,
// no when, active, cooldown or limit, and accepted by the filter. It is indexed so
// that 10,000 keyword rules lint in linear time.
type coverIdx struct {
	all   map[string]int    // type → first rule with no text or key gate
	exact map[[2]string]int // (type, normalized text) → first exact-only rule
	keys  map[[2]string]int // (type, key) → first key-only rule
	// pattern holds the rules with contains/prefix/regex text (no key),
	// indexed as the engine indexes them for a push, so that finding the
	// first one an exact text matches does not try them all (10,000 exact
	// rules against 10,000 patterns took seconds); at is their positions.
	pattern *engine.RuleSet
	at      map[*engine.Rule]int
	rules   []*engine.Rule
}

func coverIndex(ordered []*engine.Rule, accept func(*engine.Rule) bool) *coverIdx {
	c := &coverIdx{all: map[string]int{}, exact: map[[2]string]int{}, keys: map[[2]string]int{},
		at: map[*engine.Rule]int{}, rules: ordered}
	var patterns []*engine.Rule
	first := func(m map[string]int, k string, i int) {
		if _, ok := m[k]; !ok {
			m[k] = i
		}
	}
	for i, a := range ordered {
		if a.Disabled || a.When != nil || len(a.Active) > 0 || a.Cooldown > 0 || a.Limit != nil || !accept(a) {
			continue
		}
		for _, t := range a.On {
			switch {
			case len(a.Keys) > 0 && a.Text.IsZero():
				for _, k := range a.Keys {
					if _, ok := c.keys[[2]string{t, k}]; !ok {
						c.keys[[2]string{t, k}] = i
					}
				}
			case len(a.Keys) > 0:
				// key and text together: too specific to cover others
			case a.Text.IsZero():
				first(c.all, t, i)
			case len(a.Text.Contains)+len(a.Text.Prefix)+len(a.Text.Regex) == 0:
				for _, e := range a.Text.Exact {
					if _, ok := c.exact[[2]string{t, e}]; !ok {
						c.exact[[2]string{t, e}] = i
					}
				}
			default:
				if _, ok := c.at[a]; !ok {
					c.at[a] = i
					patterns = append(patterns, a)
				}
			}
		}
	}
	if len(patterns) > 0 {
		c.pattern = engine.NewRuleSet(patterns, nil) // in match order already: it keeps it
	}
	return c
}

// coveredBy returns a rule before position pos that covers b, or nil. For
// a rule on several types each type must be covered, the first cover found
// is reported.
func (c *coverIdx) coveredBy(b *engine.Rule, pos int) *engine.Rule {
	var found *engine.Rule
	for _, t := range b.On {
		a := c.coverForType(b, t, pos)
		if a == nil {
			return nil
		}
		if found == nil {
			found = a
		}
	}
	return found
}

func (c *coverIdx) coverForType(b *engine.Rule, t string, pos int) *engine.Rule {
	if i := c.coverIndexForType(b, t, pos); i >= 0 {
		return c.rules[i]
	}
	return nil
}

// coverIndexForType returns the position of the earliest rule before pos
// that covers b for event type t, or -1.
func (c *coverIdx) coverIndexForType(b *engine.Rule, t string, pos int) int {
	types := []string{t, "*"}
	if t == "*" {
		types = types[1:]
	}
	best := -1
	// A rule with no gates at all covers everything of its types.
	for _, ty := range types {
		if i, ok := c.all[ty]; ok && i < pos {
			best = earliest(best, i)
		}
	}
	// Otherwise every key (or every exact text) of b needs a cover; the
	// warning names the one that matches first.
	var parts []int
	switch {
	case len(b.Keys) > 0 && b.Text.IsZero():
		for _, k := range b.Keys {
			parts = append(parts, c.lookup(c.keys, types, k, pos))
		}
	case len(b.Keys) == 0 && !b.Text.IsZero() && len(b.Text.Contains)+len(b.Text.Prefix)+len(b.Text.Regex) == 0:
		for _, e := range b.Text.Exact {
			parts = append(parts, earliest(c.lookup(c.exact, types, e, pos), c.patternMatch(types, e, pos)))
		}
	}
	if len(parts) > 0 && !slices.Contains(parts, -1) {
		best = earliest(best, slices.Min(parts))
	}
	return best
}

func (c *coverIdx) lookup(m map[[2]string]int, types []string, k string, pos int) int {
	best := -1
	for _, ty := range types {
		if i, ok := m[[2]string{ty, k}]; ok && i < pos {
			best = earliest(best, i)
		}
	}
	return best
}

func (c *coverIdx) patternMatch(types []string, text string, pos int) int {
	if c.pattern == nil {
		return -1
	}
	// The first pattern rule a push of this text reaches: rules on types[0]
	// and on "*" together, as the engine sees them. They are plain, so the
	// first one matched is the first whose text gate lets text through.
	ev := &engine.Event{Type: types[0], Content: text}
	env := engine.NewEnv(ev, nil, time.Now, time.UTC)
	m, _ := c.pattern.Match(context.Background(), ev, env, nil)
	if len(m) == 0 {
		return -1
	}
	if i := c.at[m[0]]; i < pos {
		return i
	}
	return -1
}

// earliest is the smaller of two positions, -1 meaning none.
func earliest(a, b int) int {
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	}
	return min(a, b)
}

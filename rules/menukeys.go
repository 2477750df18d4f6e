package rules

import (
	"slices"

	"github.com/wxbot/wxbot/engine"
)

// KeyAnswered reports whether an enabled rule of set answers event with
// key (see KeyAnsweredBy).
func KeyAnswered(set *engine.RuleSet, event, key string) bool {
	return KeyAnsweredBy(set.Rules, event, key) != nil
}

// KeyAnsweredBy is the first enabled rule of list that answers event with
// key: one that names the key and whose on covers the event, or one with
// no key at all that names the event itself; nil when none does. A keyless
// "*" rule does not count: such a catch-all would hide every misspelt key,
// which is what the menu's cross-check with the rules is for.
func KeyAnsweredBy(list []*engine.Rule, event, key string) *engine.Rule {
	for _, r := range list {
		if r.Disabled {
			continue
		}
		named := slices.Contains(r.On, event)
		if len(r.Keys) == 0 {
			if named {
				return r
			}
			continue
		}
		if (named || slices.Contains(r.On, "*")) && slices.Contains(r.Keys, key) {
			return r
		}
	}
	return nil
}

package rules

import (
	"path/filepath"
	"slices"

	"github.com/wxbot/wxbot/engine"
)

// ConsoleFile is the file of a rules directory that the marketers'
// console writes (cmd/console).
const ConsoleFile = "console.yaml"

// placeConsole puts the console's rules among the operators' whatever the
// files are called: after every operator rule with a condition of its own
// (a text: or key: gate, a when:, an active: window), which come first
// for what they answer (the console refuses the overlaps it can see, and
// one behind a when: is the operator's), and before the first operator
// rule that takes any message of a type the console answers (a fallback
// such as "sorry, I did not understand"), which would otherwise take
// every keyword. At equal priority, then, no file name decides which of an
// operator's rule and a marketer's answers. rs is in file order; the
// console's rules keep their own order.
func placeConsole(rs []*engine.Rule) []*engine.Rule {
	var console, ops []*engine.Rule
	types := map[string]bool{}
	for _, r := range rs {
		if filepath.Base(r.Pos.File) == ConsoleFile {
			console = append(console, r)
			for _, t := range r.On {
				types[t] = true
			}
		} else {
			ops = append(ops, r)
		}
	}
	if len(console) == 0 || len(ops) == 0 {
		return rs
	}
	at := len(ops)
	for i, r := range ops {
		if isFallback(r, types) {
			at = i
			break
		}
	}
	return slices.Concat(ops[:at], console, ops[at:])
}

// isFallback reports whether r takes any message of one of types: no
// gate, no condition, and it stops the matching.
func isFallback(r *engine.Rule, types map[string]bool) bool {
	if r.Disabled || r.Continue || !r.Text.IsZero() || len(r.Keys) > 0 || r.When != nil || len(r.Active) > 0 || r.Limit != nil || r.Cooldown > 0 {
		return false
	}
	for _, t := range r.On {
		if t == "*" || types[t] || types["*"] {
			return true
		}
	}
	return false
}

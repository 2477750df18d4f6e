package rules

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/wxbot/wxbot/engine"
)

// What check says about user state: a key read that no state action sets
// (a typo), and a dialog condition waiting for a value no state action
// ever sets (a step nobody reaches).

// userRef is a read of user.KEY (key "" when the whole map is read, e.g.
// user["k" + x]).
type userRef struct {
	key string
	pos engine.Pos
	msg string
}

// userEq is a condition's need that user.KEY equals one of values.
type userEq struct {
	key    string
	values []string
	pos    engine.Pos
	msg    string
}

// userReads lists the keys p reads of user; any reports whether p reads
// user at all.
func userReads(p *vm.Program) (keys []string, any bool) {
	root := p.Node()
	ast.Walk(&root, visitor(func(n *ast.Node) {
		switch x := (*n).(type) {
		case *ast.IdentifierNode:
			if x.Value == "user" {
				any = true
			}
		case *ast.MemberNode:
			if id, ok := x.Node.(*ast.IdentifierNode); ok && id.Value == "user" {
				if s, ok := x.Property.(*ast.StringNode); ok {
					keys = append(keys, s.Value)
				}
			}
		}
	}))
	return keys, any
}

// noteUserReads records what a program of the current rule reads of user.
func (l *loader) noteUserReads(p *vm.Program, pos engine.Pos, msg string) {
	keys, any := userReads(p)
	if !any {
		return
	}
	l.ruleReadsUser = true
	for _, k := range keys {
		l.userRefs = append(l.userRefs, userRef{key: k, pos: pos, msg: msg})
	}
}

// noteStateSets records the keys a state step sets, with their constant
// values (nil: computed).
func (l *loader) noteStateSets(params any) {
	ss, ok := params.(engine.StateSetter)
	if !ok {
		return
	}
	if l.stateSets == nil {
		l.stateSets = map[string][]*string{}
	}
	for k, v := range ss.StateSets() {
		l.stateSets[k] = append(l.stateSets[k], v)
	}
}

// checkUserRefs warns about reads of keys no state action sets, and
// dialog conditions waiting for a value none sets.
func (l *loader) checkUserRefs() {
	set := make([]string, 0, len(l.stateSets))
	for k := range l.stateSets {
		set = append(set, k)
	}
	sort.Strings(set)
	known := "no state action sets any key"
	if len(set) > 0 {
		known = "keys set: " + strings.Join(set, ", ")
	}
	for _, r := range l.userRefs {
		if r.key == engine.KfKey {
			continue // the bot sets it: a transfer, WeChat's kf_* events (see engine.Handoff)
		}
		if _, ok := l.stateSets[r.key]; !ok {
			l.warnAtPos(r.pos, fmt.Sprintf("%s: reads user.%s, which no state action sets (%s%s): it is always nil",
				r.msg, r.key, known, didYouMean(r.key, set)))
		}
	}
	for _, eq := range l.userEqs {
		vals, ok := l.stateSets[eq.key]
		if !ok {
			continue // warned above
		}
		var consts []string
		computed := false
		for _, v := range vals {
			if v == nil {
				computed = true
			} else {
				consts = append(consts, *v)
			}
		}
		if computed || slices.ContainsFunc(eq.values, func(s string) bool { return slices.Contains(consts, s) }) {
			continue
		}
		l.warnAtPos(eq.pos, fmt.Sprintf("%s: needs user.%s to be %s, but no state action sets it to that (it is set to %s): the rule never matches",
			eq.msg, eq.key, strings.Join(quoteAll(eq.values), " or "), strings.Join(quoteAll(consts), ", ")))
	}
}

func quoteAll(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = strconv.Quote(x)
	}
	return out
}

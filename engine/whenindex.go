package engine

import (
	"reflect"
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// This file reads, from a compiled `when`, the equality tests the condition
// is a conjunction of (event.type, event.key, event.content, user.NAME
// against string literals), so that the index offers the rule only to the
// pushes that can pass one of them. Dialog rules gate thousands of rules on
// `user.step == "…"`, and their text gate, if any, is usually empty: without
// this every one of them would be evaluated for every push.
//
// Skipping a rule must be exactly what evaluating it would decide: false,
// and no error. Conjuncts run left to right and stop at the first false, so
// an equality is used only when every conjunct before it cannot fail
// (cannotFail); a later one would hide the error an earlier one reports.

// whenField is what an indexed equality compares.
type whenField int

const (
	fieldNone whenField = iota
	fieldContent
	fieldKey
	fieldUser
)

// whenPlan is how the index stands in for part of a rule's condition.
type whenPlan struct {
	// types, when typed, are the event types the condition allows.
	typed bool
	types []string
	// field (with user, its user.NAME) must equal one of values.
	field  whenField
	user   string
	values []string
}

// eqTest is one indexable test: field (user) is one of values.
type eqTest struct {
	field  whenField // fieldNone for event.type
	typ    bool
	user   string
	values []string
}

// planWhen reads a compiled condition; the zero plan indexes nothing.
func planWhen(p *vm.Program) whenPlan {
	var plan whenPlan
	if p == nil || p.Node() == nil {
		return plan
	}
	var rank int
	for _, c := range conjuncts(p.Node(), nil) {
		t, ok := eqTestOf(c)
		if !ok {
			if !cannotFail(c) {
				break // what follows is reached only if this did not fail
			}
			continue
		}
		switch {
		case t.typ:
			if plan.typed {
				t.values = intersect(plan.types, t.values)
			}
			plan.typed, plan.types = true, t.values
		case fieldRank(t.field) > rank:
			// One value test is enough to prune; take the one whose pushes
			// are cheapest to look up: the content and key are on the
			// push, a user field needs the user's state.
			rank = fieldRank(t.field)
			plan.field, plan.user, plan.values = t.field, t.user, t.values
		}
		if !cannotFail(c) {
			break // a user field `in` a set fails on a value not a string
		}
	}
	return plan
}

func fieldRank(f whenField) int {
	switch f {
	case fieldContent:
		return 3
	case fieldKey:
		return 2
	case fieldUser:
		return 1
	}
	return 0
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// conjuncts flattens a top-level && chain, left to right.
func conjuncts(n ast.Node, out []ast.Node) []ast.Node {
	if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
		return conjuncts(b.Right, conjuncts(b.Left, out))
	}
	return append(out, n)
}

// eqTestOf reads `F == "x"`, `"x" == F`, `F in ["x", …]` and an || of such
// tests on the same F, where F is event.type, event.key, event.content or
// user.NAME.
func eqTestOf(n ast.Node) (eqTest, bool) {
	b, ok := n.(*ast.BinaryNode)
	if !ok {
		return eqTest{}, false
	}
	switch b.Operator {
	case "||", "or":
		l, ok1 := eqTestOf(b.Left)
		r, ok2 := eqTestOf(b.Right)
		if !ok1 || !ok2 || l.field != r.field || l.typ != r.typ || l.user != r.user {
			return eqTest{}, false
		}
		l.values = append(slices.Clip(l.values), r.values...)
		return l, true
	case "==":
		if t, ok := fieldOf(b.Left); ok {
			if s, ok := b.Right.(*ast.StringNode); ok {
				t.values = []string{s.Value}
				return t, true
			}
		}
		if t, ok := fieldOf(b.Right); ok {
			if s, ok := b.Left.(*ast.StringNode); ok {
				t.values = []string{s.Value}
				return t, true
			}
		}
	case "in":
		t, ok := fieldOf(b.Left)
		if !ok {
			return eqTest{}, false
		}
		vals, ok := stringSet(b.Right)
		// A missing user field is nil, and nil is in a constant set that
		// holds "" (expr looks the zero key up): leave those unindexed.
		if !ok || t.field == fieldUser && slices.Contains(vals, "") {
			return eqTest{}, false
		}
		t.values = vals
		return t, true
	}
	return eqTest{}, false
}

// stringSet reads the right side of `in`: an array of string literals, or
// the set expr's optimizer makes of one.
func stringSet(n ast.Node) ([]string, bool) {
	switch a := n.(type) {
	case *ast.ArrayNode:
		out := make([]string, 0, len(a.Nodes))
		for _, e := range a.Nodes {
			s, ok := e.(*ast.StringNode)
			if !ok {
				return nil, false
			}
			out = append(out, s.Value)
		}
		return out, true
	case *ast.ConstantNode:
		m, ok := a.Value.(map[string]struct{})
		if !ok {
			return nil, false
		}
		out := make([]string, 0, len(m))
		for s := range m {
			out = append(out, s)
		}
		slices.Sort(out)
		return out, true
	}
	return nil, false
}

// fieldOf recognises event.type, event.key, event.content and user.NAME.
func fieldOf(n ast.Node) (eqTest, bool) {
	m, ok := n.(*ast.MemberNode)
	if !ok || m.Optional || m.Method {
		return eqTest{}, false
	}
	id, ok1 := m.Node.(*ast.IdentifierNode)
	prop, ok2 := m.Property.(*ast.StringNode)
	if !ok1 || !ok2 {
		return eqTest{}, false
	}
	switch id.Value {
	case "user":
		return eqTest{field: fieldUser, user: prop.Value}, true
	case "event":
		switch prop.Value {
		case "type":
			return eqTest{typ: true}, true
		case "key":
			return eqTest{field: fieldKey}, true
		case "content":
			return eqTest{field: fieldContent}, true
		}
	}
	return eqTest{}, false
}

// cannotFail reports whether evaluating n surely yields a value without an
// error: literals, fields of event, and comparisons of those. It is
// conservative; false only means "not known".
func cannotFail(n ast.Node) bool {
	switch x := n.(type) {
	case *ast.BoolNode, *ast.StringNode, *ast.IntegerNode, *ast.FloatNode, *ast.NilNode:
		return true
	case *ast.MemberNode:
		return eventField(x)
	case *ast.UnaryNode:
		return (x.Operator == "not" || x.Operator == "!") && cannotFail(x.Node)
	case *ast.BinaryNode:
		switch x.Operator {
		case "&&", "and", "||", "or":
			return cannotFail(x.Left) && cannotFail(x.Right)
		case "==", "!=":
			// Equality never fails, whatever it compares; reading a
			// field of the user map does not either.
			return (cannotFail(x.Left) || isUserField(x.Left)) && (cannotFail(x.Right) || isUserField(x.Right))
		case "startsWith", "endsWith", "contains":
			return isString(x.Left) && isString(x.Right) && cannotFail(x.Left) && cannotFail(x.Right)
		case "in":
			_, ok := stringSet(x.Right)
			return ok && isString(x.Left) && cannotFail(x.Left)
		}
	}
	return false
}

func isUserField(n ast.Node) bool {
	t, ok := fieldOf(n)
	return ok && t.field == fieldUser
}

func isString(n ast.Node) bool {
	t := n.Type()
	return t != nil && t.Kind() == reflect.String
}

// eventField reports whether n is event.A or event.A.B: fields of a struct
// the checker has seen, which read without failing (the nested groups are
// values, not pointers).
func eventField(m *ast.MemberNode) bool {
	if m.Optional || m.Method {
		return false
	}
	if _, ok := m.Property.(*ast.StringNode); !ok {
		return false
	}
	switch inner := m.Node.(type) {
	case *ast.IdentifierNode:
		return inner.Value == "event"
	case *ast.MemberNode:
		id, ok := inner.Node.(*ast.IdentifierNode)
		_, prop := inner.Property.(*ast.StringNode)
		return ok && id.Value == "event" && prop && !inner.Optional && !inner.Method &&
			inner.Type() != nil && inner.Type().Kind() == reflect.Struct
	}
	return false
}

// restrict is the event types of ons that the condition allows.
func (p *whenPlan) restrict(ons []string) []string {
	if !p.typed {
		return ons
	}
	if slices.Contains(ons, "*") {
		return dedupe(p.types)
	}
	return intersect(ons, p.types)
}

// UserEqualities lists, by NAME, the values a condition requires of
// user.NAME in its top-level && chain (`user.step == "phone"`, an `in` or
// an || of them), for check's warning about a dialog step no state action
// sets. Unlike the index it keeps the tests after a conjunct that may
// fail: a rule whose test no value passes never matches, whatever comes
// before it.
func UserEqualities(p *vm.Program) map[string][]string {
	out := map[string][]string{}
	if p == nil || p.Node() == nil {
		return out
	}
	for _, c := range conjuncts(p.Node(), nil) {
		if t, ok := eqTestOf(c); ok && t.field == fieldUser {
			out[t.user] = append(out[t.user], t.values...)
		}
	}
	return out
}

package rules

import (
	"fmt"
	"math"
	"reflect"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/wxbot/wxbot/engine"
)

// An expression runs for every push a rule sees, on the path that must
// answer WeChat within 5 seconds, and expr cannot interrupt one that runs
// long: `all(1..600, {all(1..600, {all(1..600, {# > 0})})})` takes tens of
// seconds. So the loader estimates each expression's worst case, in
// evaluation steps, and refuses what is over Limits.MaxCost.
//
// The estimate multiplies the sizes of nested loops (all, any, filter, map,
// count, …): a range with constant ends or a constant list has its own
// size, vars.NAME the size of that var, a let-bound name the size of its
// value; anything else (a field of the event, a split of its text) counts
// as unknownSize.

// unknownSize is the size assumed for a collection known only at run time.
const unknownSize = 1000

// loopBuiltins run their predicate once per element of their first
// argument.
var loopBuiltins = map[string]bool{
	"all": true, "none": true, "any": true, "one": true, "filter": true, "map": true, "count": true,
	"sum": true, "find": true, "findIndex": true, "findLast": true, "findLastIndex": true,
	"groupBy": true, "sortBy": true, "reduce": true,
}

type costModel struct {
	vars map[string]any
	lets map[string]float64
}

// exprCost estimates the worst-case steps of a compiled expression.
func exprCost(p *vm.Program, vars map[string]any) float64 {
	m := &costModel{vars: vars, lets: map[string]float64{}}
	return m.cost(p.Node())
}

func (m *costModel) cost(n ast.Node) float64 {
	switch n := n.(type) {
	case nil:
		return 0
	case *ast.BuiltinNode:
		if loopBuiltins[n.Name] && len(n.Arguments) >= 2 {
			body := 0.0
			for _, a := range n.Arguments[1:] {
				body += m.cost(a)
			}
			return m.cost(n.Arguments[0]) + m.size(n.Arguments[0])*(1+body)
		}
		return 1 + m.sum(n.Arguments...)
	case *ast.PredicateNode:
		return m.cost(n.Node)
	case *ast.VariableDeclaratorNode:
		m.lets[n.Name] = m.size(n.Value)
		return m.cost(n.Value) + m.cost(n.Expr)
	case *ast.BinaryNode:
		c := 1 + m.cost(n.Left) + m.cost(n.Right)
		if n.Operator == ".." { // building the range
			c += m.size(n)
		}
		return c
	case *ast.UnaryNode:
		return 1 + m.cost(n.Node)
	case *ast.ChainNode:
		return m.cost(n.Node)
	case *ast.MemberNode:
		return 1 + m.cost(n.Node) + m.cost(n.Property)
	case *ast.SliceNode:
		return 1 + m.sum(n.Node, n.From, n.To)
	case *ast.CallNode:
		return 1 + m.sum(append([]ast.Node{n.Callee}, n.Arguments...)...)
	case *ast.ConditionalNode:
		return 1 + m.sum(n.Cond, n.Exp1, n.Exp2)
	case *ast.SequenceNode:
		return m.sum(n.Nodes...)
	case *ast.ArrayNode:
		return 1 + m.sum(n.Nodes...)
	case *ast.MapNode:
		return 1 + m.sum(n.Pairs...)
	case *ast.PairNode:
		return m.sum(n.Key, n.Value)
	}
	return 1
}

func (m *costModel) sum(ns ...ast.Node) float64 {
	total := 0.0
	for _, n := range ns {
		total += m.cost(n)
	}
	return total
}

// size estimates how many elements a collection-valued node holds.
func (m *costModel) size(n ast.Node) float64 {
	switch n := n.(type) {
	case *ast.ConstantNode:
		return lengthOf(n.Value)
	case *ast.ArrayNode:
		return float64(len(n.Nodes))
	case *ast.BinaryNode:
		if n.Operator == ".." {
			lo, okLo := intValue(n.Left)
			hi, okHi := intValue(n.Right)
			if okLo && okHi {
				return math.Max(float64(hi-lo+1), 0)
			}
		}
	case *ast.IdentifierNode:
		if s, ok := m.lets[n.Value]; ok {
			return s
		}
	case *ast.MemberNode:
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "vars" {
			if s, ok := n.Property.(*ast.StringNode); ok {
				return lengthOf(m.vars[s.Value])
			}
		}
	case *ast.BuiltinNode:
		if (n.Name == "filter" || n.Name == "map" || n.Name == "sortBy") && len(n.Arguments) > 0 {
			return m.size(n.Arguments[0])
		}
	case *ast.ChainNode:
		return m.size(n.Node)
	}
	return unknownSize
}

func intValue(n ast.Node) (int, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return n.Value, true
	case *ast.ConstantNode:
		i, ok := n.Value.(int)
		return i, ok
	}
	return 0, false
}

func lengthOf(v any) float64 {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.String:
		return float64(rv.Len())
	}
	return 1
}

// costRef is an expression to check once every file is read (vars may be
// defined in a later file).
type costRef struct {
	prog *vm.Program
	pos  engine.Pos
	msg  string
}

// checkCosts reports the expressions too costly for a push.
func (l *loader) checkCosts() {
	max := DefaultLimits.MaxCost
	if max <= 0 {
		return
	}
	for _, r := range l.costRefs {
		if c := exprCost(r.prog, l.vars); c > float64(max) {
			l.errAtPos(r.pos, fmt.Sprintf("%s: too costly for a push: up to about %.3g evaluation steps (loops over collections nest), over the limit of %d (--rules-max-cost); WeChat waits 5 s for the answer",
				r.msg, c, max))
		}
	}
}

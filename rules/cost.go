package rules

import (
	"errors"
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
// value. What comes from the push is sized as a push of dataLen bytes of
// text: a loop over the parts of its text runs dataLen times, and work on
// its text (contains, upper, regexps, building text) counts per byte. So
// what grows faster than the push (a loop over its text inside another,
// the whole text reworked once per part) goes far over the limit, and what
// is accepted costs at most in proportion to the text.
//
// Some expressions grow with the push whatever their estimate: a range whose
// ends come from it (1..int(event.content)) and repeat with a count or text
// that is not a constant. Those are refused outright (costModel.refuse).
//
// At run time the engine bounds what the estimate cannot see: an
// evaluation that builds more than engine.MemoryBudget list elements, or a
// repeat over engine.MaxRepeat bytes, stops and its rule does not match.
// The loader refuses what would go over the budget whatever the push.

// unknownSize is the size assumed for a collection known only at run time
// and not made from the push.
const unknownSize = 1000

// dataLen is how long a text from the push is taken to be, in bytes, and
// how many elements a list made from it holds (split, event.raw, fromJSON):
// the 100 KB of text the design names. A push's body may reach 1 MiB
// (callback.MaxBodyBytes); what the check accepts costs at most in
// proportion to the text, so such a push costs up to 10 times the estimate,
// never its square.
const dataLen = 100_000

// Work on text counts in steps (about 10 ns each) per byte: scanning it
// (contains, ==, split) takes a fraction of a nanosecond a byte, changing
// it (upper, replace, toJSON) several, a regexp 30, compiling one about
// 200; building text allocates it, which its cost also bounds (10 MB at the
// default limit). An element of the list split builds is a string header
// (elemSteps); one that map, filter or sortBy builds, boxed and copied from
// the VM's stack, costs it about 400 ns with the collector's share
// (listElemSteps).
const (
	scanBytesPerStep         = 16
	transformStepsPerByte    = 1
	buildStepsPerByte        = 0.5
	regexStepsPerByte        = 4
	regexPatternBytes        = 32 // a longer pattern runs proportionally slower
	regexCompileStepsPerByte = 20
	elemSteps                = 4
	listElemSteps            = 16
)

// loopBuiltins run their predicate once per element of their first
// argument.
var loopBuiltins = map[string]bool{
	"all": true, "none": true, "any": true, "one": true, "filter": true, "map": true, "count": true,
	"sum": true, "find": true, "findIndex": true, "findLast": true, "findLastIndex": true,
	"groupBy": true, "sortBy": true, "reduce": true,
}

type costModel struct {
	vars         map[string]any
	lets         map[string]extent
	consts       map[string]any // let-bound ints and texts the rule fixes
	sizes, texts map[ast.Node]float64
	// data is the length of a text from the push: dataLen, or 1 to tell
	// what grows with the push from what does not.
	data float64
	// loops are the loops around the node being walked, innermost last;
	// mult is how many times that node runs.
	loops []loop
	mult  float64
	// built counts what expr counts against engine.MemoryBudget.
	built float64
	// refusal is the first part refused whatever its cost.
	refusal string
}

// extent is what the model knows of a value's size: a collection's
// elements, and the bytes of text it is or holds in all.
type extent struct{ size, text float64 }

// loop is a loop being walked: its collection, how many times the loop
// itself runs, and the text of reduce's accumulator.
type loop struct {
	coll      extent
	mult, acc float64
}

// costEstimate is an expression's worst case: evaluation steps, elements
// built against engine.MemoryBudget, and why it is refused outright, if
// it is.
type costEstimate struct {
	steps, built float64
	refusal      string
}

// exprCost estimates the worst case of a compiled expression for a push
// of data bytes of text.
func exprCost(p *vm.Program, vars map[string]any, data float64) costEstimate {
	m := &costModel{vars: vars, lets: map[string]extent{}, consts: map[string]any{},
		sizes: map[ast.Node]float64{}, texts: map[ast.Node]float64{}, data: data, mult: 1}
	steps := m.cost(p.Node())
	return costEstimate{steps: steps, built: m.built, refusal: m.refusal}
}

func (m *costModel) cost(n ast.Node) float64 {
	switch n := n.(type) {
	case nil:
		return 0
	case *ast.BuiltinNode:
		if loopBuiltins[n.Name] && len(n.Arguments) >= 2 {
			return m.loopCost(n)
		}
		return 1 + m.sum(n.Arguments...) + m.builtinWork(n.Name, n.Arguments, n)
	case *ast.PredicateNode:
		return m.cost(n.Node)
	case *ast.VariableDeclaratorNode:
		m.bind(n)
		return m.cost(n.Value) + m.cost(n.Expr)
	case *ast.BinaryNode:
		return 1 + m.cost(n.Left) + m.cost(n.Right) + m.binaryWork(n)
	case *ast.UnaryNode:
		return 1 + m.cost(n.Node)
	case *ast.ChainNode:
		return m.cost(n.Node)
	case *ast.MemberNode:
		return 1 + m.cost(n.Node) + m.cost(n.Property)
	case *ast.SliceNode:
		return 1 + m.sum(n.Node, n.From, n.To)
	case *ast.CallNode:
		c := 1 + m.sum(append([]ast.Node{n.Callee}, n.Arguments...)...)
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && id.Value == "repeat" { // engine's bounded repeat
			c += m.repeatWork(n, n.Arguments)
		}
		return c
	case *ast.ConditionalNode:
		return 1 + m.sum(n.Cond, n.Exp1, n.Exp2)
	case *ast.SequenceNode:
		return m.sum(n.Nodes...)
	case *ast.ArrayNode:
		m.build(float64(len(n.Nodes)))
		return 1 + m.sum(n.Nodes...)
	case *ast.MapNode:
		m.build(float64(len(n.Pairs)))
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

// loopCost is a loop builtin: its collection, then its predicate once per
// element.
func (m *costModel) loopCost(n *ast.BuiltinNode) float64 {
	coll := n.Arguments[0]
	c := m.cost(coll)
	ext := m.extentOf(coll)
	switch n.Name {
	case "map", "filter", "sortBy": // the list each returns
		m.build(ext.size)
		c += ext.size * listElemSteps
	}
	body := 0.0
	m.enter(ext, m.accText(n, ext))
	for _, a := range n.Arguments[1:] {
		body += m.cost(a)
	}
	body += m.cost(n.Map) // filter and map folded into one loop
	if n.Name == "reduce" {
		m.checkReduce(n)
	}
	m.leave()
	c += ext.size * (1 + body)
	if n.Name == "sortBy" {
		c += ext.size * math.Log2(max(ext.size, 2))
	}
	return c
}

// checkReduce refuses, inside its loop, a reduce that may build text: its
// accumulator can double at every element (#acc + #acc, replace(#acc,
// "a", "aa")), which no estimate bounds. A list so built counts against
// expr's budget, and a number is a number: a step whose type is not known
// before run time (over vars) is text if text can reach it.
func (m *costModel) checkReduce(n *ast.BuiltinNode) {
	body := n.Arguments[1]
	if p, ok := body.(*ast.PredicateNode); ok {
		body = p.Node
	}
	t := body.Type()
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Map) {
		return
	}
	if t != nil && t.Kind() == reflect.String || m.text(body) > 0 {
		m.refuse(fmt.Sprintf("%s may build text through #acc, which can double at every element: build text with join(map(…), sep) instead", n))
	}
}

// accText is the text reduce's accumulator starts from and gathers: its
// first value and the elements; 0 for other loops.
func (m *costModel) accText(n *ast.BuiltinNode, coll extent) float64 {
	if n.Name != "reduce" {
		return 0
	}
	if len(n.Arguments) > 2 {
		return coll.text + m.text(n.Arguments[2])
	}
	return coll.text
}

// enter and leave bracket the walk of a loop's body over coll; acc is the
// text of #acc in it.
func (m *costModel) enter(coll extent, acc float64) {
	m.loops = append(m.loops, loop{coll, m.mult, acc})
	m.mult *= max(coll.size, 1)
}

func (m *costModel) leave() {
	m.mult = m.loops[len(m.loops)-1].mult
	m.loops = m.loops[:len(m.loops)-1]
}

// build counts n elements built where the walk is, as many times as it
// runs.
func (m *costModel) build(n float64) { m.built += m.mult * n }

// refuse notes a part refused whatever its cost; the first one is told.
func (m *costModel) refuse(why string) {
	if m.refusal == "" {
		m.refusal = why
	}
}

// bind records a let-bound name's extent, once: text and size may meet the
// name before the cost walk reaches its declaration.
func (m *costModel) bind(n *ast.VariableDeclaratorNode) {
	if _, ok := m.lets[n.Name]; ok {
		return
	}
	m.lets[n.Name] = m.extentOf(n.Value)
	if v, ok := m.intValue(n.Value); ok {
		m.consts[n.Name] = v
	} else if s, ok := m.constText(n.Value); ok {
		m.consts[n.Name] = s
	}
}

func (m *costModel) extentOf(n ast.Node) extent { return extent{m.size(n), m.text(n)} }

// binaryWork is an operator's work beyond its step: ranges it builds, text
// it scans or builds, lists it searches.
func (m *costModel) binaryWork(n *ast.BinaryNode) float64 {
	switch n.Operator {
	case "..":
		_, okLo := m.intValue(n.Left)
		_, okHi := m.intValue(n.Right)
		if !okLo || !okHi {
			m.refuse(fmt.Sprintf("the range %s is sized at run time, by what the push holds: write its ends as numbers or vars (1..100, 1..vars.max), and filter it to the run-time bound: filter(1..100, {# <= n})", n))
		}
		s := m.size(n)
		m.build(s)
		return s
	case "+":
		return (m.text(n.Left) + m.text(n.Right)) * buildStepsPerByte
	case "matches":
		return m.regexWork(n.Left, n.Right)
	case "in":
		w := m.text(n.Left) / scanBytesPerStep
		if t := n.Right.Type(); t == nil || t.Kind() != reflect.Map {
			w += m.size(n.Right)
		}
		return w
	case "==", "!=", "<", ">", "<=", ">=", "contains", "startsWith", "endsWith":
		return (m.text(n.Left) + m.text(n.Right)) / scanBytesPerStep
	}
	return 0
}

// regexWork is matching text against a pattern: Go's regexp runs in time
// proportional to both, and compiles a pattern that is not a constant at
// every evaluation.
func (m *costModel) regexWork(text, pattern ast.Node) float64 {
	p := m.text(pattern)
	w := regexStepsPerByte * m.text(text) * max(1, p/regexPatternBytes)
	if _, ok := m.constText(pattern); !ok {
		w += regexCompileStepsPerByte * p
	}
	return w
}

// repeatWork checks what repeat builds: a text and count the rule fixes,
// within what engine's repeat allows at run time.
func (m *costModel) repeatWork(n ast.Node, args []ast.Node) float64 {
	if len(args) != 2 {
		return 0
	}
	s, okText := m.constText(args[0])
	c, okCount := m.intValue(args[1])
	size := float64(len(s)) * float64(c)
	switch {
	case !okText || !okCount:
		m.refuse(fmt.Sprintf("%s repeats by what the push holds: repeat takes a text and a count written in the rule or in vars, such as repeat(\"-\", 3), at most %d bytes in all", n, engine.MaxRepeat))
	case c < 0:
		m.refuse(fmt.Sprintf("%s: repeat's count must be 0 or more", n))
	case size > engine.MaxRepeat:
		m.refuse(fmt.Sprintf("%s builds %.0f bytes, over the %d repeat may build", n, size, engine.MaxRepeat))
	}
	return max(size, 0) * buildStepsPerByte
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
	seen := map[*vm.Program]error{} // large files repeat a few expressions (see engine.Compiler)
	for _, r := range l.costRefs {
		err, ok := seen[r.prog]
		if !ok {
			err = checkCost(r.prog, l.vars, max)
			seen[r.prog] = err
		}
		if err != nil {
			l.errAtPos(r.pos, r.msg+": "+err.Error())
		}
	}
}

// checkCost refuses an expression that grows with the push outright
// (costModel.refuse), that could cost a push of dataLen bytes of text more
// than limit steps, or that builds more than engine.MemoryBudget elements
// whatever the push, saying what to change. An estimate that is not a
// number (infinity times zero) is over.
func checkCost(p *vm.Program, vars map[string]any, limit int) error {
	full := exprCost(p, vars, dataLen)
	max := float64(limit)
	switch {
	case full.refusal != "":
		return errors.New(full.refusal)
	case full.steps <= max && full.built <= engine.MemoryBudget: // no smaller push costs more
		return nil
	}
	small := exprCost(p, vars, 1)
	switch {
	case !(small.steps <= max):
		return fmt.Errorf("too costly for a push: up to about %.3g evaluation steps (loops over collections nest), over the limit of %d (--rules-max-cost); WeChat waits 5 s for the answer",
			small.steps, limit)
	case !(full.steps <= max):
		return fmt.Errorf("too costly for a push: up to about %.3g evaluation steps for a push of %d KB of text, over the limit of %d (--rules-max-cost), and it grows with the push: loop over vars or constant ranges, not over the parts of its text inside another loop, and work on its whole text once, not once per element",
			full.steps, dataLen/1000, limit)
	case !(small.built <= engine.MemoryBudget):
		return fmt.Errorf("too costly for a push: builds up to about %.3g list elements in all (ranges, map, filter, sortBy), over the %d an evaluation may build; use shorter ranges, or count, any and all, which build no list",
			small.built, engine.MemoryBudget)
	}
	return nil
}

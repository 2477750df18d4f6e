package rules

import (
	"math"
	"reflect"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/wxbot/wxbot/engine/store"
)

// The sizes the cost model reasons with: how many elements a collection
// holds, and how many bytes of text a value is or holds in all. Both are
// upper bounds; what comes from the push is as large as the push
// (costModel.data), a user's state as large as the store keeps
// (store.MaxStateBytes), vars exactly their size.

// transforms are the builtins that rework the text they read, at several
// nanoseconds a byte, and build a new one.
var transforms = map[string]bool{
	"upper": true, "lower": true, "replace": true, "join": true, "toJSON": true, "fromJSON": true,
	"toBase64": true, "fromBase64": true, "string": true,
}

// builtinWork is a builtin's work beyond its step: the text it reads and
// builds, the lists it walks and builds.
func (m *costModel) builtinWork(name string, args []ast.Node, out ast.Node) float64 {
	if name == "repeat" {
		return m.repeatWork(out, args)
	}
	read := 0.0
	for _, a := range args {
		read += m.text(a)
	}
	w := read / scanBytesPerStep
	if transforms[name] {
		w = read*transformStepsPerByte + m.text(out)*buildStepsPerByte
	}
	switch name {
	case "split", "splitAfter", "fromJSON", "keys", "values", "toPairs", "fromPairs", "uniq", "take":
		w += m.size(out) * elemSteps
	case "sort": // counted by expr against its memory budget, like the next
		s := m.size(out)
		m.build(s)
		w += s * math.Log2(max(s, 2))
	case "reverse", "concat", "flatten":
		s := m.size(out)
		m.build(s)
		w += s
	case "max", "min", "mean", "median", "sum", "join", "toJSON", "string":
		for _, a := range args {
			if mayBeList(a) {
				w += m.size(a)
			}
		}
	}
	return w
}

// size estimates how many elements a collection-valued node holds.
func (m *costModel) size(n ast.Node) float64 {
	if s, ok := m.sizes[n]; ok {
		return s
	}
	s := m.measureSize(n)
	m.sizes[n] = s
	return s
}

func (m *costModel) measureSize(n ast.Node) float64 {
	switch n := n.(type) {
	case *ast.ConstantNode:
		return lengthOf(n.Value)
	case *ast.ArrayNode:
		return float64(len(n.Nodes))
	case *ast.MapNode:
		return float64(len(n.Pairs))
	case *ast.BinaryNode:
		if n.Operator == ".." {
			lo, okLo := m.intValue(n.Left)
			hi, okHi := m.intValue(n.Right)
			if okLo && okHi {
				return math.Max(float64(hi)-float64(lo)+1, 0)
			}
		}
	case *ast.IdentifierNode:
		if s, ok := m.lets[n.Value]; ok {
			return s.size
		}
	case *ast.MemberNode:
		switch rootOf(n) {
		case "vars":
			v, exact := m.varValue(n)
			if exact {
				return lengthOf(v)
			}
			return countOf(v)
		case "event":
			return m.data
		case "user":
			return m.userLen()
		}
	case *ast.BuiltinNode:
		return m.builtinSize(n)
	case *ast.ChainNode:
		return m.size(n.Node)
	case *ast.SliceNode:
		return min(m.size(n.Node), m.sliceLen(n))
	case *ast.ConditionalNode:
		return max(m.size(n.Exp1), m.size(n.Exp2))
	case *ast.VariableDeclaratorNode:
		m.bind(n)
		return m.size(n.Expr)
	}
	return unknownSize
}

func (m *costModel) builtinSize(n *ast.BuiltinNode) float64 {
	args := n.Arguments
	if len(args) == 0 {
		return unknownSize
	}
	switch n.Name {
	case "filter", "map", "sortBy", "sort", "reverse", "uniq", "keys", "values", "toPairs", "fromPairs", "groupBy":
		return m.size(args[0])
	case "take":
		if c, ok := m.intValue(args[len(args)-1]); ok && len(args) == 2 {
			return min(m.size(args[0]), float64(max(c, 0)))
		}
		return m.size(args[0])
	case "concat":
		s := 0.0
		for _, a := range args {
			s += m.size(a)
		}
		return s
	case "split", "splitAfter":
		per := 1.0
		if len(args) > 1 {
			if sep, ok := m.constText(args[1]); ok && sep != "" {
				per = float64(len(sep))
			}
		}
		return m.text(args[0])/per + 1
	case "fromJSON":
		return m.text(args[0])
	case "flatten":
		return m.size(args[0]) * unknownSize
	}
	return unknownSize
}

// text estimates the bytes of text a node is, or holds in all: the text a
// list's elements share between them, so that a loop's body reading its
// element reads the list's text once over all its runs. Sizes and texts
// are kept per node, or nested builtins would measure their arguments
// again at every level: a node inside a loop is always measured inside
// it.
func (m *costModel) text(n ast.Node) float64 {
	if t, ok := m.texts[n]; ok {
		return t
	}
	t := m.measureText(n)
	m.texts[n] = t
	return t
}

func (m *costModel) measureText(n ast.Node) float64 {
	if p, ok := n.(*ast.PredicateNode); ok { // typed as the function it is
		return m.text(p.Node)
	}
	if n == nil || noText(n.Type()) {
		return 0
	}
	switch n := n.(type) {
	case *ast.StringNode:
		return float64(len(n.Value))
	case *ast.ConstantNode:
		return textOf(n.Value)
	case *ast.IdentifierNode:
		switch n.Value {
		case "event":
			return m.data
		case "user":
			return m.userLen()
		case "vars":
			return textOf(m.vars)
		}
		return m.lets[n.Value].text
	case *ast.MemberNode:
		switch rootOf(n) {
		case "event":
			return m.data
		case "user":
			return m.userLen()
		case "vars":
			v, _ := m.varValue(n)
			return textOf(v)
		}
		return m.text(n.Node) // a part is no longer than the whole
	case *ast.PointerNode:
		return m.pointerText(n)
	case *ast.BinaryNode:
		switch n.Operator {
		case "+":
			return m.text(n.Left) + m.text(n.Right)
		case "??":
			return max(m.text(n.Left), m.text(n.Right))
		}
	case *ast.ConditionalNode:
		return max(m.text(n.Exp1), m.text(n.Exp2))
	case *ast.ChainNode:
		return m.text(n.Node)
	case *ast.SliceNode:
		if t := n.Type(); t != nil && t.Kind() == reflect.String { // of runes, 4 bytes at most
			return min(m.text(n.Node), 4*m.sliceLen(n))
		}
		return m.text(n.Node)
	case *ast.ArrayNode:
		return m.textSum(n.Nodes...)
	case *ast.MapNode:
		return m.textSum(n.Pairs...)
	case *ast.PairNode:
		return m.textSum(n.Key, n.Value)
	case *ast.BuiltinNode:
		return m.builtinText(n)
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && id.Value == "repeat" {
			return m.repeatText(n.Arguments)
		}
	case *ast.VariableDeclaratorNode:
		m.bind(n)
		return m.text(n.Expr)
	case *ast.SequenceNode:
		if len(n.Nodes) > 0 {
			return m.text(n.Nodes[len(n.Nodes)-1])
		}
	}
	return 0
}

func (m *costModel) textSum(ns ...ast.Node) float64 {
	t := 0.0
	for _, n := range ns {
		t += m.text(n)
	}
	return t
}

// pointerText is the text of # (a loop's element: its share of the
// collection's text) or #acc (reduce's accumulator, which may not build
// text: it holds its first value or elements).
func (m *costModel) pointerText(n *ast.PointerNode) float64 {
	if len(m.loops) == 0 {
		return 0
	}
	l := m.loops[len(m.loops)-1]
	switch n.Name {
	case "":
		return l.coll.text / max(l.coll.size, 1)
	case "acc":
		return l.acc
	}
	return 0
}

func (m *costModel) builtinText(n *ast.BuiltinNode) float64 {
	args := n.Arguments
	if len(args) == 0 {
		return 0
	}
	s := m.text(args[0])
	switch n.Name {
	case "repeat":
		return m.repeatText(args)
	case "replace":
		if len(args) == 3 {
			per := 1.0
			if old, ok := m.constText(args[1]); ok && old != "" {
				per = float64(len(old))
			}
			return s + (s/per+1)*m.text(args[2])
		}
	case "join":
		sep := 0.0
		if len(args) > 1 {
			sep = m.text(args[1])
		}
		return s + m.size(args[0])*sep
	case "toJSON", "string": // escapes take up to 6 bytes a byte
		if mayBeList(args[0]) {
			return 6*s + 24*m.size(args[0])
		}
		return 6*s + 24
	case "toBase64":
		return s*4/3 + 4
	case "map", "filter", "reduce":
		body := n.Map
		if n.Name != "filter" && len(args) > 1 {
			body = args[1]
		}
		if body == nil {
			return s
		}
		coll := m.extentOf(args[0])
		m.enter(coll, m.accText(n, coll))
		t := m.text(body)
		m.leave()
		if n.Name == "reduce" {
			return t
		}
		return coll.size * t
	}
	if loopBuiltins[n.Name] { // an element, or a grouping, of the first
		return s
	}
	return s + m.textSum(args[1:]...)
}

func (m *costModel) repeatText(args []ast.Node) float64 {
	if len(args) == 2 {
		s, okText := m.constText(args[0])
		c, okCount := m.intValue(args[1])
		if okText && okCount && c > 0 {
			return float64(len(s)) * float64(c)
		}
	}
	return 0 // refused by repeatWork
}

// sliceLen bounds the length of xs[from:to] by its constant ends.
func (m *costModel) sliceLen(n *ast.SliceNode) float64 {
	to, ok := m.intValue(n.To)
	if !ok || to < 0 {
		return math.Inf(1)
	}
	from, ok := m.intValue(n.From)
	if !ok || from < 0 {
		from = 0
	}
	return max(float64(to)-float64(from), 0)
}

// userLen is how long a user's state may be, as text.
func (m *costModel) userLen() float64 { return min(m.data, store.MaxStateBytes) }

// intValue is the value of an integer the rule fixes: a literal, a var,
// or a name let-bound to one.
func (m *costModel) intValue(n ast.Node) (int, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return n.Value, true
	case *ast.ConstantNode:
		return intOf(n.Value)
	case *ast.IdentifierNode:
		v, ok := m.consts[n.Value].(int)
		return v, ok
	case *ast.UnaryNode:
		v, ok := m.intValue(n.Node)
		switch n.Operator {
		case "-":
			return -v, ok
		case "+":
			return v, ok
		}
	case *ast.MemberNode:
		if v, exact := m.varValue(n); exact && rootOf(n) == "vars" {
			return intOf(v)
		}
	}
	return 0, false
}

// constText is the value of a text the rule fixes: a literal, a var, or a
// name let-bound to one.
func (m *costModel) constText(n ast.Node) (string, bool) {
	switch n := n.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.ConstantNode:
		s, ok := n.Value.(string)
		return s, ok
	case *ast.IdentifierNode:
		s, ok := m.consts[n.Value].(string)
		return s, ok
	case *ast.MemberNode:
		if v, exact := m.varValue(n); exact && rootOf(n) == "vars" {
			s, ok := v.(string)
			return s, ok
		}
	}
	return "", false
}

// varValue follows vars.NAME[…] as far as its keys are constants: exact
// tells whether it got to n itself, or stopped at a value holding it.
func (m *costModel) varValue(n ast.Node) (v any, exact bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		return m.vars, n.Value == "vars"
	case *ast.ChainNode:
		return m.varValue(n.Node)
	case *ast.MemberNode:
		base, ok := m.varValue(n.Node)
		if !ok {
			return base, false
		}
		rv := reflect.ValueOf(base)
		switch p := n.Property.(type) {
		case *ast.StringNode:
			if rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String {
				if e := rv.MapIndex(reflect.ValueOf(p.Value).Convert(rv.Type().Key())); e.IsValid() {
					return e.Interface(), true
				}
			}
		case *ast.IntegerNode:
			if k := rv.Kind(); k == reflect.Slice || k == reflect.Array {
				i := p.Value
				if i < 0 {
					i += rv.Len()
				}
				if i >= 0 && i < rv.Len() {
					return rv.Index(i).Interface(), true
				}
			}
		}
		return base, false
	}
	return nil, false
}

// rootOf is the name a chain of fields and indexes starts from.
func rootOf(n ast.Node) string {
	for {
		switch x := n.(type) {
		case *ast.MemberNode:
			n = x.Node
		case *ast.ChainNode:
			n = x.Node
		case *ast.SliceNode:
			n = x.Node
		case *ast.IdentifierNode:
			return x.Value
		default:
			return ""
		}
	}
}

// noText tells values of a type that cannot hold text: numbers, bools,
// times, functions.
func noText(t reflect.Type) bool {
	if t == nil {
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.Func, reflect.Chan:
		return true
	}
	return t == reflect.TypeFor[time.Time]()
}

// mayBeList tells a node that may hold a list or map.
func mayBeList(n ast.Node) bool {
	t := n.Type()
	if t == nil {
		return true
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.Interface:
		return true
	}
	return false
}

func intOf(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		return int(x), x >= math.MinInt32 && x <= math.MaxInt32
	case uint64:
		return int(x), x <= math.MaxInt32
	case float64:
		return int(x), x == math.Trunc(x) && math.Abs(x) <= math.MaxInt32
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

// countOf is how many elements v holds at every depth: a bound on the
// size of any collection inside it.
func countOf(v any) float64 {
	rv := reflect.ValueOf(v)
	n := 0.0
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		for i := range rv.Len() {
			n += 1 + countOf(rv.Index(i).Interface())
		}
	case reflect.Map:
		for it := rv.MapRange(); it.Next(); {
			n += 1 + countOf(it.Value().Interface())
		}
	}
	return max(n, 1)
}

// textOf is how many bytes of text v holds at every depth.
func textOf(v any) float64 {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return float64(rv.Len())
	case reflect.Slice, reflect.Array:
		t := 0.0
		for i := range rv.Len() {
			t += textOf(rv.Index(i).Interface())
		}
		return t
	case reflect.Map:
		t := 0.0
		for it := rv.MapRange(); it.Next(); {
			t += textOf(it.Key().Interface()) + textOf(it.Value().Interface())
		}
		return t
	}
	return 0
}

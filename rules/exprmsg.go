package rules

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/wxbot/wxbot/engine"
)

// Expressions are checked against engine's Go types, and expr words its
// errors in them ("type engine.Event has no field form"). The rules file
// speaks of event, event.location, vars: these helpers translate, and
// suggest the nearest name.

// exprPaths maps the Go types of the environment to how a rule reaches
// them.
var exprPaths = map[string]reflect.Type{
	"event":          reflect.TypeFor[engine.Event](),
	"event.location": reflect.TypeFor[engine.Geo](),
	"event.link":     reflect.TypeFor[engine.Link](),
	"event.scan":     reflect.TypeFor[engine.Scan](),
	"event.payment":  reflect.TypeFor[engine.Payment](),
}

var (
	noFieldRE     = regexp.MustCompile(`^type (\*?[\w.]+) has no field (\w+)$`)
	unknownNameRE = regexp.MustCompile(`^unknown name (\w+)$`)
)

// speakRules rewords an expr compile error in the rules file's terms,
// keeping its position and caret snippet.
func speakRules(err error) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return err
	}
	c := *fe
	switch m := noFieldRE.FindStringSubmatch(c.Message); {
	case m != nil:
		goName := strings.TrimPrefix(m[1], "*")
		for path, t := range exprPaths {
			if goName == t.String() {
				c.Message = fmt.Sprintf("%s has no field %q%s", path, m[2], didYouMean(m[2], exprNames(t)))
				return &c
			}
		}
		c.Message = fmt.Sprintf("a value of type %s has no field %q", goName, m[2])
	default:
		if m := unknownNameRE.FindStringSubmatch(c.Message); m != nil {
			c.Message = fmt.Sprintf("unknown name %q%s (known: %s)", m[1], didYouMean(m[1], envNames()),
				strings.Join(envNames(), ", "))
		}
	}
	return &c
}

// exprNames are the names expr reaches in a struct, by its expr tags.
func exprNames(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("expr")
		if tag != "" && tag != "-" {
			names = append(names, tag)
		}
	}
	return names
}

func envNames() []string {
	names := exprNames(reflect.TypeFor[engine.Env]())
	sort.Strings(names)
	return names
}

// didYouMean suggests the known name nearest to got, when one is near.
func didYouMean(got string, known []string) string {
	best, bestD := "", len(got)/2+2
	for _, k := range known {
		if d := EditDistance(strings.ToLower(got), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// EditDistance is Levenshtein's distance, on bytes (names are ASCII): how
// far a misspelt name is from a known one, for "did you mean" hints here
// and in the accounts file.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// varRef is a vars.NAME an expression reads, checked once every file has
// been read (vars may be defined in a later file).
type varRef struct {
	name string
	pos  engine.Pos
	msg  string // the message prefix naming the rule and the field
}

// varNames lists the vars.NAME (or vars["NAME"]) a program reads.
func varNames(p *vm.Program) []string {
	var names []string
	root := p.Node()
	ast.Walk(&root, visitor(func(n *ast.Node) {
		m, ok := (*n).(*ast.MemberNode)
		if !ok {
			return
		}
		if id, ok := m.Node.(*ast.IdentifierNode); !ok || id.Value != "vars" {
			return
		}
		if s, ok := m.Property.(*ast.StringNode); ok {
			names = append(names, s.Value)
		}
	}))
	return names
}

// checkVarRefs reports every vars.NAME that no `vars:` entry defines.
func (l *loader) checkVarRefs() {
	known := make([]string, 0, len(l.vars))
	for n := range l.vars {
		known = append(known, n)
	}
	sort.Strings(known)
	for _, ref := range l.varRefs {
		if _, ok := l.vars[ref.name]; ok {
			continue
		}
		list := "no vars are defined: add them under `vars:`"
		if len(known) > 0 {
			list = "known: " + strings.Join(known, ", ")
		}
		l.errAtPos(ref.pos, fmt.Sprintf("%s: vars has no %q%s (%s)", ref.msg, ref.name, didYouMean(ref.name, known), list))
	}
}

package rules

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/wxbot/wxbot/engine"
)

// EventTypes are the event types rules may name in `on` (besides "*"):
// engine's table of every message and event kind WeChat pushes to an
// Official Account, plus payment (from WeChat Pay).
var EventTypes = engine.EventTypeNames()

// Loaded is a rules file (or directory) that loaded: the rule set to run,
// the warnings found, and the file's own tests.
type Loaded struct {
	Set   *engine.RuleSet
	Diags Diagnostics // warnings only; errors make Load fail
	Files []string
	Tests []TestCase
}

// Load reads rules from path: a file, or a directory whose *.yaml files are
// merged in name order. On any error it returns *Error listing all of them.
func Load(path string) (*Loaded, error) {
	src, err := readRules(path)
	if err != nil {
		return nil, err
	}
	return src.load(path)
}

// LoadReplacing loads the rules directory dir as Load does, but with the
// file named name (a file of dir) holding data instead of what is on disk,
// or added when there is none: a change checked and tested before it is
// written (the console's Test and Publish). Positions name the file as if
// written.
func LoadReplacing(dir, name string, data []byte) (*Loaded, error) {
	src, err := readRules(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name)
	if i, found := slices.BinarySearch(src.files, path); found {
		src.data[i] = data
	} else {
		src.files = slices.Insert(src.files, i, path)
		src.data = slices.Insert(src.data, i, data)
	}
	sum := sha256.Sum256(data)
	src.hash = "draft-" + hex.EncodeToString(sum[:])[:10] // not the files' hash: never compared with the running rules'
	return src.load(dir)
}

// load parses and compiles rules already read.
func (src *source) load(path string) (*Loaded, error) {
	l := newLoader()
	for i, f := range src.files {
		l.parse(f, src.data[i])
	}
	return l.finish(path, src.files, src.hash)
}

// Parse loads rules from one in-memory file; name is used in positions.
func Parse(name string, data []byte) (*Loaded, error) {
	l := newLoader()
	l.parse(name, data)
	sum := sha256.Sum256(data)
	return l.finish(name, []string{name}, hex.EncodeToString(sum[:])[:16])
}

type loader struct {
	file     string
	diags    Diagnostics
	rules    []*engine.Rule
	names    map[string]engine.Pos
	vars     map[string]any
	varPos   map[string]engine.Pos
	needsRaw bool
	// needsRecent: some expression may read event.recent (see noteRecent)
	needsRecent bool
	windows     map[string]*engine.Schedule
	curOn       []string // the on: of the rule being read, for nested actions
	// handoff is the `handoff:` of a file that has one, and where.
	handoff    *engine.Handoff
	handoffPos engine.Pos
	winPos     map[string]engine.Pos
	// activeRefs are window names used by rules, checked once every file
	// has been read (a window may be defined in a later file).
	activeRefs []windowRef
	varRefs    []varRef
	costRefs   []costRef
	tests      []TestCase
	compiler   *engine.Compiler
	// user state: whether the rule being parsed reads user, the reads and
	// conditions of every rule, and what the state actions set.
	ruleReadsUser bool
	userRefs      []userRef
	userEqs       []userEq
	stateSets     map[string][]*string
}

type windowRef struct {
	name string
	pos  engine.Pos
	msg  string // the message prefix naming the rule
}

func newLoader() *loader {
	return &loader{names: map[string]engine.Pos{}, vars: map[string]any{}, varPos: map[string]engine.Pos{},
		windows: map[string]*engine.Schedule{}, winPos: map[string]engine.Pos{}, compiler: engine.NewCompiler()}
}

func (l *loader) pos(n *yaml.Node) engine.Pos {
	return engine.Pos{File: l.file, Line: n.Line, Col: n.Column}
}

func (l *loader) errAt(n *yaml.Node, msg string) { l.errAtPos(l.pos(n), msg) }

func (l *loader) errAtPos(p engine.Pos, msg string) {
	l.diags = append(l.diags, Diagnostic{Pos: p, Severity: SevError, Msg: msg})
}

func (l *loader) warnAt(n *yaml.Node, msg string) {
	l.diags = append(l.diags, Diagnostic{Pos: l.pos(n), Severity: SevWarning, Msg: msg})
}

func (l *loader) compileTemplate(src string) (*engine.Template, error) {
	if strings.Contains(src, "raw") {
		l.needsRaw = true
	}
	l.noteRecent(src)
	return l.compiler.Template(src)
}

func (l *loader) parse(name string, data []byte) {
	l.file = name
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.errAtPos(engine.Pos{File: name, Line: 1, Col: 1}, "empty rules file: want `version: 1` and `rules:`")
			return
		}
		pos, msg := syntaxError(name, data, err)
		l.errAtPos(pos, msg)
		return
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		l.errAt(root, "a rules file is a mapping with `version: 1` and `rules:`")
		return
	}
	if isMenu(root) {
		l.errAt(root, "this is a custom menu (button:), not rules: pass the rules file, or the directory that holds both")
		return
	}
	var haveVersion bool
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "version":
			haveVersion = true
			if v.Value != "1" {
				l.errAt(v, fmt.Sprintf("version: unsupported version %q (this wxbot reads version 1)", v.Value))
			}
		case "vars":
			l.parseVars(v)
		case "windows":
			l.parseWindows(v)
		case "handoff":
			l.parseHandoff(v)
		case "tests":
			l.parseTests(v)
		case "rules":
			if v.Kind != yaml.SequenceNode {
				if !isNull(v) {
					l.errAt(v, "rules: want a list of rules")
				}
				continue
			}
			for i, rn := range v.Content {
				l.parseRule(rn, i)
			}
		default:
			l.errAt(k, fmt.Sprintf("unknown field %q (known: handoff, rules, tests, vars, version, windows)", k.Value))
		}
	}
	if !haveVersion {
		l.errAt(root, "version: required (write `version: 1` at the top)")
	}
}

func (l *loader) parseVars(n *yaml.Node) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		l.errAt(n, "vars: want a mapping of names to values")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if prev, dup := l.varPos[k.Value]; dup {
			l.errAt(k, fmt.Sprintf("vars: %q already defined at %s:%d:%d", k.Value, prev.File, prev.Line, prev.Col))
			continue
		}
		var val any
		if err := v.Decode(&val); err != nil {
			l.errAt(v, "vars: "+k.Value+": "+yamlMessage(err))
			continue
		}
		l.vars[k.Value] = val
		l.varPos[k.Value] = l.pos(k)
	}
}

// knownFields maps the keys of mapping n to their values, reporting keys
// not in known and keys given twice (yaml.v3 keeps both in a Node).
func (l *loader) knownFields(n *yaml.Node, known []string, label string) map[string]*yaml.Node {
	fields := map[string]*yaml.Node{}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		if !slices.Contains(known, k.Value) {
			l.errAt(k, fmt.Sprintf("%s: unknown field %q (known: %s)", label, k.Value, strings.Join(known, ", ")))
			continue
		}
		if _, dup := fields[k.Value]; dup {
			l.errAt(k, fmt.Sprintf("%s: field %q given twice", label, k.Value))
			continue
		}
		fields[k.Value] = v
	}
	return fields
}

func (l *loader) finish(source string, files []string, hash string) (*Loaded, error) {
	if max := DefaultLimits.MaxRules; max > 0 && len(l.rules) > max {
		l.errAtPos(engine.Pos{File: files[0], Line: 1, Col: 1},
			fmt.Sprintf("%d rules, over the limit of %d (--rules-max-count): raise the limit, or merge rules (a list of keywords under one rule)", len(l.rules), max))
	}
	for _, ref := range l.activeRefs {
		if _, ok := l.windows[ref.name]; !ok {
			l.errAtPos(ref.pos, fmt.Sprintf("%s: unknown window %q (%s)", ref.msg, ref.name, l.knownWindows()))
		}
	}
	l.checkVarRefs()
	l.checkUserRefs()
	l.checkCosts()
	l.checkTestNames()
	if len(l.rules) == 0 && len(l.diags.Errors()) == 0 {
		l.diags = append(l.diags, Diagnostic{Pos: engine.Pos{File: files[0], Line: 1, Col: 1}, Severity: SevWarning,
			Msg: "no rules: every push will be answered \"success\""})
	}
	sortDiags(l.diags)
	if len(l.diags.Errors()) > 0 {
		return nil, &Error{Diags: l.diags}
	}
	set := engine.NewRuleSet(placeConsole(l.rules), l.vars)
	set.NeedsRaw = l.needsRaw
	set.NeedsRecent = l.needsRecent
	set.Schedules = l.windows
	set.Handoff = engine.DefaultHandoff
	if l.handoff != nil {
		set.Handoff = *l.handoff
	}
	l.lint(set)
	sortDiags(l.diags)
	set.Source, set.Hash, set.LoadedAt = source, hash, time.Now()
	return &Loaded{Set: set, Diags: l.diags, Files: files, Tests: l.tests}, nil
}

// sortDiags orders diagnostics by file, then position, keeping the order of
// those at one place.
func sortDiags(ds Diagnostics) {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Pos, ds[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

func (l *loader) knownWindows() string {
	if len(l.windows) == 0 {
		return "no windows are defined: add them under `windows:`"
	}
	names := make([]string, 0, len(l.windows))
	for n := range l.windows {
		names = append(names, n)
	}
	sort.Strings(names)
	return "known: " + strings.Join(names, ", ")
}

// windowDoc is one entry of `windows:` as written.
type windowDoc struct {
	// Weekdays the window is open: mon, tue, …; empty means every day.
	Weekdays []string `yaml:"weekdays"`
	// Hours like "09:00-18:00"; several ranges may be listed; "22:00-06:00"
	// runs past midnight. Empty means all day.
	Hours []string `yaml:"hours"`
	// From and Until bound the window by date ("2026-11-11" or
	// "2026-11-11 20:00", in --timezone); Until is exclusive.
	From  string `yaml:"from"`
	Until string `yaml:"until"`
}

func (l *loader) parseWindows(n *yaml.Node) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		l.errAt(n, "windows: want a mapping of names to windows, e.g. office_hours: {weekdays: [mon, tue], hours: \"09:00-18:00\"}")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		if prev, dup := l.winPos[name]; dup {
			l.errAt(k, fmt.Sprintf("windows: %q already defined at %s:%d:%d", name, prev.File, prev.Line, prev.Col))
			continue
		}
		l.winPos[name] = l.pos(k)
		prefix := fmt.Sprintf("window %q: ", name)
		var doc windowDoc
		before := len(l.diags.Errors())
		(&decoder{l: l, prefix: prefix}).decode(v, reflectValue(&doc), "")
		if len(l.diags.Errors()) > before {
			continue
		}
		w := &engine.Schedule{Name: name}
		fail := func(field string, err error) { l.errAt(fieldNode(v, field), prefix+field+": "+err.Error()) }
		failItem := func(field string, i int, err error) {
			l.errAt(itemNode(fieldNode(v, field), i), prefix+field+": "+err.Error())
		}
		for i, d := range doc.Weekdays {
			wd, err := engine.ParseWeekday(d)
			if err != nil {
				failItem("weekdays", i, err)
				continue
			}
			w.Weekdays[wd] = true
		}
		for i, h := range doc.Hours {
			r, err := engine.ParseDayRange(h)
			if err != nil {
				failItem("hours", i, err)
				continue
			}
			w.Hours = append(w.Hours, r)
		}
		var err error
		if doc.From != "" {
			if w.From, err = engine.ParseWallTime(doc.From); err != nil {
				fail("from", err)
			}
		}
		if doc.Until != "" {
			if w.Until, err = engine.ParseWallTime(doc.Until); err != nil {
				fail("until", err)
			}
		}
		if !w.From.IsZero() && !w.Until.IsZero() && !w.From.Before(w.Until) {
			fail("until", fmt.Errorf("%s is not after from %s", doc.Until, doc.From))
		}
		l.windows[name] = w
	}
}

// fieldNode is the value node of key in mapping n, or n itself.
func fieldNode(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
	}
	return n
}

// itemNode is the i-th item of a list node, or the node itself when it is a
// single value.
func itemNode(n *yaml.Node, i int) *yaml.Node {
	if n.Kind == yaml.SequenceNode && i < len(n.Content) {
		return n.Content[i]
	}
	return n
}

// activeCalls lists the window names a condition passes to active() as
// string literals.
func activeCalls(p *vm.Program) []string {
	var names []string
	root := p.Node()
	ast.Walk(&root, visitor(func(n *ast.Node) {
		call, ok := (*n).(*ast.CallNode)
		if !ok || len(call.Arguments) != 1 {
			return
		}
		if id, ok := call.Callee.(*ast.IdentifierNode); !ok || id.Value != "active" {
			return
		}
		if s, ok := call.Arguments[0].(*ast.StringNode); ok {
			names = append(names, s.Value)
		}
	}))
	return names
}

type visitor func(*ast.Node)

func (f visitor) Visit(n *ast.Node) { f(n) }

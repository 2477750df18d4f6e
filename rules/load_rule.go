package rules

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr/file"
	"gopkg.in/yaml.v3"

	"github.com/wxbot/wxbot/engine"
)

// ruleFields are the keys a rule may have, for the unknown-field message.
var ruleFields = []string{"actions", "active", "continue", "cooldown", "during_handoff", "enabled", "key", "limit", "name", "on", "priority", "text", "when"}

// parseRule reads one entry of rules: into a rule, reporting every mistake
// it finds rather than stopping at the first.
func (l *loader) parseRule(n *yaml.Node, index int) {
	if n.Kind != yaml.MappingNode {
		l.errAt(n, fmt.Sprintf("rules[%d]: want a mapping with name, on and actions", index))
		return
	}
	r := &engine.Rule{Pos: l.pos(n)}
	l.ruleReadsUser = false
	label := fmt.Sprintf("rules[%d]", index)
	fields := l.knownFields(n, ruleFields, label)

	// The name first: every later message names the rule.
	label = l.parseRuleName(r, n, fields["name"], label)
	d := &decoder{l: l, prefix: label + ": "}

	if v := fields["on"]; v == nil {
		l.errAt(n, label+`: on: required (an event type such as text or click, a list of them, or "*")`)
	} else {
		r.On = l.parseOn(d, v, label)
	}

	if v := fields["text"]; v != nil {
		r.Text = l.parseText(d, v)
	}
	if v := fields["key"]; v != nil {
		d.decode(v, reflectValue(&r.Keys), "key")
	}
	if v := fields["active"]; v != nil {
		l.parseActive(r, d, v, label)
	}
	if v := fields["cooldown"]; v != nil {
		d.decode(v, reflectValue(&r.Cooldown), "cooldown")
		if r.Cooldown > 0 && r.Cooldown < time.Second {
			l.errAt(v, label+": cooldown: "+r.Cooldown.String()+" is less than a second; did you mean "+strings.TrimSuffix(v.Value, "ms")+"s?")
		}
	}
	if v := fields["limit"]; v != nil {
		r.Limit = l.parseLimit(d, v, label)
	}
	if v := fields["when"]; v != nil {
		l.parseWhen(r, d, v, label)
	}
	if v := fields["priority"]; v != nil {
		d.decode(v, reflectValue(&r.Priority), "priority")
	}
	if v := fields["continue"]; v != nil {
		d.decode(v, reflectValue(&r.Continue), "continue")
	}
	if v := fields["during_handoff"]; v != nil {
		d.decode(v, reflectValue(&r.DuringHandoff), "during_handoff")
	}
	if v := fields["enabled"]; v != nil {
		enabled := true
		d.decode(v, reflectValue(&enabled), "enabled")
		r.Disabled = !enabled
	}
	l.curOn = r.On
	if v := fields["actions"]; v == nil {
		l.errAt(n, label+": actions: required (a list such as `- reply: {text: hello}`)")
	} else {
		r.Steps = l.parseActions(label, r.On, v)
	}
	r.ReadsUser = l.ruleReadsUser
	l.rules = append(l.rules, r)
}

// parseRuleName sets the rule's name from v (nil when absent) and returns
// the label later messages use: the name once known, so operators find the
// rule, else label (its index). Names are unique across files, as logs and
// metrics tell rules apart by name.
func (l *loader) parseRuleName(r *engine.Rule, n, v *yaml.Node, label string) string {
	if v == nil || v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "" {
		at := n
		if v != nil {
			at = v
		}
		l.errAt(at, label+": name: required (a unique name; it appears in logs and metrics)")
		return label
	}
	r.Name = v.Value
	label = fmt.Sprintf("rule %q", r.Name)
	if prev, dup := l.names[r.Name]; dup {
		l.errAt(v, fmt.Sprintf("%s: name already used at %s:%d:%d", label, prev.File, prev.Line, prev.Col))
	} else {
		l.names[r.Name] = l.pos(v)
	}
	return label
}

// parseOn reads the event types of on:, normalized to the lower case the
// engine matches on, and reports each unknown one at its own list item.
func (l *loader) parseOn(d *decoder, v *yaml.Node, label string) []string {
	var on []string
	d.decode(v, reflectValue(&on), "on")
	for i, t := range on {
		t = strings.ToLower(strings.TrimSpace(t))
		on[i] = t
		if t != "*" && !slices.Contains(EventTypes, t) {
			l.errAt(itemNode(v, i), fmt.Sprintf("%s: on: unknown event type %q (known: %s, or \"*\")", label, t, strings.Join(EventTypes, ", ")))
		}
	}
	return on
}

// parseActive reads the windows of active: ("!name" for outside one). The
// names are checked in finish, since a window may be defined in a later file.
func (l *loader) parseActive(r *engine.Rule, d *decoder, v *yaml.Node, label string) {
	var refs []string
	d.decode(v, reflectValue(&refs), "active")
	for i, ref := range refs {
		at := itemNode(v, i)
		name := strings.TrimSpace(ref)
		neg := strings.HasPrefix(name, "!")
		name = strings.TrimSpace(strings.TrimPrefix(name, "!"))
		r.Active = append(r.Active, engine.ActiveRef{Schedule: name, Negate: neg})
		l.activeRefs = append(l.activeRefs, windowRef{name: name, pos: l.pos(at), msg: label + ": active"})
	}
}

// parseWhen compiles the condition of when: and notes what it refers to
// (windows, vars, user state) and what it costs, for the checks that need
// every file read first. A blank condition is no condition.
func (l *loader) parseWhen(r *engine.Rule, d *decoder, v *yaml.Node, label string) {
	var src string
	d.decode(v, reflectValue(&src), "when")
	if strings.TrimSpace(src) == "" {
		return
	}
	r.WhenSrc = src
	if strings.Contains(src, "raw") {
		l.needsRaw = true
	}
	l.noteRecent(src)
	prog, err := l.compiler.Condition(src)
	if err != nil {
		l.exprError(v, label+": when: ", err)
	} else {
		for _, name := range activeCalls(prog) {
			l.activeRefs = append(l.activeRefs, windowRef{name: name, pos: l.pos(v), msg: label + ": when: active"})
		}
		for _, name := range varNames(prog) {
			l.varRefs = append(l.varRefs, varRef{name: name, pos: l.pos(v), msg: label + ": when"})
		}
		l.costRefs = append(l.costRefs, costRef{prog: prog, pos: l.pos(v), msg: label + ": when"})
		l.noteUserReads(prog, l.pos(v), label+": when")
		for k, vs := range engine.UserEqualities(prog) {
			l.userEqs = append(l.userEqs, userEq{key: k, values: vs, pos: l.pos(v), msg: label + ": when"})
		}
	}
	r.When = prog
}

// exprError reports an expr compile error at its place in the file.
func (l *loader) exprError(n *yaml.Node, prefix string, err error) {
	var fe *file.Error
	pos := l.pos(n)
	if errors.As(err, &fe) {
		if fe.Line <= 1 {
			pos = scalarPos(l.file, n, byteOffset(n.Value, fe.Column))
		} else {
			pos = scalarPos(l.file, n, lineOffset(n.Value, fe.Line)+byteOffset(lineAt(n.Value, fe.Line), fe.Column))
		}
	}
	l.errAtPos(pos, prefix+speakRules(err).Error())
}

func lineOffset(s string, line int) int {
	off := 0
	for ; line > 1; line-- {
		i := strings.IndexByte(s[off:], '\n')
		if i < 0 {
			return off
		}
		off += i + 1
	}
	return off
}

func lineAt(s string, line int) string {
	s = s[lineOffset(s, line):]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// textDoc is the `text:` gate as written.
type textDoc struct {
	Exact    []string `yaml:"exact"`
	Contains []string `yaml:"contains"`
	Prefix   []string `yaml:"prefix"`
	Regex    []string `yaml:"regex"`
}

func (l *loader) parseText(d *decoder, n *yaml.Node) engine.TextMatch {
	errsBefore := len(l.diags.Errors()) // one error per mistake: see below
	var doc textDoc
	if n.Kind == yaml.MappingNode {
		d.decode(n, reflectValue(&doc), "text")
	} else { // text: 价格, or text: [价格, price] is shorthand for exact
		d.decode(n, reflectValue(&doc.Exact), "text")
	}
	var tm engine.TextMatch
	norm := func(xs []string) []string {
		out := make([]string, 0, len(xs))
		for _, x := range xs {
			if x = engine.NormalizeText(x); x != "" {
				out = append(out, x)
			}
		}
		return out
	}
	tm.Exact, tm.Contains, tm.Prefix = norm(doc.Exact), norm(doc.Contains), norm(doc.Prefix)
	for i, src := range doc.Regex {
		re, err := regexp.Compile(src)
		if err != nil {
			at := itemNode(fieldNode(n, "regex"), i)
			l.errAt(at, fmt.Sprintf("%stext.regex: %v", d.prefix, err))
			continue
		}
		tm.Regex = append(tm.Regex, re)
	}
	// A gate left empty by a mistake already reported (an unknown field, a
	// bad regex) needs no second error.
	if tm.IsZero() && len(l.diags.Errors()) == errsBefore {
		l.errAt(n, d.prefix+"text: want at least one of exact, contains, prefix or regex")
	}
	return tm
}

// parseNestedActions reads an action's own list of actions (transfer's
// if_offline), for the rule being read; they run when the action decides,
// so a state step, which runs when the rule matches, is refused.
func (l *loader) parseNestedActions(label string, n *yaml.Node) []engine.Step {
	steps := l.parseActions(label, l.curOn, n)
	for i, st := range steps {
		if st.State != nil {
			l.errAtPos(st.Pos, fmt.Sprintf("%s[%d] (%s): a state step runs when the rule matches, not later: put it in the rule's actions", label, i, st.Name))
		}
	}
	return steps
}

func (l *loader) parseActions(label string, on []string, n *yaml.Node) []engine.Step {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errAt(n, label+": actions: want a list such as `- reply: {text: hello}`")
		return nil
	}
	var steps []engine.Step
	passives := 0
	for i, an := range n.Content {
		where := fmt.Sprintf("%s: actions[%d]", label, i)
		if an.Kind != yaml.MappingNode || len(an.Content) != 2 {
			l.errAt(an, where+": want one action name with its params, such as `reply: {text: hello}`")
			continue
		}
		name, params := an.Content[0].Value, an.Content[1]
		spec, ok := engine.LookupAction(name)
		if !ok {
			l.errAt(an.Content[0], fmt.Sprintf("%s: unknown action %q (known: %s)", where, name, strings.Join(engine.ActionNames(), ", ")))
			continue
		}
		where = fmt.Sprintf("%s (%s)", where, name)
		var p any
		if spec.Params != nil {
			p = spec.Params()
			before := len(l.diags.Errors())
			(&decoder{l: l, prefix: where + ": "}).decode(params, reflect.ValueOf(p).Elem(), "")
			if len(l.diags.Errors()) > before {
				continue
			}
			if v, ok := p.(engine.Validator); ok {
				if err := v.Validate(); err != nil {
					l.errAt(params, where+": "+err.Error())
					continue
				}
			}
		} else if !isNull(params) && !(params.Kind == yaml.MappingNode && len(params.Content) == 0) {
			l.errAt(params, where+": takes no params")
			continue
		}
		act, err := spec.New(p)
		if err != nil {
			l.errAt(params, where+": "+err.Error())
			continue
		}
		l.noteStateSets(p)
		if lt, ok := p.(engine.Linter); ok {
			before := 0
			for _, st := range steps {
				if st.Name == name {
					before++
				}
			}
			for _, w := range lt.Lint(engine.LintInfo{On: on, Before: before}) {
				l.warnAt(params, where+": "+w)
			}
		}
		if spec.Passive {
			switch {
			case slices.Contains(on, "payment"):
				l.errAt(an.Content[0], where+": a payment event takes no passive response (WeChat Pay is answered by the bot, and payments open no kefu window): use template or webhook")
				continue
			case len(engine.UnseenTypes(on)) > 0:
				l.warnAt(an.Content[0], where+": nobody sees a passive response to "+strings.Join(engine.UnseenTypes(on), ", ")+
					" (the user is not in the chat): wxbot drops it")
			case passives > 0:
				l.warnAt(an.Content[0], where+": only one passive response goes back per push; this one is never sent (the earlier one in this rule wins)")
			}
			passives++
		}
		steps = append(steps, engine.Step{Name: name, Pos: l.pos(an), Action: act, Passive: spec.Passive, Inline: spec.Inline})
	}
	return steps
}

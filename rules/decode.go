package rules

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr/file"
	"gopkg.in/yaml.v3"

	"github.com/wxbot/wxbot/engine"
)

var (
	templateType    = reflect.TypeFor[engine.Template]()
	valueType       = reflect.TypeFor[engine.Value]()
	stepsType       = reflect.TypeFor[engine.Steps]()
	durationType    = reflect.TypeFor[time.Duration]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()
)

// decoder fills Go values from YAML nodes strictly, reporting every problem
// at its node. yaml.v3's Node.Decode ignores unknown fields and stops at the
// first error; operators need all of them, with positions.
type decoder struct {
	l      *loader
	prefix string // e.g. `rule "vip": actions[1] (kefu): `
}

func (d *decoder) errf(n *yaml.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	d.l.errAt(n, d.prefix+msg)
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// decode fills v (settable) from n.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	t := v.Type()
	if t == templateType {
		d.template(n, v, path)
		return
	}
	if t == valueType {
		d.value(n, v, path)
		return
	}
	if t == stepsType { // an action's own actions (transfer's if_offline)
		v.Set(reflect.ValueOf(engine.Steps(d.l.parseNestedActions(strings.TrimSuffix(d.prefix, ": ")+": "+path, n))))
		return
	}
	if t.Kind() == reflect.Pointer {
		if isNull(n) {
			v.SetZero()
			return
		}
		p := reflect.New(t.Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
		return
	}
	if reflect.PointerTo(t).Implements(yamlUnmarshaler) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.errf(n, path, "%s", yamlMessage(err))
		}
		return
	}
	if t == durationType {
		d.duration(n, v, path)
		return
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) && n.Kind == yaml.ScalarNode {
		if strings.Contains(n.Value, "raw") { // a template shorthand (template data) may read event.raw
			d.l.needsRaw = true
		}
		d.l.noteRecent(n.Value)
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.errf(n, path, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	default:
		d.scalar(n, v, path)
	}
}

// scalar fills a string, bool or number from one scalar, reporting a node of
// another kind or a value out of range in words an operator can act on;
// kinds the strict decoder has no rule for are left to yaml.v3.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	switch t.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errf(n, path, "want a string, got %s", kindName(n))
			return
		}
		if !isNull(n) {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		b, ok := n.Value == "true", n.Kind == yaml.ScalarNode && (n.Value == "true" || n.Value == "false")
		if !ok {
			d.errf(n, path, "want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 10, t.Bits())
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errf(n, path, "want a whole number, got %s", describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(n.Value, 10, t.Bits())
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errf(n, path, "want a whole number ≥ 0, got %s", describe(n))
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, t.Bits())
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errf(n, path, "want a number, got %s", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.errf(n, path, "%s", yamlMessage(err))
		}
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		if isNull(n) {
			return
		}
		d.errf(n, path, "want a mapping of fields, got %s", describe(n))
		return
	}
	fields := structFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx, ok := fields.index[k.Value]
		if !ok {
			d.errf(k, path, "unknown field %q (known: %s)", k.Value, strings.Join(fields.names, ", "))
			continue
		}
		if seen[k.Value] {
			d.errf(k, path, "field %q given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		d.decode(val, v.FieldByIndex(idx), join(path, k.Value))
	}
}

type fieldSet struct {
	index map[string][]int
	names []string
}

// structFields lists a struct's YAML field names (the yaml tag, else the
// lower-cased Go name), following inline embedded structs.
func structFields(t reflect.Type) fieldSet {
	fs := fieldSet{index: map[string][]int{}}
	for _, f := range reflect.VisibleFields(t) {
		name, ok := engine.ParamName(f)
		if !ok {
			continue
		}
		fs.index[name] = f.Index
		fs.names = append(fs.names, name)
	}
	sort.Strings(fs.names)
	return fs
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		if isNull(n) {
			return
		}
		d.errf(n, path, "want a mapping, got %s", describe(n))
		return
	}
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.errf(n, path, "%s", yamlMessage(err))
		}
		return
	}
	m := reflect.MakeMapWithSize(t, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		kv := reflect.New(t.Key()).Elem()
		kv.SetString(k.Value)
		if m.MapIndex(kv).IsValid() {
			d.errf(k, path, "key %q given twice", k.Value)
			continue
		}
		ev := reflect.New(t.Elem()).Elem()
		d.decode(val, ev, join(path, k.Value))
		m.SetMapIndex(kv, ev)
	}
	v.Set(m)
}

// sequence fills a slice; a single value where a list is expected is a list
// of one, so `key: A` and `key: [A, B]` both work.
func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		return
	}
	items := n.Content
	if n.Kind != yaml.SequenceNode {
		items = []*yaml.Node{n}
	}
	s := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, it := range items {
		p := path
		if n.Kind == yaml.SequenceNode {
			p = fmt.Sprintf("%s[%d]", path, i)
		}
		d.decode(it, s.Index(i), p)
	}
	v.Set(s)
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	dur, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || dur < 0 {
		d.errf(n, path, `want a duration such as "500ms", "2s" or "30m", got %s`, describe(n))
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) template(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errf(n, path, "want a string, got %s", describe(n))
		return
	}
	if isNull(n) {
		return
	}
	t, err := d.l.compileTemplate(n.Value)
	if err == nil {
		msg := strings.TrimSuffix(d.prefix+path, ": ")
		for _, p := range t.Programs() {
			for _, name := range varNames(p) {
				d.l.varRefs = append(d.l.varRefs, varRef{name: name, pos: d.l.pos(n), msg: msg})
			}
			d.l.costRefs = append(d.l.costRefs, costRef{prog: p, pos: d.l.pos(n), msg: msg})
			d.l.noteUserReads(p, d.l.pos(n), msg)
		}
	}
	if err != nil {
		var te *engine.TemplateError
		if errors.As(err, &te) {
			d.l.errAtPos(templatePos(d.l.file, n, te), d.prefix+path+pathSep(path)+templateMessage(te))
			return
		}
		d.errf(n, path, "%v", err)
		return
	}
	v.Set(reflect.ValueOf(*t))
}

// value decodes an engine.Value: a number, a bool, a string template or a
// list of values.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch {
	case n.Kind == yaml.SequenceNode:
		items := make([]engine.Value, len(n.Content))
		for i, c := range n.Content {
			d.value(c, reflect.ValueOf(&items[i]).Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(reflect.ValueOf(engine.ListValue(items)))
	case n.Kind != yaml.ScalarNode:
		d.errf(n, path, "want a string, number, bool or a list of them, got %s", describe(n))
	case isNull(n):
		d.errf(n, path, "a value cannot be null (to remove a key, use unset)")
	case n.ShortTag() == "!!bool":
		v.Set(reflect.ValueOf(engine.LiteralValue(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")))
	case n.ShortTag() == "!!int" || n.ShortTag() == "!!float":
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err != nil {
			d.errf(n, path, "want a number, got %s", describe(n))
			return
		}
		v.Set(reflect.ValueOf(engine.LiteralValue(f)))
	default:
		var t engine.Template
		before := len(d.l.diags.Errors())
		d.template(n, reflect.ValueOf(&t).Elem(), path)
		if len(d.l.diags.Errors()) == before {
			v.Set(reflect.ValueOf(engine.TemplateValue(&t)))
		}
	}
}

func pathSep(path string) string {
	if path == "" {
		return ""
	}
	return ": "
}

// templateMessage words a template error, keeping expr's caret snippet.
func templateMessage(te *engine.TemplateError) string {
	return "in ${…}: " + speakRules(te.Err).Error()
}

// templatePos is where in the file a template error points: the node's
// position plus the offset within the string (plus expr's own column).
func templatePos(fileName string, n *yaml.Node, te *engine.TemplateError) engine.Pos {
	off := te.Offset
	var fe *file.Error
	if errors.As(te.Err, &fe) && fe.Line <= 1 {
		code := n.Value[min(off, len(n.Value)):]
		off += byteOffset(code, fe.Column)
	}
	return scalarPos(fileName, n, off)
}

// byteOffset is the byte offset of the runes-th rune of s.
func byteOffset(s string, runes int) int {
	i := 0
	for ; runes > 0 && i < len(s); runes-- {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return i
}

// scalarPos maps a byte offset inside a scalar's value to a file position.
// It is exact for plain and quoted one-line scalars (escapes aside) and a
// close approximation for block scalars.
func scalarPos(fileName string, n *yaml.Node, off int) engine.Pos {
	off = min(max(off, 0), len(n.Value))
	before := n.Value[:off]
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		line := n.Line + 1 + strings.Count(before, "\n")
		lastNL := strings.LastIndexByte(before, '\n')
		return engine.Pos{File: fileName, Line: line, Col: n.Column + 2 + utf8.RuneCountInString(before[lastNL+1:])}
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		return engine.Pos{File: fileName, Line: n.Line, Col: n.Column + 1 + utf8.RuneCountInString(before)}
	}
	return engine.Pos{File: fileName, Line: n.Line, Col: n.Column + utf8.RuneCountInString(before)}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return "a scalar"
	}
	return "something else"
}

// describe names what was found, quoting short scalars.
func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		return strconv.Quote(n.Value)
	}
	return kindName(n)
}

// yamlMessage strips yaml.v3's "yaml: " prefix and line numbers we already
// report as a position.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			msgs[i] = stripYAMLLine(e)
		}
		return strings.Join(msgs, "; ")
	}
	return stripYAMLLine(err.Error())
}

func stripYAMLLine(s string) string {
	s = strings.TrimPrefix(s, "yaml: ")
	if strings.HasPrefix(s, "line ") {
		if _, rest, ok := strings.Cut(s, ": "); ok {
			return rest
		}
	}
	return s
}

// reflectValue is the settable value behind a pointer.
func reflectValue(p any) reflect.Value { return reflect.ValueOf(p).Elem() }

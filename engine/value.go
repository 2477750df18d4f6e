package engine

import (
	"fmt"
	"reflect"
	"time"

	"github.com/expr-lang/expr/vm"
)

// Value is a typed value in an action's params, such as a `state` value:
// a number, a bool, a list of values, or a string template. A string that
// is exactly one ${…} keeps the expression's type, so
// `count: "${(user.count ?? 0) + 1}"` stores a number.
type Value struct {
	lit  any // float64, bool; nil when tmpl or list is the value
	tmpl *Template
	list []Value
	kind valueKind
}

type valueKind uint8

const (
	valueLiteral valueKind = iota
	valueTemplate
	valueList
)

// LiteralValue is a number (a float64, as every store gives numbers back)
// or a bool; strings are TemplateValues.
func LiteralValue(v any) Value { return Value{lit: v} }

// TemplateValue is a string template.
func TemplateValue(t *Template) Value { return Value{tmpl: t, kind: valueTemplate} }

// ListValue is a list of values.
func ListValue(items []Value) Value { return Value{list: items, kind: valueList} }

// Template is the value's template, nil when it is not one.
func (v *Value) Template() *Template { return v.tmpl }

// Items are a list value's items (nil otherwise).
func (v *Value) Items() []Value { return v.list }

// Eval computes the value in env: float64, bool, string or []any of them.
func (v *Value) Eval(env *Env) (any, error) {
	switch v.kind {
	case valueList:
		out := make([]any, len(v.list))
		for i := range v.list {
			x, err := v.list[i].Eval(env)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case valueTemplate:
		if p := v.tmpl.single(); p != nil {
			x, err := run(p, env)
			if err != nil {
				return nil, fmt.Errorf("evaluating %q: %w", v.tmpl.src, err)
			}
			return plainValue(x, v.tmpl.src)
		}
		return v.tmpl.Render(env)
	}
	return v.lit, nil
}

// single is the program of a template that is exactly one ${…}.
func (t *Template) single() *vm.Program {
	if t == nil || len(t.parts) != 1 {
		return nil
	}
	return t.parts[0].prog
}

// Single reports whether the template is exactly one ${…}, whose value
// keeps its type where a Value is stored.
func (t *Template) Single() bool { return t.single() != nil }

// plainValue turns an expression's result into what a state keeps: JSON's
// kinds, numbers as float64 (as they come back from any store).
func plainValue(x any, src string) (any, error) {
	switch y := x.(type) {
	case nil, string, bool, float64:
		return y, nil
	case time.Time:
		return y.Format(time.DateTime), nil
	}
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), nil
	case reflect.Float32:
		return rv.Float(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			v, err := plainValue(rv.Index(i).Interface(), src)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("%q yielded %T: a stored value is a string, number, bool or a list of them", src, x)
}

// StorableKind reports whether an expression's static type can yield a
// value plainValue keeps; k is reflect.Interface when the type is unknown
// (any), which may hold one.
func StorableKind(t reflect.Type) bool {
	if t == nil {
		return true
	}
	if t == reflect.TypeFor[time.Time]() {
		return true
	}
	switch t.Kind() {
	case reflect.Interface, reflect.String, reflect.Bool, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	case reflect.Slice, reflect.Array:
		return StorableKind(t.Elem())
	}
	return false
}

// SingleType is the static type of a template that is exactly one ${…}
// (nil otherwise, or when unknown), for load-time checks of stored values.
func (t *Template) SingleType() reflect.Type {
	p := t.single()
	if p == nil {
		return nil
	}
	return p.Node().Type()
}

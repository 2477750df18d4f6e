package actions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/wechat"
)

// The kefu action's params as other systems post them to the send API
// (cmd/api): a CRM or a ticket desk answers a user with the same message
// types a rule's kefu action sends, named as rules.yaml names them, and
// validated by the same Validate.

// KefuFromJSON decodes a kefu message as the send API takes it: the kefu
// action's params as a JSON object ({"text": "…"}, {"image": {"media_id":
// "…"}}, {"msgmenu": {…}}, plus "kf_account" and "typing"), checked as
// strictly as rules.yaml's (an unknown or mistyped field is an error with
// its path) and validated by KefuParams.Validate. Its strings are the
// message as written: "${" is not interpolated, since an outside system's
// text is not a template. "delay" is refused: a system that wants a
// message later posts it later. The errors name fields from "kefu".
func KefuFromJSON(data []byte) (*KefuParams, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var j any
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("kefu: %w", err)
	}
	if _, ok := j.(map[string]any); !ok {
		return nil, fmt.Errorf("kefu: want an object such as {\"text\": \"…\"}, got %s", JSONKind(j))
	}
	p := new(KefuParams)
	var errs []error
	decodeLiteral(j, reflect.ValueOf(p).Elem(), "kefu", &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("kefu: %w", err)
	}
	return p, nil
}

// Message is the kefu message p sends to openID, for params whose strings
// are literal, as KefuFromJSON's are (a template with ${…} is an error:
// there is no event to render it with). A text list picks one at random,
// as the action does.
func (p *KefuParams) Message(openID string) (*wechat.KefuMessage, error) {
	var err error
	m := p.message(openID, func(t *engine.Template) string {
		if !t.Constant() && err == nil {
			err = fmt.Errorf("kefu: %q needs an event to render", t.String())
		}
		s, _ := t.Render(nil) // a constant template reads no environment
		return s
	})
	return m, err
}

var (
	templateType = reflect.TypeFor[engine.Template]()
	durationType = reflect.TypeFor[time.Duration]()
)

// decodeLiteral fills v from the JSON value j (decoded with UseNumber) by
// the fields' YAML names, collecting every problem with its path; strings
// become templates without interpolation.
func decodeLiteral(j any, v reflect.Value, path string, errs *[]error) {
	bad := func(format string, args ...any) {
		*errs = append(*errs, fmt.Errorf("%s: "+format, append([]any{path}, args...)...))
	}
	t := v.Type()
	switch {
	case j == nil:
		return // null: the zero value, as an absent field
	case t == templateType:
		s, ok := j.(string)
		if !ok {
			bad("want a string, got %s", JSONKind(j))
			return
		}
		// "$${" is the template syntax for a literal "${".
		if err := v.Addr().Interface().(*engine.Template).UnmarshalText([]byte(strings.ReplaceAll(s, "${", "$${"))); err != nil {
			bad("%v", err)
		}
	case t == durationType:
		bad("not taken by the send API: post the message when it is due")
	case t.Kind() == reflect.Pointer:
		p := reflect.New(t.Elem())
		decodeLiteral(j, p.Elem(), path, errs)
		v.Set(p)
	case t.Kind() == reflect.Struct:
		decodeObject(j, v, path, errs)
	case t.Kind() == reflect.Slice:
		items, ok := j.([]any)
		if !ok { // one value where a list is taken is a list of one, as in rules.yaml
			items = []any{j}
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, it := range items {
			p := path
			if ok {
				p = fmt.Sprintf("%s[%d]", path, i)
			}
			decodeLiteral(it, s.Index(i), p, errs)
		}
		v.Set(s)
	case t.Kind() == reflect.String:
		s, ok := j.(string)
		if !ok {
			bad("want a string, got %s", JSONKind(j))
			return
		}
		v.SetString(s)
	case t.Kind() == reflect.Bool:
		b, ok := j.(bool)
		if !ok {
			bad("want true or false, got %s", JSONKind(j))
			return
		}
		v.SetBool(b)
	default:
		bad("not taken by the send API")
	}
}

// decodeObject fills the struct v from the JSON object j.
func decodeObject(j any, v reflect.Value, path string, errs *[]error) {
	obj, ok := j.(map[string]any)
	if !ok {
		*errs = append(*errs, fmt.Errorf("%s: want an object, got %s", path, JSONKind(j)))
		return
	}
	index := map[string][]int{}
	var names []string
	for _, f := range reflect.VisibleFields(v.Type()) {
		name, ok := engine.ParamName(f)
		if !ok {
			continue
		}
		index[name] = f.Index
		if f.Type != durationType { // known, to be refused with a reason, but not offered
			names = append(names, name)
		}
	}
	slices.Sort(names)
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys) // every run reports the same problems in the same order
	for _, k := range keys {
		idx, ok := index[k]
		if !ok {
			*errs = append(*errs, fmt.Errorf("%s: unknown field %q (known: %s)", path, k, strings.Join(names, ", ")))
			continue
		}
		decodeLiteral(obj[k], v.FieldByIndex(idx), path+"."+k, errs)
	}
}

// JSONKind names a decoded JSON value's kind for an error ("a string",
// "an object"): the send API says it of its own fields too.
func JSONKind(j any) string {
	switch j.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a bool"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", j)
}

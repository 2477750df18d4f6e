package rules

import (
	"reflect"

	"github.com/wxbot/wxbot/engine"
)

// SchemaID is where examples/rules.yaml says its schema is; `wxbot schema >
// rules.schema.json` writes it.
const SchemaID = "https://github.com/wxbot/wxbot/rules.schema.json"

// JSONSchema describes rules.yaml version 1 (JSON Schema 2020-12), including
// the params of every registered action, so an editor with a YAML language
// server completes and checks the file as it is typed.
func JSONSchema() map[string]any {
	window := typeSchema(reflect.TypeFor[windowDoc]())
	return map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  SchemaID,
		"title":                "wxbot rules",
		"type":                 "object",
		"additionalProperties": false,
		"required":             []any{"version", "rules"},
		"properties": map[string]any{
			"version": map[string]any{"const": 1},
			"vars":    map[string]any{"type": "object", "description": "constants, reachable in expr as vars.NAME"},
			"windows": map[string]any{"type": "object", "additionalProperties": window},
			"handoff": map[string]any{"type": "object", "additionalProperties": false,
				"description": "while a person (客服) holds a user's conversation or the user waits for one",
				"properties": map[string]any{
					"quiet":   map[string]any{"type": "boolean", "description": "only rules with during_handoff run (default true)"},
					"timeout": map[string]any{"type": "string", "description": "a handoff no close event ended ends this long after it began (default 30m)"},
				}},
			"rules": map[string]any{"type": "array", "items": ruleSchema()},
			"tests": map[string]any{"type": "array", "items": testSchema()},
		},
	}
}

// ruleSchema describes one entry of rules:, with the params of every
// registered action.
func ruleSchema() map[string]any {
	eventType := map[string]any{"type": "string", "enum": append([]any{"*"}, anyStrings(EventTypes)...)}
	duration := map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`}
	text := map[string]any{
		"description": "fast-path text match; a string or list means exact",
		"anyOf": []any{
			oneOrMany(map[string]any{"type": "string"}),
			map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
				"exact":    oneOrMany(docString("the whole message, trimmed, case-insensitive")),
				"contains": oneOrMany(docString("a part of the message, case-insensitive")),
				"prefix":   oneOrMany(docString("the start of the message, case-insensitive")),
				"regex":    oneOrMany(docString("a Go regular expression on the message as sent")),
			}},
		},
	}
	return map[string]any{
		"type": "object", "additionalProperties": false, "required": []any{"name", "on", "actions"},
		"properties": map[string]any{
			"name":     docString("unique; appears in logs and metrics"),
			"on":       oneOrMany(eventType),
			"text":     text,
			"key":      oneOrMany(docString("EventKey, exact (the QR scene for subscribe and scan)")),
			"when":     docString("an expr condition that yields a bool"),
			"active":   oneOrMany(docString("a window name, or !name for outside it; a list means any")),
			"priority": map[string]any{"type": "integer", "description": "higher first; equal keeps file order"},
			"continue": map[string]any{"type": "boolean", "description": "keep matching later rules"},
			"enabled":  map[string]any{"type": "boolean"},
			"cooldown": duration,
			"limit": map[string]any{
				"type": "object", "additionalProperties": false, "required": []any{"count", "per"},
				"description": "at most count firings in each window of per (aligned to the clock), per user or for all users",
				"properties": map[string]any{
					"count": map[string]any{"type": "integer", "minimum": 1},
					"per":   duration,
					"scope": map[string]any{"type": "string", "enum": []any{"user", "all"}, "description": "user (default): each user counted apart; all: everyone together"},
				},
			},
			"during_handoff": map[string]any{"type": "boolean", "description": "run while a person holds the user's conversation"},
			"actions":        map[string]any{"type": "array", "items": map[string]any{"oneOf": actionSchemas()}},
		},
	}
}

// actionSchemas describes each registered action as an object of its one
// name, built from the registry so that custom actions are checked too.
func actionSchemas() []any {
	var actions []any
	for _, name := range engine.ActionNames() {
		spec, _ := engine.LookupAction(name)
		params := map[string]any{"type": "null"}
		if spec.Params != nil {
			params = typeSchema(reflect.TypeOf(spec.Params()))
		}
		if spec.Doc != "" {
			params["description"] = spec.Doc
		}
		actions = append(actions, map[string]any{
			"type": "object", "required": []any{name}, "additionalProperties": false,
			"properties": map[string]any{name: params},
		})
	}
	return actions
}

// testSchema describes one entry of tests:: one event with its expectation,
// or steps (a conversation), not both.
func testSchema() map[string]any {
	expect := typeSchema(reflect.TypeFor[ExpectDoc]())
	expect["properties"].(map[string]any)["reply"] =
		map[string]any{"anyOf": []any{map[string]any{"const": "none"}, typeSchema(reflect.TypeFor[ReplyExpect]())}}
	at := docString("wall-clock time in --timezone, e.g. 2026-11-11 20:00")
	event := typeSchema(reflect.TypeFor[EventDoc]())
	step := map[string]any{
		"type": "object", "additionalProperties": false, "required": []any{"event", "expect"},
		"properties": map[string]any{"at": at, "event": event, "expect": expect},
	}
	return map[string]any{
		"type": "object", "additionalProperties": false, "required": []any{"name"},
		"oneOf": []any{map[string]any{"required": []any{"event", "expect"}}, map[string]any{"required": []any{"steps"}}},
		"properties": map[string]any{
			"name":      map[string]any{"type": "string"},
			"at":        at,
			"ai_answer": docString("the answer an ai action gets in this test (every step of it), in place of the model's"),
			"event":     event,
			"expect":    expect,
			"user":      map[string]any{"type": "object", "description": "the user's state before the test"},
			"steps":     map[string]any{"type": "array", "items": step, "description": "a conversation: events in order, the user's state carried between them"},
		},
	}
}

// oneOrMany accepts item or a list of them, as the decoder does wherever a
// list is expected.
func oneOrMany(item map[string]any) map[string]any {
	return map[string]any{"anyOf": []any{item, map[string]any{"type": "array", "items": item}}}
}

// docString is a string with its description, which editors show on hover.
func docString(desc string) map[string]any {
	return map[string]any{"type": "string", "description": desc}
}

func anyStrings(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// typeSchema describes a Go type as the strict decoder reads it: a scalar
// may stand for a one-element list.
func typeSchema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == templateType:
		return map[string]any{"type": "string", "description": "may hold ${ expr }"}
	case t == valueType:
		scalar := []any{map[string]any{"type": "string", "description": "may hold ${ expr }; exactly one ${ expr } keeps its type"},
			map[string]any{"type": "number"}, map[string]any{"type": "boolean"}}
		return map[string]any{"anyOf": append(scalar, map[string]any{"type": "array", "items": map[string]any{"anyOf": scalar}})}
	case t == durationType:
		return map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`}
	}
	switch t.Kind() {
	case reflect.Struct:
		props := map[string]any{}
		for _, f := range reflect.VisibleFields(t) {
			name, ok := engine.ParamName(f)
			if !ok {
				continue
			}
			s := typeSchema(f.Type)
			if d := f.Tag.Get("doc"); d != "" {
				s["description"] = d
			}
			props[name] = s
		}
		obj := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
		if reflect.PointerTo(t).Implements(textUnmarshaler) { // a string shorthand, as the decoder allows
			return map[string]any{"anyOf": []any{map[string]any{"type": "string"}, obj}}
		}
		return obj
	case reflect.Slice:
		item := typeSchema(t.Elem())
		return map[string]any{"anyOf": []any{item, map[string]any{"type": "array", "items": item}}}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": typeSchema(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

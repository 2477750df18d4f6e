package rules

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// ParseEventSpec reads an event written as key=value pairs, as `wxbot
// explain --event` takes it: `type=text content="多少钱" from=oUser`. Nested
// fields use dots (location.lat=23.1, scan.result=X, raw.MsgType=text);
// values with spaces are quoted with ' or ".
func ParseEventSpec(spec string) (EventDoc, error) {
	var doc EventDoc
	pairs, err := splitPairs(spec)
	if err != nil {
		return doc, err
	}
	root := &yaml.Node{Kind: yaml.MappingNode}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return doc, fmt.Errorf("event: %q is not key=value", p)
		}
		m := root
		parts := strings.Split(k, ".")
		for _, part := range parts[:len(parts)-1] {
			m = childMapping(m, part)
		}
		m.Content = append(m.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: parts[len(parts)-1]},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Line: 1, Column: 1})
	}
	l := newLoader()
	l.file = "--event"
	(&decoder{l: l, prefix: "event: "}).decode(root, reflectValue(&doc), "")
	if errs := l.diags.Errors(); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, d := range errs {
			msgs[i] = d.Msg
		}
		return doc, fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	if doc.Type == "" {
		return doc, fmt.Errorf("event: type=… is required (e.g. type=text content=价格)")
	}
	if t := strings.ToLower(doc.Type); !slices.Contains(EventTypes, t) {
		return doc, fmt.Errorf("event: unknown type %q%s (known: %s)", doc.Type, didYouMean(t, EventTypes), strings.Join(EventTypes, ", "))
	}
	return doc, nil
}

// ParseUserSpec reads a user state written as key=value pairs, the way
// `wxbot explain --user` takes it: 'step=phone phone=13800000000'. A
// value is a string; key:=JSON gives another type (n:=2, ok:=true,
// tags:='["a","b"]').
func ParseUserSpec(spec string) (map[string]any, error) {
	pairs, err := splitPairs(spec)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" || k == ":" {
			return nil, fmt.Errorf("user: %q is not key=value (or key:=JSON)", p)
		}
		if key, typed := strings.CutSuffix(k, ":"); typed {
			var x any
			if err := json.Unmarshal([]byte(v), &x); err != nil {
				return nil, fmt.Errorf("user: %s:=%s: the value is not JSON (%v); write %s=%s for a string", key, v, err, key, v)
			}
			out[key] = x
			continue
		}
		out[k] = v
	}
	return out, nil
}

func childMapping(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.MappingNode {
			return m.Content[i+1]
		}
	}
	c := &yaml.Node{Kind: yaml.MappingNode}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, c)
	return c
}

// splitPairs splits on white space outside quotes.
func splitPairs(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("event: unclosed %c quote", quote)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

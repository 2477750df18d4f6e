package rules

import (
	"fmt"
	"reflect"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wxbot/wxbot/engine"
)

var limitFields = []string{"count", "per", "scope"}

// parseLimit reads limit: {count, per, scope}. A limit that cannot be
// enforced as written is an error rather than a guess: a rule firing more
// often than its author meant is what limit exists to prevent.
func (l *loader) parseLimit(d *decoder, v *yaml.Node, label string) *engine.Limit {
	label += ": limit"
	if v.Kind != yaml.MappingNode {
		l.errAt(v, label+": want a mapping such as {count: 3, per: 1h, scope: user}")
		return nil
	}
	fields := l.knownFields(v, limitFields, label)
	lim := &engine.Limit{}
	ok := true
	if n := fields["count"]; n == nil {
		l.errAt(v, label+": count: required (how many times the rule may fire in each span of per)")
		ok = false
	} else if l.decodeOK(d, n, reflectValue(&lim.Count), "limit.count") && lim.Count < 1 {
		l.errAt(n, fmt.Sprintf("%s: count: %d, want 1 or more (to stop a rule, set enabled: false)", label, lim.Count))
		ok = false
	}
	if n := fields["per"]; n == nil {
		l.errAt(v, label+": per: required (the span counted over, such as 1m, 1h or 24h)")
		ok = false
	} else if l.decodeOK(d, n, reflectValue(&lim.Per), "limit.per") && lim.Per < time.Second {
		l.errAt(n, fmt.Sprintf("%s: per: %s, want 1s or more (limits are counted in windows of whole seconds or longer)", label, lim.Per))
		ok = false
	}
	if n := fields["scope"]; n != nil {
		var scope string
		if l.decodeOK(d, n, reflectValue(&scope), "limit.scope") && scope != "user" && scope != "all" {
			l.errAt(n, fmt.Sprintf("%s: scope: %q, want user (each user counted apart, the default) or all (everyone together)", label, scope))
			ok = false
		}
		lim.All = scope == "all"
	}
	if !ok || lim.Count < 1 || lim.Per < time.Second {
		return nil
	}
	return lim
}

// decodeOK decodes n into v and reports whether that added no error, so
// that a value that could not be read is not also reported as out of range.
func (l *loader) decodeOK(d *decoder, n *yaml.Node, v reflect.Value, path string) bool {
	before := len(l.diags)
	d.decode(n, v, path)
	return len(l.diags) == before
}

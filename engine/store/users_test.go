package store_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// TestUserPatchThen: merging the patches of one push, then applying the
// result once, equals applying them in turn.
func TestUserPatchThen(t *testing.T) {
	start := map[string]any{"a": "1", "b": "2", "c": "3"}
	cases := []struct {
		name    string
		patches []store.UserPatch
	}{
		{"set then unset", []store.UserPatch{{Set: map[string]any{"d": "4"}}, {Unset: []string{"d", "a"}}}},
		{"unset then set", []store.UserPatch{{Unset: []string{"a"}}, {Set: map[string]any{"a": "x"}}}},
		{"clear in the middle", []store.UserPatch{{Set: map[string]any{"d": "4"}}, {Clear: true}, {Set: map[string]any{"e": "5"}}}},
		{"clear then unset", []store.UserPatch{{Clear: true, Set: map[string]any{"x": "1"}}, {Unset: []string{"x"}}}},
		{"overwrite", []store.UserPatch{{Set: map[string]any{"a": "x"}}, {Set: map[string]any{"a": "y"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var merged store.UserPatch
			stepwise := start
			for i := range c.patches {
				merged.Then(&c.patches[i])
				stepwise = c.patches[i].Apply(stepwise)
			}
			if got := merged.Apply(start); !reflect.DeepEqual(got, stepwise) {
				t.Fatalf("merged patch gives %v, patches in turn %v", got, stepwise)
			}
		})
	}
	var p store.UserPatch
	p.Then(&store.UserPatch{TTL: time.Hour})
	p.Then(&store.UserPatch{Set: map[string]any{"a": "1"}})
	if p.TTLOrDefault() != store.DefaultStateTTL {
		t.Fatalf("the last write names no ttl: ttl = %v, want the default", p.TTLOrDefault())
	}
}

package engine

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store/memory"
)

func (brokenCooldowns) TakeLimit(context.Context, string, int, time.Duration) (bool, error) {
	return false, errors.New("disk full")
}

// TestMatchLimit: a rule fires count times per window, per user or for
// everyone, and a new window starts it afresh.
func TestMatchLimit(t *testing.T) {
	start := time.Date(2026, 11, 11, 10, 0, 0, 0, time.UTC) // on an hour's boundary
	type push struct {
		from  string
		after time.Duration // since start
		want  string        // the rule that matched
	}
	tests := []struct {
		name   string
		limit  Limit
		pushes []push
	}{
		{"per user", Limit{Count: 2, Per: time.Hour}, []push{
			{"a", 0, "capped"}, {"a", time.Minute, "capped"}, {"a", 2 * time.Minute, "fallback"},
			{"b", 3 * time.Minute, "capped"}, {"a", time.Hour, "capped"},
		}},
		{"for all", Limit{Count: 2, Per: time.Hour, All: true}, []push{
			{"a", 0, "capped"}, {"b", time.Minute, "capped"}, {"c", 2 * time.Minute, "fallback"},
			{"a", 59 * time.Minute, "fallback"}, {"c", time.Hour, "capped"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := start
			clock := func() time.Time { return now }
			st := memory.New(clock)
			l := tt.limit
			set := NewRuleSet([]*Rule{
				rule("capped", []string{"text"}, func(r *Rule) { r.Limit = &l }),
				rule("fallback", []string{"text"}),
			}, nil)
			for i, p := range tt.pushes {
				now = start.Add(p.after)
				ev := Event{Type: "text", From: p.from}
				got, errs := set.Match(context.Background(), &ev, newEnv(&ev, nil, clock, time.UTC), st)
				if want := []string{p.want}; len(errs) > 0 || !reflect.DeepEqual(names(got), want) {
					t.Errorf("push %d from %s: matched %v (errors %v), want %v", i+1, p.from, names(got), errs, want)
				}
			}
		})
	}
}

// TestMatchLimitStoreError: a store failure is reported as the limit
// gate's, and the rule does not match.
func TestMatchLimitStoreError(t *testing.T) {
	set := NewRuleSet([]*Rule{
		rule("capped", []string{"text"}, func(r *Rule) { r.Limit = &Limit{Count: 1, Per: time.Minute} }),
		rule("fallback", []string{"text"}),
	}, nil)
	ev := Event{Type: "text", From: "oU"}
	got, errs := set.Match(context.Background(), &ev, newEnv(&ev, nil, time.Now, time.UTC), brokenCooldowns{})
	if want := []string{"fallback"}; !reflect.DeepEqual(names(got), want) {
		t.Errorf("matched %v, want %v", names(got), want)
	}
	if len(errs) != 1 || errs[0].Error() != `rule "capped": limit: disk full` {
		t.Errorf("errors %v, want [rule \"capped\": limit: disk full]", errs)
	}
}

package rules_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/rules"
)

// TestLimitErrors: check says what is wrong with a limit and how to write
// it, once per mistake.
func TestLimitErrors(t *testing.T) {
	rule := func(limit string) string {
		return "version: 1\nrules:\n  - name: a\n    on: text\n    limit: " + limit + "\n    actions: [{reply: {text: hi}}]\n"
	}
	tests := []struct {
		name  string
		limit string
		want  []string
	}{
		{"valid, scope user", "{count: 3, per: 1h}", nil},
		{"valid, scope all", "{count: 1, per: 1s, scope: all}", nil},
		{"not a mapping", "3", []string{
			`rules.yaml:5:12: rule "a": limit: want a mapping such as {count: 3, per: 1h, scope: user}`}},
		{"count zero", "{count: 0, per: 1h}", []string{
			`rules.yaml:5:20: rule "a": limit: count: 0, want 1 or more (to stop a rule, set enabled: false)`}},
		{"count not a number", "{count: many, per: 1h}", []string{
			`rules.yaml:5:20: rule "a": limit.count: want a whole number, got "many"`}},
		{"per under a second", "{count: 2, per: 500ms}", []string{
			`rules.yaml:5:28: rule "a": limit: per: 500ms, want 1s or more (limits are counted in windows of whole seconds or longer)`}},
		{"missing fields", "{scope: user}", []string{
			`rules.yaml:5:12: rule "a": limit: count: required (how many times the rule may fire in each span of per)`,
			`rules.yaml:5:12: rule "a": limit: per: required (the span counted over, such as 1m, 1h or 24h)`}},
		{"unknown scope and field", "{count: 2, per: 1m, scope: everyone, burst: 3}", []string{
			`rules.yaml:5:39: rule "a": limit: scope: "everyone", want user (each user counted apart, the default) or all (everyone together)`,
			`rules.yaml:5:49: rule "a": limit: unknown field "burst" (known: count, per, scope)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadErrors(t, rule(tt.limit)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestLimitInRuleTests: a rule test's steps share a store, so the third
// push within the window hits a limit of two, and the next window (by the
// step's at:) lets the rule fire again; other users count apart.
func TestLimitInRuleTests(t *testing.T) {
	src := `version: 1
rules:
  - name: coupon
    on: text
    text: coupon
    limit: {count: 2, per: 1h}
    actions: [{reply: {text: "here is your coupon"}}]
  - name: fallback
    on: text
    actions: [{reply: {text: "no more coupons this hour"}}]
tests:
  - name: the third coupon within the hour is refused
    steps:
      - at: "2026-11-24 10:00"
        event: {type: text, from: oA, content: coupon}
        expect: {rules: [coupon]}
      - at: "2026-11-24 10:10"
        event: {type: text, from: oA, content: coupon}
        expect: {rules: [coupon]}
      - at: "2026-11-24 10:20"
        event: {type: text, from: oA, content: coupon}
        expect: {rules: [fallback], reply: {text: "no more coupons this hour"}}
      - at: "2026-11-24 10:30"
        event: {type: text, from: oB, content: coupon}
        expect: {rules: [coupon]}
      - at: "2026-11-24 11:00"
        event: {type: text, from: oA, content: coupon}
        expect: {rules: [coupon]}
`
	l, err := rules.Parse("rules.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	res := l.RunTests(context.Background(), time.UTC)
	if len(res) != 1 || !res[0].Passed() {
		t.Fatalf("rule tests: %v", res)
	}
}

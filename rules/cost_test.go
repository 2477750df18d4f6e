package rules_test

import (
	"strings"
	"testing"

	"github.com/wxbot/wxbot/rules"
)

// TestCostlyExpressionsRefused: an expression whose worst case could hold
// a push past WeChat's 5 s is refused at load, saying why; ordinary ones,
// loops over vars included, load.
func TestCostlyExpressionsRefused(t *testing.T) {
	rule := func(when string) string {
		return "version: 1\nvars:\n  vips: [a, b, c]\nrules:\n  - name: r\n    on: text\n    when: '" + when + "'\n    actions:\n      - reply: {text: hi}\n"
	}
	for _, tt := range []struct {
		when   string
		refuse bool
	}{
		{`let r = 1..600; all(r, {all(r, {all(r, {# > 0})})})`, true},
		{`any(1..1000, {any(1..1000, {any(1..10, {# == 3})})})`, true},
		{`all(split(event.content, ""), {all(split(event.content, ""), {# != ""})})`, false},
		{`all(split(event.content, ""), {all(split(event.content, ""), {all(split(event.content, ""), {# != ""})})})`, true},
		{`event.from in vars.vips && hour(now()) < 18`, false},
		{`any(vars.vips, {# == event.from})`, false},
		{`count(1..100000, {# % 7 == 0}) > 3`, false},
		{`len(filter(1..2000000, {# > 0})) > 0`, true},
	} {
		_, err := rules.Parse("rules.yaml", []byte(rule(tt.when)))
		refused := err != nil && strings.Contains(err.Error(), "too costly for a push")
		if refused != tt.refuse {
			t.Errorf("when: %s\nrefused %v, want %v (%v)", tt.when, refused, tt.refuse, err)
		}
	}
	_, err := rules.Parse("rules.yaml", []byte("version: 1\nrules:\n  - name: r\n    on: text\n    actions:\n      - reply: {text: '${join(map(1..2000, {string(all(1..2000, {# > 0}))}), \"\")}'}\n"))
	if err == nil || !strings.Contains(err.Error(), `rule "r": actions[0] (reply): text: too costly for a push`) {
		t.Errorf("a costly template: %v", err)
	}
}

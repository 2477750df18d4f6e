package rules_test

import (
	"strings"
	"testing"

	"github.com/wxbot/wxbot/rules"
)

// TestCostlyExpressionsRefused: an expression whose worst case could hold
// a push past WeChat's 5 s, or whose cost grows with what the push holds
// (repeat, ranges sized at run time, loops over its text nested, its whole
// text reworked per part), is refused at load, saying why and what to
// change; ordinary ones, loops over vars included, load.
func TestCostlyExpressionsRefused(t *testing.T) {
	rule := func(when string) string {
		return "version: 1\nvars:\n  vips: [a, b, c]\n  width: 20\n  max: 50\n  nums: [1, 2, 3]\nrules:\n  - name: r\n    on: text\n    when: '" + when + "'\n    actions:\n      - reply: {text: hi}\n"
	}
	const (
		nested  = "too costly for a push: up to about"
		grows   = "for a push of 100 KB of text, over the limit of 5000000 (--rules-max-cost), and it grows with the push"
		ranged  = "is sized at run time, by what the push holds: write its ends as numbers or vars"
		repeats = "repeats by what the push holds: repeat takes a text and a count written in the rule or in vars"
		reduces = "may build text through #acc, which can double at every element: build text with join(map(…), sep) instead"
		lists   = "list elements in all (ranges, map, filter, sortBy), over the 150000 an evaluation may build"
	)
	for _, tt := range []struct {
		when   string
		refuse string // a part of the error; "" when the expression loads
	}{
		{`let r = 1..600; all(r, {all(r, {all(r, {# > 0})})})`, nested},
		{`any(1..1000, {any(1..1000, {any(1..10, {# == 3})})})`, nested},
		{`len(filter(1..2000000, {# > 0})) > 0`, nested},

		// The two, and their kin.
		{`len(repeat(event.content, 1000000)) > 0`, `repeat(event.content, 1000000) ` + repeats},
		{`len(repeat(event.content, 2)) > 0`, repeats},
		{`repeat("*", len(event.content)) != ""`, repeats},
		{`repeat(user.name, 3) != ""`, repeats},
		{`repeat("ab", 6000) != ""`, `repeat("ab", 6000) builds 12000 bytes, over the 10000 repeat may build`},
		{`len(toJSON(map(1..int(event.content), {#}))) > 0`, `the range 1..int(event.content) ` + ranged},
		{`1 in 1..int(event.content)`, ranged},
		{`any(1..len(event.content), {# == 3})`, ranged},
		{`len(map(user.n..5, {#})) > 0`, ranged},

		// Costs that grow faster than the push.
		{`all(split(event.content, ""), {all(split(event.content, ""), {# != ""})})`, grows},
		{`any(split(event.content, ""), {event.content contains #})`, grows},
		{`len(map(split(event.content, ""), {event.content + #})) > 0`, grows},
		{`len(replace(event.content, "a", event.content)) > 0`, grows},
		{`len(join(split(event.content, ""), event.content)) > 0`, grows},
		{`event.content matches event.content`, grows},
		{`all(1..100, {upper(event.content) != ""})`, grows},

		// Text built through reduce's accumulator, which can double at
		// every element.
		{`len(reduce(split(event.content, ""), #acc + #, "")) > 0`, reduces},
		{`len(reduce(1..30, #acc + #acc, "x")) > 0`, `reduce(1..30, #acc + #acc, "x") ` + reduces},
		{`len(reduce(vars.vips, replace(#acc, "a", "aa"))) > 0`, reduces},

		// Lists over what an evaluation may build, whatever the push.
		{`len(map(1..100000, {#})) > 0`, lists},
		{`len(map(1..1000, {map(1..200, {#})})) > 0`, lists},

		{`event.content contains "价格"`, ""},
		{`len(event.content) > 10`, ""},
		{`repeat("-", 3) == "---"`, ""},
		{`repeat("=", vars.width) != event.content`, ""},
		{`all(1..vars.max, {# > 0})`, ""},
		{`event.from in vars.vips && hour(now()) < 18`, ""},
		{`any(vars.vips, {# == event.from})`, ""},
		{`any(vars.vips, {event.content contains #})`, ""},
		{`count(1..100000, {# % 7 == 0}) > 3`, ""},
		{`any(split(event.content, " "), {# in vars.vips})`, ""},
		{`len(filter(split(event.content, ","), {trim(#) != ""})) > 2`, ""},
		{`user.step == "phone" && event.content matches "^1\\d{10}$"`, ""},
		{`len(toJSON(event)) < 2000`, ""},
		{`let n = 30; let sep = "-"; repeat(sep, n) != "" && all(1..n, {# > 0})`, ""},
		{`any(split(event.content, "")[:20], {event.content contains #})`, ""},
		{`all(1..100, {upper(event.content[:200]) != ""})`, ""},
		{`reduce(1..10, #acc + #) > 3`, ""},
		{`reduce(vars.nums, #acc + #, 0) > 3`, ""},
		{`reduce(1..vars.max, #acc + #) > 3`, ""},
		{`len(reduce(1..10, concat(#acc, [#]), [])) > 3`, ""},
		{deepJoins(40), nested}, // measured once per node, or 2^40 times
	} {
		_, err := rules.Parse("rules.yaml", []byte(rule(tt.when)))
		switch {
		case tt.refuse == "" && err != nil:
			t.Errorf("when: %s\nrefused: %v", tt.when, err)
		case tt.refuse != "" && (err == nil || !strings.Contains(err.Error(), `rule "r": when: `) || !strings.Contains(err.Error(), tt.refuse)):
			t.Errorf("when: %s\ngot %v\nwant an error with %q", tt.when, err, tt.refuse)
		}
	}
}

// deepJoins nests n joins of splits of the push's text.
func deepJoins(n int) string {
	s := "event.content"
	for range n {
		s = `join(split(` + s + `, ","), ",")`
	}
	return `len(` + s + `) > 0`
}

// TestCostlyTemplatesRefused: ${…} in an action's text is checked as a
// condition is, and the error names the action's field.
func TestCostlyTemplatesRefused(t *testing.T) {
	for _, tt := range []struct {
		text string
		want []string
	}{
		{`${join(map(1..2000, {string(all(1..2000, {# > 0}))}), \"\")}`,
			[]string{`rule "r": actions[0] (reply): text: too costly for a push: up to about`, "(loops over collections nest)"}},
		{`${repeat(event.content, 3)}`,
			[]string{`rule "r": actions[0] (reply): text: repeat(event.content, 3) repeats by what the push holds`}},
		{`${join(map(split(event.content, \",\"), {event.content}), \"\")}`,
			[]string{`rule "r": actions[0] (reply): text: too costly for a push: up to about`, "for a push of 100 KB of text"}},
	} {
		_, err := rules.Parse("rules.yaml", []byte("version: 1\nrules:\n  - name: r\n    on: text\n    actions:\n      - reply: {text: \""+tt.text+"\"}\n"))
		for _, want := range tt.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v, want %q", tt.text, err, want)
			}
		}
	}
}

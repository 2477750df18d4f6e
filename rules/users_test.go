package rules_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/rules"
)

// TestBookingExample runs examples/booking's own tests, which walk the
// dialog step by step.
func TestBookingExample(t *testing.T) {
	data, err := os.ReadFile("../examples/booking/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l, err := rules.Parse("rules.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if w := l.Diags.Warnings(); len(w) > 0 {
		t.Errorf("warnings: %v", w)
	}
	for _, res := range l.RunTests(context.Background(), time.UTC) {
		if !res.Passed() {
			t.Error(res.String())
		}
	}
}

const dialog = `version: 1
rules:
  - name: start
    on: click
    key: GO
    actions:
      - state: {set: {step: q1, tries: 0, tags: [new]}}
      - reply: {text: "Q1?"}
  - name: bye
    on: text
    text: bye
    actions:
      - reply: {text: "bye ${user.step}"}
      - state: {clear: true}
      - reply: {text: "never sent"}
  - name: count
    on: text
    continue: true
    when: user.step == "q1"
    actions:
      - state: {set: {tries: "${user.tries + 1}"}}
  - name: second
    on: text
    when: user.tries >= 2
    actions:
      - reply: {text: "tries=${user.tries}"}
`

// TestStateSteps: the state changes of a rule are seen by the rules after
// it (continue) and by its later actions; an action before a state step
// sees the state from before it; a failing step says which step and key.
func TestStateSteps(t *testing.T) {
	cases := []struct {
		name  string
		tests string
		fails []string
	}{
		{"carried across steps", `
  - name: t
    steps:
      - event: {type: click, key: GO}
        expect: {state: {step: q1, tries: 0, tags: [new]}}
      - event: {type: text, content: a}
        expect: {rules: [count], state: {step: q1, tries: 1, tags: [new]}}
      - event: {type: text, content: b}
        expect: {rules: [count, second], reply: {text: "tries=2"}}
      - event: {type: text, content: bye}
        expect: {rules: [bye], reply: {text: "bye q1"}, state: {}}
`, nil},
		{"initial user", `
  - name: t
    user: {step: q1, tries: 5}
    event: {type: text, content: x}
    expect: {rules: [count, second], reply: {text: "tries=6"}, state: {step: q1, tries: 6}}
`, nil},
		{"a failing step names the step and the key", `
  - name: t
    steps:
      - event: {type: click, key: GO}
        expect: {state: {step: q1, tries: 0, tags: [new]}}
      - event: {type: text, content: a}
        expect: {state: {step: q2, tries: 1, extra: x}}
      - event: {type: text, content: never}
        expect: {rules: []}
`, []string{`step 2 (text "a"): state.extra: got no such key, want "x"`,
			`step 2 (text "a"): state.step: got "q1", want "q2"`,
			`step 2 (text "a"): state.tags: got ["new"], want no such key`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := rules.Parse("rules.yaml", []byte(dialog+"tests:"+c.tests))
			if err != nil {
				t.Fatal(err)
			}
			res := l.RunTests(context.Background(), time.UTC)[0]
			if !slices.Equal(res.Failures, c.fails) {
				t.Errorf("failures:\n  %s\nwant:\n  %s", strings.Join(res.Failures, "\n  "), strings.Join(c.fails, "\n  "))
			}
		})
	}
}

// TestStateChecks: what check says about state: values that can never be
// stored are errors; keys read but never set, and steps nobody reaches,
// are warnings.
func TestStateChecks(t *testing.T) {
	src := `version: 1
rules:
  - name: a
    on: click
    actions:
      - state: {set: {step: phone, n: 1}}
  - name: b
    on: text
    when: 'user.step == "phon" || user.stpe == "x"'
    actions:
      - reply: {text: "${user.nn}"}
  - name: c
    on: text
    when: 'user.step in ["date", "x"] && user.n > 0'
    actions: []
`
	l, err := rules.Parse("rules.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range l.Diags.Warnings() {
		got = append(got, d.String())
	}
	want := []string{
		`rules.yaml:9:11: warning: rule "b": when: reads user.stpe, which no state action sets (keys set: n, step; did you mean "step"?): it is always nil`,
		`rules.yaml:11:23: warning: rule "b": actions[0] (reply): text: reads user.nn, which no state action sets (keys set: n, step; did you mean "n"?): it is always nil`,
		`rules.yaml:14:11: warning: rule "c": when: needs user.step to be "date" or "x", but no state action sets it to that (it is set to "phone"): the rule never matches`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	errs := []struct{ src, want string }{
		{`{set: {m: "${event.location}"}}`, `yields engine.Geo, which a state cannot keep`},
		{`{set: {m: "${now}"}}`, `which a state cannot keep`},
		{`{set: {m: null}}`, `a value cannot be null (to remove a key, use unset)`},
		{`{set: {m: {a: 1}}}`, `want a string, number, bool or a list of them`},
		{`{set: {"a-b": 1}}`, `key "a-b": use letters, digits and _`},
		{`{set: {a: 1}, unset: [a]}`, `set and unset both name "a"`},
		{`{ttl: 800h}`, `longer than the 720h0m0s a state may live`},
		{`{}`, `want at least one of set, unset, clear or ttl`},
	}
	for _, e := range errs {
		got := loadErrors(t, "version: 1\nrules:\n  - {name: a, on: text, actions: [state: "+e.src+"]}\n")
		if len(got) != 1 || !strings.Contains(got[0], e.want) {
			t.Errorf("state: %s: errors %q, want one containing %q", e.src, got, e.want)
		}
	}
}

package rules_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/wxbot/wxbot/rules"
)

// Running a file's own tests costs an engine, a store and a push per
// step: several times what parsing the file costs. So FuzzParse runs the
// tests of a file up to fuzzTestedBytes long only, and of them the first
// fuzzTests, each cut to its first fuzzSteps steps. That bounds the work
// of any input (a YAML alias can repeat a test many times in a few
// bytes), and keeps the tests' coverage off big inputs, which the fuzzer
// would spend its time minimizing: a test needs the rules it runs, so an
// input whose test found new code cannot be cut short.
const (
	fuzzTests       = 2
	fuzzSteps       = 4
	fuzzTestedBytes = 1 << 10
)

// FuzzParse: no rules file, however broken, panics the loader or its
// syntax-error locator; a file either loads or says why, and a file that
// loads runs its own tests (steps, state) without a panic.
func FuzzParse(f *testing.F) {
	// The examples, one rule at a time: real rules in every form, each a
	// small input. Whole, the examples are 4 and 9 KB, and the fuzzer
	// spends a minute minimizing each input of that size that finds new
	// code (its last pass tries removing every span of bytes).
	for _, p := range []string{"../examples/rules.yaml", "../examples/booking/rules.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			for _, seed := range ruleByRule(b) {
				f.Add(seed)
			}
		}
	}
	f.Add([]byte("version: 1\nrules:\n  - name: a\n    on: text\n    text: {exact: [hi, hello}\n    actions:\n      - reply: {text: hi}\n"))
	f.Add([]byte("version: 1\nrules:\n  - name: a\n\ton: text\n"))
	f.Add([]byte("version: 1\nvars: {a: 1}\nrules:\n  - name: a\n    on: text\n    when: vars.b > 1 && event.form == ''\n    actions:\n      - reply: {text: '${vars.c}'}\n"))
	// What the cost check weighs: loops, text work, ranges, repeat, reduce.
	f.Add([]byte("version: 1\nvars: {a: [x, y], n: 3}\nrules:\n  - name: a\n    on: text\n    when: 'reduce(1..vars.n, #acc + #) > 1 && repeat(\"-\", vars.n) != \"\" && any(split(event.content, \"\")[1:3], {# in vars.a}) && upper(join(map(vars.a, {# + event.content}), \",\")) matches vars.a[0]'\n    actions:\n      - reply: {text: '${toJSON(filter(1..10, {# > len(event.content)}))}'}\n"))
	// A dialog with its tests: steps, a state, a user, a time, an AI answer.
	f.Add([]byte(`version: 1
rules:
  - name: book
    on: text
    text: book
    actions:
      - state: {set: {step: phone}, ttl: 10m}
      - reply: {text: "phone?"}
  - name: phone
    on: text
    when: user.step == "phone"
    actions:
      - state: {set: {step: done, phone: "${event.content}"}}
      - ai: {system: "booked ${user.phone}"}
tests:
  - name: dialog
    at: 2026-01-05T10:00:00
    steps:
      - event: {type: text, content: book, from: oA}
        expect: {rules: [book], state: {step: phone}}
      - event: {type: text, content: "138", from: oA}
        at: 2026-01-05T10:20:00
        expect: {rules: []}
  - name: returning
    user: {step: phone}
    event: {type: text, content: "139"}
    ai_answer: "ok"
    expect: {rules: [phone], reply: {text: ok}, state: {step: done, phone: "139"}}
`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := rules.Parse("rules.yaml", data)
		if err == nil && l.Set == nil {
			t.Fatal("no error and no rule set")
		}
		if err != nil || len(l.Tests) == 0 || len(data) > fuzzTestedBytes {
			return
		}
		l.Tests = l.Tests[:min(len(l.Tests), fuzzTests)]
		for i := range l.Tests {
			if s := l.Tests[i].Steps; len(s) > fuzzSteps {
				l.Tests[i].Steps = s[:fuzzSteps] // a conversation's start is one too
			}
		}
		l.RunTests(context.Background(), time.UTC)
	})
}

// ruleByRule splits a rules file into files of one rule each, with the
// file's header (version, vars, windows: what comes before rules:) and
// without its tests. It goes by indentation alone, as the examples are
// written: a rule starts at "  - " inside rules:.
func ruleByRule(src []byte) [][]byte {
	var header []byte
	var out [][]byte
	var rule []byte
	inRules := false
	flush := func() {
		if len(rule) > 0 {
			out = append(out, append(append(bytes.Clone(header), "rules:\n"...), rule...))
		}
		rule = nil
	}
	for line := range bytes.Lines(src) {
		trimmed := bytes.TrimSpace(line)
		switch {
		case len(trimmed) == 0 || trimmed[0] == '#':
			// Comments and blank lines are left out: they would only make
			// the inputs longer.
		case line[0] != ' ': // a top-level key
			flush()
			inRules = bytes.HasPrefix(line, []byte("rules:"))
			if !inRules && !bytes.HasPrefix(line, []byte("tests:")) && len(out) == 0 {
				header = append(header, line...)
			}
		case inRules:
			if bytes.HasPrefix(line, []byte("  - ")) {
				flush()
			}
			rule = append(rule, line...)
		case len(out) == 0 && !inRules:
			header = append(header, line...) // vars:, windows: and their entries
		}
	}
	flush()
	return out
}

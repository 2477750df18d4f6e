package rules_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/rules"
)

// worstWhens are the costliest kinds of condition the check accepts, each
// near the default limit for a push of 100 KB of text: a list built from
// the parts of its text, its whole text reworked for each element of a
// constant range, a regexp compiled for each, its characters sorted, a
// list of lists that only the run-time budget stops, lists built from
// constant ranges up to the budget, and a long keyword list read against
// it. Each is false for the pushes below, so a push evaluates them all.
var worstWhens = []struct{ name, when string }{
	{"parts", `len(join(map(split(event.content, ","), {trim(#) + "、" + upper(#)}), "")) < 0`},
	{"rework", `any(1..30, {upper(event.content) == string(#)})`},
	{"regexps", `any(1..12, {event.content matches "[0-9]+号" + string(#)})`},
	{"sort", `len(sortBy(split(event.content, ""), {#})) < 0`},
	{"pairs", `len(toJSON(map(split(event.content, ""), {[#, #]}))) < 0`},
	{"lists", `len(map(1..1000, {map(1..70, {#})})) < 0`},
	{"keywords", `any(vars.words, {event.content contains #})`},
}

// worstRules is a rules file with worstWhens and a fallback rule.
func worstRules() []byte {
	var b strings.Builder
	b.WriteString("version: 1\nvars:\n  words: [")
	for i := range 750 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "词%d", i)
	}
	b.WriteString("]\nrules:\n")
	for _, w := range worstWhens {
		fmt.Fprintf(&b, "  - name: %s\n    on: text\n    when: '%s'\n    actions:\n      - reply: {text: never}\n", w.name, w.when)
	}
	b.WriteString("  - name: fallback\n    on: text\n    actions:\n      - reply: {text: ok}\n")
	return []byte(b.String())
}

// bigPushes are 100 KB texts: one that splits into the most parts, one in
// lower case that upper changes whole, one of Chinese text, which regexps
// and keyword searches read slowest.
var bigPushes = []struct{ name, content string }{
	{"commas", fill(",")},
	{"words", fill("price of item 42, ")},
	{"chinese", fill("请问这个价格多少钱，今天有货吗？")},
}

// fill repeats s to 100 KB.
func fill(s string) string { return strings.Repeat(s, 100_000/len(s)) }

// TestWorstPushBounded: a 100 KB push against the costliest conditions the
// check accepts allocates a bounded amount for each (the design's 16 MiB
// or so, under the 64 MiB the process may grow by), and the one that goes
// over the run-time budget stops and does not match: the fallback
// answers. The bound is on bytes allocated, not on time, which depends on
// the machine.
func TestWorstPushBounded(t *testing.T) {
	l, err := rules.Parse("rules.yaml", worstRules())
	if err != nil {
		t.Fatalf("the check refuses a condition it should accept: %v", err)
	}
	for _, p := range bigPushes {
		ev := &engine.Event{Type: "text", From: "oU", Content: p.content}
		env := engine.NewEnv(ev, l.Set.Vars, time.Now, time.UTC)
		for _, r := range l.Set.Ordered() {
			alloc, err := allocated(func() error { _, err := engine.EvalCondition(r.When, env); return err })
			t.Logf("%s, %s: %.1f MiB allocated", p.name, r.Name, float64(alloc)/(1<<20))
			if alloc > 32<<20 {
				t.Errorf("%s, %s: %d MiB allocated, want at most 32", p.name, r.Name, alloc>>20)
			}
			if err != nil && !errors.Is(err, engine.ErrOverBudget) {
				t.Errorf("%s, %s: %v", p.name, r.Name, err)
			}
		}
		matched, errs := l.Set.Match(context.Background(), ev, env, memory.New(nil))
		if len(matched) != 1 || matched[0].Name != "fallback" {
			t.Errorf("%s: matched %v, want the fallback", p.name, matched)
		}
		for _, err := range errs {
			var re *engine.RuleError
			if !errors.As(err, &re) || re.Rule != "pairs" || !errors.Is(err, engine.ErrOverBudget) {
				t.Errorf("%s: %v, want only pairs over the budget", p.name, err)
			}
		}
		if p.name == "commas" && len(errs) != 1 {
			t.Errorf("%s: errors %v, want pairs over the budget", p.name, errs)
		}
	}
}

// allocated is the bytes f allocates.
func allocated(f func() error) (uint64, error) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, err
}

// BenchmarkWorstPush measures a 100 KB push against each of the costliest
// conditions the check accepts.
func BenchmarkWorstPush(b *testing.B) {
	l, err := rules.Parse("rules.yaml", worstRules())
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range l.Set.Ordered()[:len(worstWhens)] {
		for _, p := range bigPushes {
			b.Run(r.Name+"/"+p.name, func(b *testing.B) {
				ev := &engine.Event{Type: "text", From: "oU", Content: p.content}
				env := engine.NewEnv(ev, l.Set.Vars, time.Now, time.UTC)
				b.ReportAllocs()
				for b.Loop() {
					if ok, err := engine.EvalCondition(r.When, env); ok || (err != nil && !errors.Is(err, engine.ErrOverBudget)) {
						b.Fatal(ok, err)
					}
				}
			})
		}
	}
}

package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// ruleErrors records the rules the engine counted an error for.
type ruleErrors struct {
	NopObserver
	mu    sync.Mutex
	rules []string
}

func (o *ruleErrors) RuleError(rule string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rules = append(o.rules, rule)
}

// TestOverBudgetIsNoMatch: an evaluation that asks for more than its
// budget (what the rules check refuses, compiled here without it) stops
// before it allocates what it asked for; its rule does not match, the next
// one answers, and the failure is logged and counted as the rule's error.
// expr's own repeat built its text first: 300 MB for the first case, and
// the second killed the process.
func TestOverBudgetIsNoMatch(t *testing.T) {
	for _, tt := range []struct {
		name, when, content string
		maxAlloc            uint64
	}{
		{"repeat", `len(repeat(event.content, 1000000)) > 0`, strings.Repeat("x", 300), 1 << 20},
		{"repeat of 100 KB", `len(repeat(event.content, 1000)) > 0`, strings.Repeat("x", 100_000), 1 << 20},
		{"a range sized by the push", `len(toJSON(map(1..int(event.content), {#}))) > 0`, "999999", 1 << 20},
		{"a range of a billion", `1 in 1..int(event.content)`, "1000000000", 1 << 20},
		{"lists built from the push", `len(map(split(event.content, ""), {[#, #]})) > 0`, strings.Repeat("x", 100_000), 32 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			obs := &ruleErrors{}
			e := New(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Observer: obs})
			defer e.Close(context.Background())
			e.SetRules(NewRuleSet([]*Rule{
				rule("costly", []string{"text"}, when(tt.when)),
				rule("fallback", []string{"text"}),
			}, nil))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			res, err := e.Dispatch(&Event{Type: "text", From: "oU", Content: tt.content}).Finish(context.Background())
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(res.Rules); !reflect.DeepEqual(got, []string{"fallback"}) {
				t.Errorf("matched %v, want the fallback", got)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > tt.maxAlloc {
				t.Errorf("%d KiB allocated, want at most %d", alloc>>10, tt.maxAlloc>>10)
			}
			if !reflect.DeepEqual(obs.rules, []string{"costly"}) {
				t.Errorf("rule errors counted for %v, want costly", obs.rules)
			}
			if !strings.Contains(logs.String(), "rule condition failed; the rule did not match") || !strings.Contains(logs.String(), ErrOverBudget.Error()) {
				t.Errorf("log:\n%s", logs.String())
			}
			ev := &Event{Type: "text", Content: tt.content}
			if _, err := EvalCondition(e.Rules().Ordered()[0].When, newEnv(ev, nil, time.Now, time.UTC)); !errors.Is(err, ErrOverBudget) {
				t.Errorf("EvalCondition: %v, want ErrOverBudget", err)
			}
		})
	}
}

// TestTemplateOverBudget: a ${…} over its budget fails its action, saying
// why, instead of building what it asked for.
func TestTemplateOverBudget(t *testing.T) {
	tmpl, err := CompileTemplate("${repeat(event.content, 100000)}")
	if err != nil {
		t.Fatal(err)
	}
	ev := &Event{Type: "text", Content: strings.Repeat("x", 1000)}
	alloc, err := allocated(func() error { _, err := tmpl.Render(NewEnv(ev, nil, time.Now, time.UTC)); return err })
	if !errors.Is(err, ErrOverBudget) || alloc > 1<<20 {
		t.Errorf("%v, %d KiB allocated; want ErrOverBudget, and nothing built", err, alloc>>10)
	}
}

// TestRepeatWithinBudget: repeat still repeats, up to MaxRepeat bytes.
func TestRepeatWithinBudget(t *testing.T) {
	for _, tt := range []struct {
		when, content string
		want          bool
		err           error
	}{
		{`repeat("-", 3) == "---"`, "", true, nil},
		{`repeat(event.content, 0) == ""`, "abc", true, nil},
		{`len(repeat(event.content, 2)) == 2 * len(event.content)`, strings.Repeat("x", MaxRepeat/2), true, nil},
		{`len(repeat(event.content, 2)) > 0`, strings.Repeat("x", MaxRepeat/2+1), false, ErrOverBudget},
	} {
		p, err := CompileCondition(tt.when)
		if err != nil {
			t.Fatal(err)
		}
		got, err := EvalCondition(p, newEnv(&Event{Content: tt.content}, nil, time.Now, time.UTC))
		if got != tt.want || !errors.Is(err, tt.err) || (err != nil) != (tt.err != nil) {
			t.Errorf("%s: %v, %v; want %v, %v", tt.when, got, err, tt.want, tt.err)
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

package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store/memory"
)

// BenchmarkMatch measures finding the rules for one push among n rules of
// one kind: exact keywords and EventKeys (found through the index) and
// expr conditions (each evaluated in order, the worst case for a rule set),
// `contains` literals, dialog steps (`user.step == …`, the user at the
// last step), and the mix of the performance issue (see mixedRule). The
// push matches the last rule (in the mix, the last keyword).
func BenchmarkMatch(b *testing.B) {
	kinds := []struct {
		name string
		rule func(i int) *Rule
		ev   func(n int) *Event
	}{
		{"keywords", func(i int) *Rule {
			return rule(fmt.Sprint("kw", i), []string{"text"}, exact(fmt.Sprint("关键词", i)))
		},
			func(n int) *Event { return &Event{Type: "text", Content: fmt.Sprint("关键词", n-1)} }},
		{"keys", func(i int) *Rule { return rule(fmt.Sprint("key", i), []string{"click"}, keys(fmt.Sprint("MENU_", i))) },
			func(n int) *Event { return &Event{Type: "click", Key: fmt.Sprint("MENU_", n-1)} }},
		{"conditions", func(i int) *Rule {
			return rule(fmt.Sprint("cond", i), []string{"text"}, when(fmt.Sprintf(`event.content == "c%d"`, i)))
		}, func(n int) *Event { return &Event{Type: "text", Content: fmt.Sprint("c", n-1)} }},
		{"prefix", func(i int) *Rule {
			return rule(fmt.Sprint("pre", i), []string{"text"}, prefix(fmt.Sprint("订单", i, "#")))
		}, func(n int) *Event { return &Event{Type: "text", Content: fmt.Sprint("订单", n-1, "#状态")} }},
		{"regex", func(i int) *Rule {
			return rule(fmt.Sprint("re", i), []string{"text"}, regex(fmt.Sprintf(`^查询%d-\d+$`, i)))
		}, func(n int) *Event { return &Event{Type: "text", Content: fmt.Sprint("查询", n-1, "-42")} }},
		{"contains", func(i int) *Rule {
			return rule(fmt.Sprint("has", i), []string{"text"}, containsText(fmt.Sprintf("商品%d号", i)))
		}, func(n int) *Event {
			return &Event{Type: "text", Content: fmt.Sprintf("我想买商品%d号，多少钱？", n-1)}
		}},
		{"dialog", func(i int) *Rule {
			return rule(fmt.Sprint("step", i), []string{"text"}, when(fmt.Sprintf(`user.step == "s%d" && len(event.content) > 0`, i)))
		}, func(n int) *Event { return &Event{Type: "text", From: "oUser", Content: "好的"} }},
		{"mixed", mixedRule, func(n int) *Event {
			last := (n - 1) / mixedKinds * mixedKinds // the last keyword rule
			return &Event{Type: "text", From: "oUser", Content: fmt.Sprint(" 关键词", last, " ")}
		}},
	}
	for _, k := range kinds {
		for _, n := range []int{1, 1000, 10000, 100000} {
			if n > 10000 && testing.Short() {
				continue
			}
			b.Run(fmt.Sprintf("%s/%d", k.name, n), func(b *testing.B) {
				rules := make([]*Rule, n)
				for i := range rules {
					rules[i] = k.rule(i)
				}
				set := NewRuleSet(rules, nil)
				ev := k.ev(n)
				env := newEnv(ev, nil, time.Now, time.UTC)
				env.SetUser(map[string]any{"step": fmt.Sprint("s", n-1)})
				store := memory.New(nil)
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					m, _ := set.Match(ctx, ev, env, store)
					if len(m) != 1 {
						b.Fatalf("matched %d rules", len(m))
					}
				}
			})
		}
	}
}

// mixedKinds is how many kinds of rule mixedRule cycles through.
const mixedKinds = 6

// mixedRule is rule i of the mix: exact keywords, click keys,
// `contains` literals, prefixes behind a condition, regexes and dialog
// steps (`user.step == …`), in turn.
func mixedRule(i int) *Rule {
	switch i % mixedKinds {
	case 0:
		return rule(fmt.Sprint("kw", i), []string{"text"}, exact(fmt.Sprint("关键词", i)))
	case 1:
		return rule(fmt.Sprint("key", i), []string{"click"}, keys(fmt.Sprint("MENU_", i)))
	case 2:
		return rule(fmt.Sprint("has", i), []string{"text"}, containsText(fmt.Sprintf("商品%d号", i)))
	case 3:
		return rule(fmt.Sprint("pre", i), []string{"text"}, prefix(fmt.Sprint("订单", i)), when(`event.from startsWith "oVIP"`))
	case 4:
		return rule(fmt.Sprint("re", i), []string{"text"}, regex(fmt.Sprintf(`^查询%d-\d+$`, i)))
	default:
		return rule(fmt.Sprint("step", i), []string{"text"}, when(fmt.Sprintf(`user.step == "s%d"`, i)))
	}
}

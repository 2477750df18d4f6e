package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// BenchmarkMatch measures finding the rules for one push among n rules of
// one kind: exact keywords and EventKeys (found through the index) and
// expr conditions (each evaluated in order, the worst case for a rule set).
// The push matches the last rule.
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
	}
	for _, k := range kinds {
		for _, n := range []int{1, 1000, 10000} {
			if k.name == "conditions" && n > 1000 && testing.Short() {
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
				store := store.NewMemory(nil)
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

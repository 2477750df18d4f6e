package rules_test

import (
	"fmt"
	"strings"
	"testing"

	_ "github.com/wxbot/wxbot/actions"
	"github.com/wxbot/wxbot/rules"
)

// tenThousandRules is a rules file of n keyword rules with a reply each,
// a tenth of them with an expr condition, as a large account would have.
func manyRules(n int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\nrules:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: kw%d\n    on: text\n    text: {exact: [\"关键词%d\", \"keyword%d\"]}\n", i, i, i)
		if i%10 == 0 {
			fmt.Fprintf(&b, "    when: 'hour(now()) >= 8 && event.from != \"blocked%d\"'\n", i)
		}
		fmt.Fprintf(&b, "    actions:\n      - reply: {text: \"回复 ${event.content} %d\"}\n", i)
	}
	return []byte(b.String())
}

// BenchmarkLoad10000 measures loading, compiling, indexing and linting
// 10,000 rules: what a hot reload of a large file costs.
func BenchmarkLoad10000(b *testing.B) {
	data := manyRules(10000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l, err := rules.Parse("rules.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		if len(l.Set.Rules) != 10000 {
			b.Fatalf("%d rules", len(l.Set.Rules))
		}
	}
}

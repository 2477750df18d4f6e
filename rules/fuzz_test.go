package rules_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/wxbot/wxbot/rules"
)

// FuzzParse: no rules file, however broken, panics the loader or its
// syntax-error locator; a file either loads or says why.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"../examples/rules.yaml", "../examples/booking/rules.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("version: 1\nrules:\n  - name: a\n    on: text\n    text: {exact: [hi, hello}\n    actions:\n      - reply: {text: hi}\n"))
	f.Add([]byte("version: 1\nrules:\n  - name: a\n\ton: text\n"))
	f.Add([]byte("version: 1\nvars: {a: 1}\nrules:\n  - name: a\n    on: text\n    when: vars.b > 1 && event.form == ''\n    actions:\n      - reply: {text: '${vars.c}'}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := rules.Parse("rules.yaml", data)
		if err == nil && l.Set == nil {
			t.Fatal("no error and no rule set")
		}
		if err == nil { // a file that loads runs its own tests (steps, state) without a panic
			l.RunTests(context.Background(), time.UTC)
		}
	})
}

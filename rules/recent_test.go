package rules

import (
	"context"
	"strings"
	"testing"
	"time"
)

// event.recent: the user's earlier texts, oldest first, the current push
// not among them, at most 10, for 24 h; kept only when a rule reads them.
func TestEventRecent(t *testing.T) {
	const src = `
version: 1
rules:
  - name: alert
    on: click
    key: HUMAN
    actions:
      - reply: {text: "${len(event.recent)}: ${join(map(event.recent, .text), \"|\")}"}
  - name: echo
    on: text
    when: len(event.recent) < 100
    actions:
      - reply: {text: "${event.content}"}
tests:
  - name: the texts before the click
    at: "2026-01-05 10:00"
    steps:
      - event: {type: click, key: HUMAN}
        expect: {reply: {text: "0: "}}
      - event: {type: text, content: " 一 "}
        expect: {rules: [echo]}
      - event: {type: text, content: 二}
        expect: {rules: [echo]}
      - event: {type: click, key: HUMAN}
        expect: {reply: {text: "2: 一|二"}}
      - at: "2026-01-06 09:59"
        event: {type: click, key: HUMAN}
        expect: {reply: {text: "2: 一|二"}}
      - at: "2026-01-06 10:01"
        event: {type: click, key: HUMAN}
        expect: {reply: {text: "0: "}}
  - name: at most 10, each cut to 500 characters
    steps:
      - {event: {type: text, content: "1"}, expect: {rules: [echo]}}
      - {event: {type: text, content: "2"}, expect: {rules: [echo]}}
      - {event: {type: text, content: "3"}, expect: {rules: [echo]}}
      - {event: {type: text, content: "4"}, expect: {rules: [echo]}}
      - {event: {type: text, content: "5"}, expect: {rules: [echo]}}
      - {event: {type: text, content: "6"}, expect: {rules: [echo]}}
      - {event: {type: text, content: "7"}, expect: {rules: [echo]}}
      - {event: {type: text, content: "8"}, expect: {rules: [echo]}}
      - {event: {type: text, content: "9"}, expect: {rules: [echo]}}
      - {event: {type: text, content: "10"}, expect: {rules: [echo]}}
      - {event: {type: text, content: "LONG"}, expect: {rules: [echo]}}
      - event: {type: click, key: HUMAN}
        expect: {reply: {text: "10: 2|3|4|5|6|7|8|9|10|LONG"}}
`
	long := strings.Repeat("长", 600)
	src2 := strings.Replace(src, `content: "LONG"`, `content: "`+long+`"`, 1)
	src2 = strings.Replace(src2, `|LONG"`, `|`+long[:500*len("长")]+`"`, 1)
	loaded, err := Parse("rules.yaml", []byte(src2))
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Set.NeedsRecent {
		t.Fatal("NeedsRecent unset with rules that read event.recent")
	}
	res := loaded.RunTests(context.Background(), time.UTC)
	if len(res) != 2 {
		t.Fatalf("%d results, want 2", len(res))
	}
	for _, r := range res {
		if !r.Passed() {
			t.Errorf("%v", r)
		}
	}
}

func TestEventRecentOnlyWhenRead(t *testing.T) {
	loaded, err := Parse("rules.yaml", []byte("version: 1\nrules:\n  - name: a\n    on: text\n    actions:\n      - reply: {text: \"${event.content}\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Set.NeedsRecent {
		t.Error("NeedsRecent set with rules that never read event.recent")
	}
}

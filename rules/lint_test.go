package rules_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/rules"
)

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"shadowed rules", `version: 1
rules:
  - {name: all-text, on: text, actions: []}
  - {name: price, on: text, text: 价格, actions: []}
  - {name: click-any, on: "*", key: [A, B], actions: []}
  - {name: click-a, on: click, key: A, actions: []}
  - {name: click-c, on: click, key: [A, C], actions: []}
  - {name: hi, on: [image, voice], text: {contains: hi}, actions: []}
  - {name: hello, on: image, text: [hi there, hello], actions: []}
  - {name: hi2, on: image, text: [hi there], actions: []}
  - {name: late, on: image, priority: -5, actions: []}
  - {name: early, on: image, priority: 5, when: 'event.from == "x"', actions: []}
`, []string{
			`rules.yaml:4:5: warning: rule "price" can never match: rule "all-text" (rules.yaml:3) matches every push it would and stops the search (order it earlier with priority, or narrow "all-text")`,
			`rules.yaml:6:5: warning: rule "click-a" can never match: rule "click-any" (rules.yaml:5) matches every push it would and stops the search (order it earlier with priority, or narrow "click-any")`,
			`rules.yaml:10:5: warning: rule "hi2" can never match: rule "hi" (rules.yaml:8) matches every push it would and stops the search (order it earlier with priority, or narrow "hi")`,
		}},
		{"shadowed by patterns, found through the index", `version: 1
rules:
  - {name: pre, on: text, text: {prefix: [订单]}, actions: []}
  - {name: any-re, on: "*", text: {regex: ['^\d+$']}, actions: []}
  - {name: order1, on: text, text: [订单1], actions: []}
  - {name: digits, on: voice, text: ["42"], actions: []}
  - {name: hello-pre, on: text, text: {prefix: [hello]}, actions: []}
  - {name: hello, on: text, text: [hello world, 订单2], actions: []}
  - {name: world, on: text, text: [world, 订单3], actions: []}
  - {name: late, on: image, text: [later], actions: []}
  - {name: later-pre, on: image, text: {contains: [late]}, actions: []}
`, []string{
			`rules.yaml:5:5: warning: rule "order1" can never match: rule "pre" (rules.yaml:3) matches every push it would and stops the search (order it earlier with priority, or narrow "pre")`,
			`rules.yaml:6:5: warning: rule "digits" can never match: rule "any-re" (rules.yaml:4) matches every push it would and stops the search (order it earlier with priority, or narrow "any-re")`,
			`rules.yaml:8:5: warning: rule "hello" can never match: rule "pre" (rules.yaml:3) matches every push it would and stops the search (order it earlier with priority, or narrow "pre")`,
		}},
		{"passive responses and disabled rules", `version: 1
rules:
  - name: two-replies
    on: text
    actions:
      - reply: {text: a}
      - transfer: {}
  - name: log-and-answer
    on: click
    continue: true
    actions:
      - reply: {text: first}
  - name: never-sent
    on: click
    key: K
    actions:
      - reply: {text: second}
  - name: bye
    on: unsubscribe
    actions:
      - reply: {text: bye}
  - name: off
    on: image
    enabled: false
    actions: []
  - name: news
    on: [click, text]
    actions:
      - reply: {news: [{title: a}, {title: b}]}
`, []string{
			`rules.yaml:7:9: warning: rule "two-replies": actions[1] (transfer): only one passive response goes back per push; this one is never sent (the earlier one in this rule wins)`,
			`rules.yaml:17:9: warning: rule "never-sent": reply can never be sent: rule "log-and-answer" (rules.yaml:8) always answers these pushes first (only one passive response goes back per push)`,
			`rules.yaml:21:9: warning: rule "bye": actions[0] (reply): nobody sees a passive response to unsubscribe (the user is not in the chat): wxbot drops it`,
			`rules.yaml:22:5: warning: rule "off" is disabled (enabled: false): it is loaded and checked but never matches`,
			`rules.yaml:29:16: warning: rule "news": actions[0] (reply): news: 2 articles, but WeChat shows only the first in answer to a user's message (text)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := rules.Parse("rules.yaml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range l.Diags {
				got = append(got, d.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestPassiveOnPaymentIsAnError(t *testing.T) {
	got := loadErrors(t, "version: 1\nrules:\n  - {name: paid, on: payment, actions: [{reply: {text: thanks}}]}\n")
	want := []string{`rules.yaml:3:42: rule "paid": actions[0] (reply): a payment event takes no passive response (WeChat Pay is answered by the bot, and payments open no kefu window): use template or webhook`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors %q, want %q", got, want)
	}
}

func TestRuleTests(t *testing.T) {
	src := `version: 1
windows:
  office: {weekdays: [mon, tue, wed, thu, fri], hours: "09:00-18:00"}
rules:
  - name: price
    on: text
    text: 价格
    actions:
      - reply: {news: [{title: 价目表}, {title: 二}]}
  - name: after-hours
    on: text
    active: "!office"
    actions:
      - reply: {text: "下班了"}
  - name: human
    on: click
    key: KF
    actions:
      - transfer: {kf_account: a@b}
tests:
  - name: price works
    event: {type: text, content: 价格}
    expect: {rules: [price], actions: [reply], reply: {type: news, news_count: 1, title: 价目表}}
  - name: after hours
    at: "2026-01-05 20:00"
    event: {type: text, content: hi}
    expect: {rules: [after-hours], reply: {text: 下班了}}
  - name: office hours say nothing
    event: {type: text, content: hi}
    expect: {rules: [], reply: none}
  - name: transfer
    event: {type: CLICK, key: KF}
    expect: {reply: {type: transfer, kf_account: a@b}}
  - name: wrong on purpose
    event: {type: text, content: 价格}
    expect: {rules: [after-hours], reply: {contains: 营业}}
`
	l, err := rules.Parse("rules.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	results := l.RunTests(context.Background(), sh)
	var got []string
	for _, r := range results {
		got = append(got, r.Case.Name+": "+strings.Join(r.Failures, "; "))
	}
	want := []string{
		"price works: ",
		"after hours: ",
		"office hours say nothing: ",
		"transfer: ",
		"wrong on purpose: rules: got [price], want [after-hours]; reply.contains: \"营业\" is not in \"\"",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("results:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTestErrors(t *testing.T) {
	got := loadErrors(t, `version: 1
rules:
  - {name: a, on: text, actions: []}
tests:
  - name: t
    event: {type: txt, contnt: x}
    expect: {rules: [b], reply: {typ: text}}
  - event: {type: text}
    when: now
`)
	want := []string{
		`rules.yaml:5:5: test "t": expect.rules: no rule is named "b"`,
		`rules.yaml:6:19: test "t": event.type: unknown event type "txt"`,
		`rules.yaml:6:24: test "t": event: unknown field "contnt" (known: content, format, from, key, kf_account, kf_from, link, location, media_id, msg_id, payment, pic_url, raw, recognition, scan, ticket, to, type)`,
		`rules.yaml:7:34: test "t": expect.reply: unknown field "typ" (known: contains, kf_account, media_id, news_count, text, title, type)`,
		`rules.yaml:8:5: tests[1]: name: required`,
		`rules.yaml:8:5: tests[1]: expect: required (rules, actions, reply and/or state)`,
		`rules.yaml:9:5: tests[1]: unknown field "when" (known: ai_answer, at, event, expect, name, steps, user)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRuleNameWithSlash: expect.actions names the actions that ran, even
// for a rule whose own name has a "/" in it (once parsed out of a
// "rule/action" string, which a reload then refused).
func TestRuleNameWithSlash(t *testing.T) {
	src := `version: 1
rules:
  - name: vip/price
    on: text
    text: 价格
    continue: true
    actions:
      - reply: {text: "VIP 价目表"}
  - name: log/all
    on: text
    actions:
      - kefu: {text: "稍后联系您"}
tests:
  - name: slash
    event: {type: text, content: 价格}
    expect: {rules: [vip/price, log/all], actions: [reply, kefu], reply: {text: "VIP 价目表"}}
`
	l, err := rules.Parse("rules.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range l.RunTests(context.Background(), time.UTC) {
		if len(r.Failures) > 0 {
			t.Errorf("%s: %s", r.Case.Name, strings.Join(r.Failures, "; "))
		}
	}
}

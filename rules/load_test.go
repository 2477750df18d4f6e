package rules_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	_ "github.com/wxbot/wxbot/actions"
	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/rules"
)

// loadErrors parses src and returns its error lines.
func loadErrors(t *testing.T, src string) []string {
	t.Helper()
	_, err := rules.Parse("rules.yaml", []byte(src))
	if err == nil {
		return nil
	}
	var re *rules.Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not *rules.Error", err)
	}
	var out []string
	for _, d := range re.Diags.Errors() {
		out = append(out, d.String())
	}
	return out
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"empty file", ``, []string{
			"rules.yaml:1:1: empty rules file: want `version: 1` and `rules:`"}},
		{"yaml syntax: the line at fault, not the block's first", "version: 1\nrules:\n  - name: a\n   on: text\n", []string{
			"rules.yaml:4:4: YAML: did not find expected '-' indicator: check the indentation of this line against the lines above\n |    on: text\n | ...^"}},
		{"yaml syntax: an unclosed bracket", "version: 1\nrules:\n  - name: a\n    on: text\n    text: {exact: [hi, hello}\n    actions:\n      - reply: {text: hi}\n", []string{
			"rules.yaml:5:19: YAML: this [ is never closed: close it on this line with ]\n |     text: {exact: [hi, hello}\n | ..................^"}},
		{"yaml syntax: a tab", "version: 1\nrules:\n  - name: a\n    on: text\n\tactions:\n      - reply: {text: hi}\n", []string{
			"rules.yaml:5:1: YAML: tabs are not allowed in YAML indentation: indent with spaces\n | →actions:\n | ^"}},
		{"yaml syntax: after a flow over two lines", "version: 1\nrules:\n  - name: a\n    on: [text,\n      image]\n    actions:\n      - reply: {text: hi}\n  - name: b\n   on: text\n", []string{
			"rules.yaml:9:4: YAML: did not find expected '-' indicator: check the indentation of this line against the lines above\n |    on: text\n | ...^"}},
		{"not a mapping", "- a\n- b\n", []string{
			"rules.yaml:1:1: a rules file is a mapping with `version: 1` and `rules:`"}},
		{"missing version", "rules: []\n", []string{
			"rules.yaml:1:1: version: required (write `version: 1` at the top)"}},
		{"wrong version", "version: 2\nrules: []\n", []string{
			`rules.yaml:1:10: version: unsupported version "2" (this wxbot reads version 1)`}},
		{"vars checked, with the nearest name", `version: 1
vars:
  vips: [oA]
  hotline: "400-800"
rules:
  - name: a
    on: text
    when: event.from in vars.vipz
    actions:
      - reply: {text: "call ${vars.hotlin}"}
`, []string{
			`rules.yaml:8:11: rule "a": when: vars has no "vipz"; did you mean "vips"? (known: hotline, vips)`,
			`rules.yaml:10:23: rule "a": actions[0] (reply): text: vars has no "hotlin"; did you mean "hotline"? (known: hotline, vips)`}},
		{"unknown names in the rules' words", `version: 1
rules:
  - name: a
    on: text
    when: evnt.from == "x" || event.location.lt > 1
    actions:
      - reply: {text: hi}
`, []string{
			"rules.yaml:5:11: rule \"a\": when: unknown name \"evnt\"; did you mean \"event\"? (known: active, bucket, event, hour, now, user, vars, weekday) (1:1)\n | evnt.from == \"x\" || event.location.lt > 1\n | ^"}},
		{"unknown top-level field", "version: 1\nrule: []\n", []string{
			`rules.yaml:2:1: unknown field "rule" (known: handoff, rules, tests, vars, version, windows)`}},
		{"a field given twice, in a rule and in a test", `version: 1
rules:
  - name: a
    on: text
    on: click
    actions:
      - reply: {text: hi}
tests:
  - name: t
    event: {type: text}
    event: {type: click}
    expect: {rules: [a]}
`, []string{
			`rules.yaml:5:5: rules[0]: field "on" given twice`,
			`rules.yaml:11:5: tests[0]: field "event" given twice`}},
		{"unknown rule field", `version: 1
rules:
  - name: a
    on: text
    actoins: []
`, []string{
			`rules.yaml:3:5: rule "a": actions: required (a list such as ` + "`- reply: {text: hello}`)",
			`rules.yaml:5:5: rules[0]: unknown field "actoins" (known: actions, active, continue, cooldown, during_handoff, enabled, key, limit, name, on, priority, text, when)`}},
		{"missing name and on", `version: 1
rules:
  - actions: []
`, []string{
			"rules.yaml:3:5: rules[0]: name: required (a unique name; it appears in logs and metrics)",
			`rules.yaml:3:5: rules[0]: on: required (an event type such as text or click, a list of them, or "*")`}},
		{"duplicate name", `version: 1
rules:
  - {name: a, on: text, actions: []}
  - {name: a, on: text, actions: []}
`, []string{
			`rules.yaml:4:12: rule "a": name already used at rules.yaml:3:12`}},
		{"unknown event type", `version: 1
rules:
  - {name: a, on: [text, clik], actions: []}
`, []string{
			`rules.yaml:3:26: rule "a": on: unknown event type "clik" (known: ` + strings.Join(rules.EventTypes, ", ") + `, or "*")`}},
		{"unknown action", `version: 1
rules:
  - name: a
    on: text
    actions:
      - kefu_sned: {text: hi}
`, []string{
			`rules.yaml:6:9: rule "a": actions[0]: unknown action "kefu_sned" (known: ` + strings.Join(engine.ActionNames(), ", ") + `)`}},
		{"bad params", `version: 1
rules:
  - name: a
    on: text
    actions:
      - reply: {txt: hi}
      - reply: {}
      - reply: {text: hi, image: {media_id: M}}
      - transfer: {kf_account: nobody}
      - reply: {news: {description: no title}}
`, []string{
			`rules.yaml:6:17: rule "a": actions[0] (reply): unknown field "txt" (known: image, music, news, text, video, voice)`,
			`rules.yaml:7:16: rule "a": actions[1] (reply): want one of text, image, voice, video, music, news`,
			`rules.yaml:8:16: rule "a": actions[2] (reply): want one reply type, got 2 ([text image]): use one reply action per type`,
			`rules.yaml:9:19: rule "a": actions[3] (transfer): kf_account: "nobody" is not of the form prefix@wechat-id`,
			`rules.yaml:10:16: rule "a": actions[4] (reply): news[0].title: required`}},
		{"one error per mistake", `version: 1
rules:
  - name: a
    on: text
    text: {exactly: [hi]}
    actions:
      - reply: {text: hi}
  - name: b
    on: text
    text: {regex: ["(unclosed"]}
    actions:
      - reply: {text: hi}
  - name: c
    on: text
    text: {exact: []}
    actions:
      - reply: {text: hi}
`, []string{
			`rules.yaml:5:12: rule "a": text: unknown field "exactly" (known: contains, exact, prefix, regex)`,
			"rules.yaml:10:20: rule \"b\": text.regex: error parsing regexp: missing closing ): `(unclosed`",
			`rules.yaml:15:11: rule "c": text: want at least one of exact, contains, prefix or regex`}},
		{"bad regex", `version: 1
rules:
  - name: a
    on: text
    text: {regex: ["ok", "(unclosed"]}
    actions: []
`, []string{
			"rules.yaml:5:26: rule \"a\": text.regex: error parsing regexp: missing closing ): `(unclosed`"}},
		{"when does not compile", `version: 1
rules:
  - name: a
    on: text
    when: 'event.contnt == "x"'
    actions: []
`, []string{
			"rules.yaml:5:18: rule \"a\": when: event has no field \"contnt\"; did you mean \"content\"? (1:7)\n | event.contnt == \"x\"\n | ......^"}},
		{"when is not bool", `version: 1
rules:
  - name: a
    on: text
    when: event.content
    actions: []
`, []string{
			"rules.yaml:5:11: rule \"a\": when: expected bool, but got string"}},
		{"interpolation errors", `version: 1
rules:
  - name: a
    on: text
    actions:
      - reply: {text: "hi ${event.nme}"}
      - reply: {text: "hi ${event.from"}
`, []string{
			"rules.yaml:6:35: rule \"a\": actions[0] (reply): text: in ${…}: event has no field \"nme\"; did you mean \"time\"? (1:7)\n | event.nme\n | ......^",
			`rules.yaml:7:27: rule "a": actions[1] (reply): text: in ${…}: unterminated "${": close it with "}" or write "$${" for a literal`}},
		{"wrong types", `version: 1
rules:
  - name: a
    on: text
    priority: high
    continue: yes
    key: {a: b}
    actions: {reply: {text: hi}}
`, []string{
			`rules.yaml:5:15: rule "a": priority: want a whole number, got "high"`,
			`rules.yaml:6:15: rule "a": continue: want true or false, got "yes"`,
			`rules.yaml:7:10: rule "a": key: want a string, got a mapping`,
			"rules.yaml:8:14: rule \"a\": actions: want a list such as `- reply: {text: hello}`"}},
		{"windows, active and cooldown", `version: 1
windows:
  office: {weekdays: [mon, fun], hours: ["09:00-18:00", "9-18"]}
  sale: {from: "2026-11-12", until: "2026-11-11"}
  typo: {weekday: [mon]}
rules:
  - name: a
    on: text
    active: ["!office", "night"]
    when: active("offce") || active("sale")
    cooldown: 500ms
    actions: []
  - name: b
    on: text
    cooldown: soon
    actions: []
`, []string{
			`rules.yaml:3:28: window "office": weekdays: unknown weekday "fun" (want mon, tue, wed, thu, fri, sat or sun)`,
			`rules.yaml:3:57: window "office": hours: hours "9-18": "9" is not a time of day (HH:MM)`,
			`rules.yaml:4:37: window "sale": until: 2026-11-11 is not after from 2026-11-12`,
			`rules.yaml:5:10: window "typo": unknown field "weekday" (known: from, hours, until, weekdays)`,
			`rules.yaml:9:25: rule "a": active: unknown window "night" (known: office, sale)`,
			`rules.yaml:10:11: rule "a": when: active: unknown window "offce" (known: office, sale)`,
			`rules.yaml:11:15: rule "a": cooldown: 500ms is less than a second; did you mean 500s?`,
			`rules.yaml:15:15: rule "b": cooldown: want a duration such as "500ms", "2s" or "30m", got "soon"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loadErrors(t, tt.src)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

const sample = `version: 1
vars:
  hotline: "400-000-0000"
rules:
  - name: welcome
    on: subscribe
    actions:
      - reply: {text: "欢迎关注! 回复 1 查看菜单"}
  - name: price
    on: text
    text: {exact: ["价格", "Price"], contains: ["多少钱"]}
    actions:
      - reply: {news: [{title: "价目表", description: "...", url: "https://example.com/p", pic_url: "https://example.com/p.png"}]}
  - name: online-kf
    on: CLICK
    key: ONLINE_KF
    actions:
      - transfer: {kf_account: "test1@kftest"}
  - name: code
    on: text
    text: {regex: '^\d{6}$'}
    when: 'event.raw.MsgType == "text"'
    priority: 10
    continue: true
    enabled: false
    actions:
      - reply: {text: ["a ${vars.hotline}", "b ${vars.hotline}"]}
`

func TestLoadSample(t *testing.T) {
	l, err := rules.Parse("rules.yaml", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	set := l.Set
	if got := len(set.Rules); got != 4 {
		t.Fatalf("%d rules, want 4", got)
	}
	price := set.Rules[1]
	if want := []string{"价格", "price"}; !reflect.DeepEqual(price.Text.Exact, want) {
		t.Errorf("exact %q, want normalized %q", price.Text.Exact, want)
	}
	if kf := set.Rules[2]; !reflect.DeepEqual(kf.On, []string{"click"}) || !reflect.DeepEqual(kf.Keys, []string{"ONLINE_KF"}) {
		t.Errorf("online-kf on %v keys %v", kf.On, kf.Keys)
	}
	code := set.Rules[3]
	if !code.Disabled || !code.Continue || code.Priority != 10 || code.When == nil || len(code.Text.Regex) != 1 {
		t.Errorf("code rule not fully loaded: %+v", code)
	}
	if !set.NeedsRaw {
		t.Error("NeedsRaw not set though a condition reads event.raw")
	}
	if set.Vars["hotline"] != "400-000-0000" {
		t.Errorf("vars %v", set.Vars)
	}
	if set.Hash == "" || set.Source != "rules.yaml" {
		t.Errorf("hash %q source %q", set.Hash, set.Source)
	}

	// It runs: the news reply to a text message, the transfer to a click.
	e := engine.New(engine.Options{})
	e.SetRules(set)
	res, err := e.Dispatch(&engine.Event{Type: "text", Content: "这个多少钱"}).Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Reply == nil || res.Reply.Type != "news" || res.Reply.Articles[0].Title != "价目表" {
		t.Errorf("price reply %+v", res.Reply)
	}
	res, _ = e.Dispatch(&engine.Event{Type: "click", Key: "ONLINE_KF"}).Finish(context.Background())
	if res.Reply == nil || res.Reply.Type != "transfer_customer_service" || res.Reply.KfAccount != "test1@kftest" {
		t.Errorf("transfer reply %+v", res.Reply)
	}
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("10-base.yaml", "version: 1\nvars: {a: 1}\nrules:\n  - {name: one, on: text, actions: []}\n")
	write("20-more.yaml", "version: 1\nrules:\n  - {name: two, on: click, actions: []}\n")
	write("README.md", "not rules")
	l, err := rules.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(l.Set.Rules); got != 2 || l.Set.Rules[0].Name != "one" || l.Set.Rules[1].Name != "two" {
		t.Errorf("rules %v, want one then two", l.Set.Rules)
	}

	write("30-dup.yaml", "version: 1\nvars: {a: 2}\nrules:\n  - {name: one, on: text, actions: []}\n")
	_, err = rules.Load(dir)
	dup := filepath.Join(dir, "30-dup.yaml")
	want := dup + `:2:8: vars: "a" already defined at ` + filepath.Join(dir, "10-base.yaml") + ":2:8\n" +
		dup + `:4:12: rule "one": name already used at ` + filepath.Join(dir, "10-base.yaml") + ":4:12"
	var re *rules.Error
	if !errors.As(err, &re) || re.Diags.Errors().String() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
}

func TestLoadMissingPath(t *testing.T) {
	_, err := rules.Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "set --rules") {
		t.Errorf("err = %v, want a hint about --rules", err)
	}
}

// TestLoadDirectoryWithMenu: the layout the README suggests, rules.yaml and
// menu.yaml side by side, loads as a rules directory; a menu given as the
// rules file says what it is.
func TestLoadDirectoryWithMenu(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"rules.yaml": "version: 1\nrules:\n  - {name: one, on: click, key: K, actions: []}\n",
		"menu.yaml":  "button:\n  - {type: click, name: 客服, key: K}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := rules.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Set.Rules) != 1 || len(l.Files) != 1 || filepath.Base(l.Files[0]) != "rules.yaml" {
		t.Errorf("rules %d, files %v; want the one rule from rules.yaml", len(l.Set.Rules), l.Files)
	}
	_, err = rules.Load(filepath.Join(dir, "menu.yaml"))
	if err == nil || !strings.Contains(err.Error(), "this is a custom menu (button:), not rules") {
		t.Errorf("a menu as the rules file: %v", err)
	}
	os.Remove(filepath.Join(dir, "rules.yaml"))
	if _, err := rules.Load(dir); err == nil || !strings.Contains(err.Error(), "has no rules file, only menus") {
		t.Errorf("a directory of menus: %v", err)
	}
}

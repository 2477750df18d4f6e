package console

import (
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestOperatorsKeywordComesFirst: a keyword an operator's rule answers is
// refused, naming the rule and where it is, in the marketer's language;
// nothing is written. The operator's file is rules.yaml here, but the
// answer does not depend on file names.
func TestOperatorsKeywordComesFirst(t *testing.T) {
	for _, tt := range []struct {
		name, lang, file, want string
	}{
		{"English, operators in rules.yaml", "en", "rules.yaml", `"价格" is answered by the operators' rule price (rules.yaml:3), which comes first`},
		{"Chinese, operators in aa-ops.yaml", "zh-CN", "aa-ops.yaml", "「价格」已由运营规则 price 回复（aa-ops.yaml:3）"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			if tt.file != "rules.yaml" {
				files["rules.yaml"] = "version: 1\nrules: []\n"
				data, err := os.ReadFile("testdata/rules.yaml")
				if err != nil {
					t.Fatal(err)
				}
				files[tt.file] = string(data)
			}
			h := newHarness(t, files, func(c *Config) { c.Lang = tt.lang })
			h.t = t
			b := h.browser()
			b.login("alice")
			b.post("/keywords", url.Values{"keywords": {"0"}, "op": {"kw-add"}})
			id := b.draft().Keywords[0].ID
			code, body := b.post("/keywords", url.Values{"keywords": {"1"}, "k0.id": {id}, "k0.match": {"exact"},
				"k0.words": {"价格"}, "k0.r.kind": {"text"}, "k0.r.text": {"最新价目"}, "op": {"publish"}})
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, html(tt.want)) {
				t.Errorf("publish of an operator's keyword: %d, want 422 with %q:\n%s", code, tt.want, body)
			}
			if h.file(ConsoleFile) != "" {
				t.Errorf("console.yaml written:\n%s", h.file(ConsoleFile))
			}
		})
	}
}

// TestOperatorsWhenComesFirst: an operator's rule that takes the word by
// its when: (no text gate to compare) is found by answering the word, and
// the refusal names it in the marketer's terms, not as a failed test.
func TestOperatorsWhenComesFirst(t *testing.T) {
	h := newHarness(t, map[string]string{"zz-ops.yaml": `version: 1
rules:
  - name: invoices
    on: text
    when: 'event.content contains "发票"'
    actions:
      - reply: {text: 请联系财务}
`}, func(c *Config) { c.Lang = "" })
	b := h.browser()
	b.login("alice")
	code, body := b.post("/keywords", url.Values{"keywords": {"1"}, "k0.match": {"exact"},
		"k0.words": {"开发票"}, "k0.r.kind": {"text"}, "k0.r.text": {"请在小程序开票"}, "op": {"publish"}})
	want := "「开发票」已由运营规则 invoices 回复（zz-ops.yaml:3）"
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, html(want)) || strings.Contains(body, "规则测试未通过") {
		t.Errorf("publish of a word an operator's when: takes: %d, want 422 with only %q:\n%s", code, want, body)
	}
	if h.file(ConsoleFile) != "" {
		t.Errorf("console.yaml written:\n%s", h.file(ConsoleFile))
	}
}

// TestConsoleRuleNames: the console's rules are named after what they
// answer, and files written with the old names are still read.
func TestConsoleRuleNames(t *testing.T) {
	h := newHarness(t, map[string]string{ConsoleFile: Header + `
version: 1
rules:
  - name: console-keyword-5e069beb
    on: text
    text: {exact: [营业时间]}
    actions:
      - reply: {text: ["9:00-18:00"]}
`})
	b := h.browser()
	b.login("alice")
	disk, _ := readOnDisk(h.dir)
	if d, err := disk.draft(); err != nil || len(d.Keywords) != 1 || d.Keywords[0].ID != "5e069beb" {
		t.Fatalf("an old-named keyword reply read back: %+v %v", d, err)
	}
	b.post("/keywords", url.Values{"keywords": {"1"}, "k0.id": {"5e069beb"}, "k0.match": {"exact"}, "k0.words": {"营业时间"},
		"k0.r.kind": {"text"}, "k0.r.text": {"9:00-18:00"}, "op": {"kw-add"}})
	d := b.draft()
	code, body := b.post("/keywords", url.Values{"keywords": {"2"},
		"k0.id": {d.Keywords[0].ID}, "k0.match": {"exact"}, "k0.words": {"营业时间"}, "k0.r.kind": {"text"}, "k0.r.text": {"9:00-18:00"},
		"k1.id": {d.Keywords[1].ID}, "k1.match": {"contains"}, "k1.words": {"营业时间表"}, "k1.r.kind": {"text"}, "k1.r.text": {"见官网"},
		"op": {"publish"}})
	if code != http.StatusOK {
		t.Fatalf("publish: %d\n%s", code, body)
	}
	got := h.file(ConsoleFile)
	for _, want := range []string{"name: 'console: 关键词 营业时间'", "name: 'console: 关键词 营业时间表'"} {
		if !strings.Contains(got, want) {
			t.Errorf("console.yaml lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "console-keyword-") {
		t.Errorf("console.yaml keeps an old name:\n%s", got)
	}
	if _, body, _ := b.do("GET", "/activity", nil); !strings.Contains(body, "console: 关键词 营业时间") {
		t.Errorf("the activity page does not name the rule by its keyword:\n%s", body)
	}
}

var versionField = regexp.MustCompile(`name="version" value="([^"]*)"`)

// TestStalePageConflicts: two marketers load the keywords page; the first
// publishes; the second's form, from the page as it was, is refused with
// 409 naming who published, and the first one's reply stays.
func TestStalePageConflicts(t *testing.T) {
	h := newHarness(t, nil)
	alice, bob := h.browser(), h.browser()
	alice.login("alice")
	bob.login("bob")
	_, page, _ := bob.do("GET", "/keywords", nil)
	m := versionField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the keywords form carries no version:\n%s", page)
	}
	alice.post("/keywords", url.Values{"keywords": {"0"}, "op": {"kw-add"}})
	id := alice.draft().Keywords[0].ID
	if code, body := alice.post("/keywords", url.Values{"keywords": {"1"}, "k0.id": {id}, "k0.match": {"exact"},
		"k0.words": {"营业时间"}, "k0.r.kind": {"text"}, "k0.r.text": {"9:00-18:00"}, "op": {"publish"}}); code != http.StatusOK {
		t.Fatalf("alice's publish: %d\n%s", code, body)
	}
	code, body := bob.post("/keywords", url.Values{"version": {m[1]}, "keywords": {"1"}, "k0.id": {"abcd"}, "k0.match": {"exact"},
		"k0.words": {"地址"}, "k0.r.kind": {"text"}, "k0.r.text": {"北京路 1 号"}, "op": {"publish"}})
	if code != http.StatusConflict || !strings.Contains(body, "alice") {
		t.Errorf("bob's publish from a stale page: %d, want 409 naming alice:\n%s", code, body)
	}
	if got := h.file(ConsoleFile); !strings.Contains(got, "营业时间") || strings.Contains(got, "地址") {
		t.Errorf("console.yaml after the conflict:\n%s", got)
	}
}

// TestOperatorsKeyComesFirst: a reply for a menu key an operator's rule
// answers (rules.yaml's human, key ONLINE_KF) is refused in the
// marketer's terms, naming the rule; a key an operator's rule for every
// click would answer is the marketer's (the console's rules come before
// such a fallback).
func TestOperatorsKeyComesFirst(t *testing.T) {
	for _, tt := range []struct {
		name, lang, want string
	}{
		{"Chinese", "", "菜单「客服」：key ONLINE_KF 已由运营规则 human 回复（rules.yaml:8），运营规则优先"},
		{"English", "en", `button "客服": key ONLINE_KF is answered by the operators' rule human (rules.yaml:8), which comes first`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, map[string]string{"zz-fallback.yaml": "version: 1\nrules:\n  - name: any click\n    on: click\n    actions: [{reply: {text: 请稍候}}]\n"},
				func(c *Config) { c.Lang = tt.lang })
			h.t = t
			b := h.browser()
			b.login("alice")
			code, body := b.post("/menu", publishForm("客服", "ONLINE_KF", "请拨打 400"))
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, html(tt.want)) || strings.Contains(body, "failed:") {
				t.Errorf("a reply for an operator's key: %d, want 422 with only %q:\n%s", code, tt.want, body)
			}
			if h.file(ConsoleFile) != "" {
				t.Errorf("console.yaml written:\n%s", h.file(ConsoleFile))
			}
			if code, body := b.post("/menu", publishForm("优惠", "PROMO", "本周优惠")); code != http.StatusOK {
				t.Errorf("a key only the operators' fallback answers: %d\n%s", code, body)
			}
		})
	}
}

// TestOperatorsWindowedKeyComesFirst: an operator's rule for a key only in
// its window is the key's whatever the hour of the publish: refused
// outside the window as inside.
func TestOperatorsWindowedKeyComesFirst(t *testing.T) {
	h := newHarness(t, map[string]string{"ops.yaml": `version: 1
windows:
  past: {from: "2001-01-01", until: "2001-01-02"}
rules:
  - name: new year
    on: click
    key: GIFT
    active: past
    actions: [{reply: {text: 新年礼物}}]
`})
	b := h.browser()
	b.login("alice")
	code, body := b.post("/menu", publishForm("礼物", "GIFT", "本周礼物"))
	want := `button "礼物": key GIFT is answered by the operators' rule new year (ops.yaml:5), which comes first`
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, html(want)) {
		t.Errorf("a reply for a key an operator's rule takes in its window: %d, want 422 with %q:\n%s", code, want, body)
	}
}

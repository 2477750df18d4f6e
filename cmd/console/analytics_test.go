package console

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wxbot/wxbot/engine"
)

// push dispatches a live push to the harness's engine, as the callback
// would.
func (h *harness) push(ev *engine.Event) {
	h.t.Helper()
	if _, err := h.eng.Dispatch(ev).Finish(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

// sorryRules are the harness's rules with a rule for any text at the end:
// what it answers is still unanswered.
const sorryRules = `version: 1
rules:
  - name: price
    on: text
    text: {exact: ["价格"]}
    actions:
      - reply: {text: 见价目表}
  - name: contact
    on: click
    key: CONTACT
    actions:
      - reply: {text: 电话 123}
  - name: sorry
    on: text
    actions:
      - reply: {text: 抱歉，没听懂}
`

// TestUnansweredPage: the texts no rule answered (a catch-all's included)
// are listed the most asked first, and the button starts a keyword reply
// that, once published, answers them; the page then says so.
func TestUnansweredPage(t *testing.T) {
	h := newHarness(t, map[string]string{"rules.yaml": sorryRules})
	for _, text := range []string{"发票", "发票 ", "营业时间", "价格", "发票", "<b>营业时间</b>"} {
		h.push(&engine.Event{Type: "text", From: "oA", Content: text})
	}
	h.push(&engine.Event{Type: "text", From: "oB", Content: strings.Repeat("很长", 20)})
	h.push(&engine.Event{Type: "click", From: "oB", Key: "CONTACT"})
	b := h.browser()
	b.login("alice")
	code, body, _ := b.do("GET", "/unanswered", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /unanswered: %d\n%s", code, body)
	}
	rows := regexp.MustCompile(`<td class="said">([^<]*)</td><td class="num">(\d+)</td>`).FindAllStringSubmatch(body, -1)
	var got []string
	for _, m := range rows {
		got = append(got, m[1]+"="+m[2])
	}
	want := []string{"发票=3", "&lt;b&gt;营业时间&lt;/b&gt;=1", "营业时间=1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("rows %q, want %q", got, want)
	}
	for _, w := range []string{"6 unanswered messages", "1 of them are longer"} {
		if !strings.Contains(body, w) {
			t.Errorf("no %q on the page", w)
		}
	}
	if strings.Contains(body, ">价格<") {
		t.Error("a text a rule answered is listed")
	}

	// The button: a keyword reply for 发票 in the draft, then published.
	code, body = b.post("/keywords", url.Values{"op": {"kw-new"}, "word": {"发票"}})
	if code != http.StatusOK || !strings.Contains(body, ">发票</textarea>") {
		t.Fatalf("kw-new: %d\n%s", code, body)
	}
	_, body, _ = b.do("GET", "/unanswered", nil)
	if !strings.Contains(body, "in your draft") {
		t.Error("the row started is not marked as in the draft")
	}
	code, body = b.post("/keywords", url.Values{"keywords": {"1"}, "k0.match": {"exact"}, "k0.words": {"发票"},
		"k0.r.kind": {"text"}, "k0.r.text": {"请在小程序开票"}, "op": {"publish"}})
	if code != http.StatusOK {
		t.Fatalf("publish: %d\n%s", code, body)
	}
	if data, _ := os.ReadFile(filepath.Join(h.dir, ConsoleFile)); !strings.Contains(string(data), "发票") {
		t.Fatalf("console.yaml has no 发票:\n%s", data)
	}
	h.push(&engine.Event{Type: "text", From: "oC", Content: "发票"})
	_, body, _ = b.do("GET", "/unanswered", nil)
	if !strings.Contains(body, "answered now by console: 关键词 发票") {
		t.Errorf("the row answered since is not marked so:\n%s", body)
	}
	if !strings.Contains(body, ">3</td>") { // the new push was answered: still 3
		t.Error("the count of 发票 changed after it was answered")
	}
}

// TestAnalyticsPage: the charts are SVG drawn on the server from the daily
// counters, with the top texts, menu taps (named after their buttons)
// and rules, in both languages.
func TestAnalyticsPage(t *testing.T) {
	h := newHarness(t, map[string]string{"rules.yaml": sorryRules})
	for range 3 {
		h.push(&engine.Event{Type: "text", From: "oA", Content: "价格"})
	}
	h.push(&engine.Event{Type: "text", From: "oA", Content: "发票"})
	h.push(&engine.Event{Type: "click", From: "oB", Key: "CONTACT"})
	h.push(&engine.Event{Type: "subscribe", From: "oB"})
	b := h.browser()
	b.login("alice")
	code, body, _ := b.do("GET", "/analytics", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /analytics: %d\n%s", code, body)
	}
	for _, w := range []string{
		`<h1>Analytics`, `id="push-total">6 in all`, `<svg class="chart"`,
		`<title>价格: 3</title>`, `<title>发票: 1</title>`, `<title>CONTACT: 1</title>`,
		`<title>price: 3</title>`, `<title>sorry: 1</title>`, `<title>contact: 1</title>`,
		`0 answered, 0 apologies`, `0 transferred`,
	} {
		if !strings.Contains(body, w) {
			t.Errorf("no %q on the page", w)
		}
	}
	// no script from outside, none in the charts: the console's own
	// script (the layout's byte counters) is the only one
	if strings.Count(body, "<script") != strings.Count(body, `<script src="/static/console.js"`) || strings.Contains(body, "http://") {
		t.Error("the page loads a script or a resource from elsewhere")
	}
	// The one bar of today holds the 6 pushes, the other 29 none.
	if n := strings.Count(body, ": 0</title></rect>"); n < 29 {
		t.Errorf("%d empty days drawn, want at least 29", n)
	}
}

// TestAnalyticsInChinese: the default language.
func TestAnalyticsInChinese(t *testing.T) {
	h := newHarness(t, map[string]string{"rules.yaml": sorryRules}, func(c *Config) { c.Lang = "" })
	h.push(&engine.Event{Type: "text", From: "oA", Content: "发票"})
	b := h.browser()
	b.login("alice")
	for path, want := range map[string][]string{
		"/analytics":  {"<h1>数据", "每日消息与事件", "热门文字", "热门菜单点击", "回复最多的规则", "转人工客服", "共 1 条"},
		"/unanswered": {"<h1>未回复", "添加关键词回复", "粉丝发送", "7 天内共 1 条未回复消息"},
	} {
		code, body, _ := b.do("GET", path, nil)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", path, code)
		}
		checkChinese(t, path, body, want...)
	}
}

// TestAnalyticsCSV: the 30 days' counters as CSV, a follower's text that
// looks like a formula kept as text.
func TestAnalyticsCSV(t *testing.T) {
	h := newHarness(t, map[string]string{"rules.yaml": sorryRules})
	h.push(&engine.Event{Type: "text", From: "oA", Content: "价格"})
	h.push(&engine.Event{Type: "text", From: "oA", Content: "=HYPERLINK(\"x\")"})
	b := h.browser()
	b.login("alice")
	code, body, hdr := b.do("GET", "/analytics.csv", nil)
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || !strings.Contains(hdr.Get("Content-Disposition"), "attachment") {
		t.Fatalf("GET /analytics.csv: %d %v\n%s", code, hdr, body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows[1:] {
		got[r[1]+"/"+r[2]] = r[3]
	}
	for k, want := range map[string]string{"push/text": "2", "text/价格": "1", "rule/price": "1", "unanswered/'=hyperlink(\"x\")": "1"} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], want, got)
		}
	}
	if strings.Join(rows[0], ",") != "day,kind,name,count" {
		t.Errorf("header %v", rows[0])
	}
}

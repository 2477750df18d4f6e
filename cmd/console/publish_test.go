package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/rules"
)

// menuForm is the menu page's form for one click button with a text reply.
func menuForm(name, key, text string) url.Values {
	return url.Values{"buttons": {"1"}, "b0.name": {name}, "b0.type": {"click"}, "b0.key": {key},
		"b0.r.kind": {"text"}, "b0.r.text": {text}}
}

// publishForm is menuForm with Publish pressed.
func publishForm(name, key, text string) url.Values {
	f := menuForm(name, key, text)
	f.Set("op", "publish")
	return f
}

func TestPublishMenu(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser()
	b.login("alice")
	form := menuForm("优惠", "PROMO", "本周优惠: 满100减20 ${not an expression}")
	form.Set("op", "test")
	code, body := b.post("/menu", form)
	if code != http.StatusOK || !strings.Contains(body, "Test passed") {
		t.Fatalf("test: %d\n%s", code, body)
	}
	if h.file(ConsoleFile) != "" || h.menu.count() != 0 {
		t.Fatal("Test wrote or pushed")
	}
	// Publish takes the draft kept by Test.
	code, body = b.post("/menu", publishForm("优惠", "PROMO", "本周优惠: 满100减20 ${not an expression}"))
	if code != http.StatusOK || !strings.Contains(body, "Published") {
		t.Fatalf("publish: %d\n%s", code, body)
	}
	if got := h.file(ConsoleFile); !strings.HasPrefix(got, Header+"\n") || !strings.Contains(got, "console: 菜单 PROMO") {
		t.Errorf("console.yaml:\n%s", got)
	}
	if got := h.file(MenuFile); !strings.HasPrefix(got, MenuHeader+"\n") {
		t.Errorf("menu.yaml:\n%s", got)
	}
	if h.menu.count() != 1 || h.menu.pushed[0].Buttons[0].Key != "PROMO" {
		t.Errorf("pushed %+v", h.menu.pushed)
	}
	// Live: the running rules answer the key, the "${" as written.
	e := h.srv.single().dryRun(t.Context(), &rules.EventDoc{Type: "click", Key: "PROMO"}, nil)
	if e.Reply == nil || e.Reply.Content != "本周优惠: 满100减20 ${not an expression}" {
		t.Errorf("live reply %+v", e)
	}
	audit := h.file(AuditFile)
	if !strings.Contains(audit, `"user":"alice"`) || !strings.Contains(audit, "+ ") || !strings.Contains(audit, `"menu_pushed":true`) {
		t.Errorf("audit:\n%s", audit)
	}
	// The page now shows what is live, and the draft round-trips.
	_, body, _ = b.do("GET", "/menu", nil)
	if strings.Contains(body, "unpublished changes") || !strings.Contains(body, "满100减20") {
		t.Errorf("menu page after publish:\n%s", body)
	}
}

func TestPublishRefused(t *testing.T) {
	sixSubs := url.Values{"buttons": {"1"}, "b0.name": {"更多"}, "b0.subs": {"6"}}
	for j := range 6 {
		p := "b0.s" + string(rune('0'+j))
		sixSubs.Set(p+".name", "子菜单"+string(rune('A'+j)))
		sixSubs.Set(p+".type", "view")
		sixSubs.Set(p+".url", "https://example.com/"+string(rune('a'+j)))
	}
	tests := []struct {
		name string
		form url.Values
		want string
	}{
		{"a 6th sub-button", sixSubs, `button[0] "更多": 6 sub-buttons: at most 5`},
		{"an empty reply", menuForm("优惠", "PROMO", "  "), `button "优惠": the reply text is empty`},
		{"a name over 16 bytes", menuForm("一二三四五六", "PROMO", "hi"), "name is 18 bytes, at most 16"},
		{"a key without a response", url.Values{"buttons": {"1"}, "b0.name": {"新品"}, "b0.type": {"click"}, "b0.key": {"NEW"}},
			`button "新品" (key NEW) has no response`},
		{"a 4th button", url.Values{"buttons": {"4"}, "b0.name": {"a"}, "b0.type": {"view"}, "b0.url": {"https://a.example"},
			"b1.name": {"b"}, "b1.type": {"view"}, "b1.url": {"https://b.example"}, "b2.name": {"c"}, "b2.type": {"view"}, "b2.url": {"https://c.example"},
			"b3.name": {"d"}, "b3.type": {"view"}, "b3.url": {"https://d.example"}}, "4 top-level buttons: at most 3"},
		{"a news article without a link", url.Values{"buttons": {"1"}, "b0.name": {"新闻"}, "b0.type": {"click"}, "b0.key": {"NEWS"},
			"b0.r.kind": {"news"}, "b0.r.title": {"标题"}}, "the article needs a link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			b := h.browser()
			b.login("alice")
			for _, op := range []string{"test", "publish"} {
				tt.form.Set("op", op)
				code, body := b.post("/menu", tt.form)
				if code != http.StatusUnprocessableEntity || !strings.Contains(body, html(tt.want)) {
					t.Errorf("%s: %d, want 422 with %q\n%s", op, code, tt.want, body)
				}
			}
			if h.file(ConsoleFile) != "" || h.file(MenuFile) != "" || h.file(AuditFile) != "" || h.menu.count() != 0 {
				t.Errorf("a refused change changed something: console.yaml %q, menu.yaml %q, %d pushes", h.file(ConsoleFile), h.file(MenuFile), h.menu.count())
			}
		})
	}
}

// html is s as html/template writes it in a page.
func html(s string) string {
	return strings.NewReplacer(`"`, "&#34;", "'", "&#39;", "<", "&lt;", ">", "&gt;", "&", "&amp;").Replace(s)
}

// A marketer's "contains" keyword that an operator's exact word also
// holds is published, and the operator's rule still answers its word:
// the operators' rules with a condition come first, whatever the files
// are called (rules.placeConsole); the marketer's answers the rest.
func TestContainsKeywordLeavesOperatorsWord(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser()
	b.login("alice")
	code, body := b.post("/keywords", url.Values{"keywords": {"1"}, "k0.id": {"0a1b2c3d"}, "k0.match": {"contains"},
		"k0.words": {"价"}, "k0.r.kind": {"text"}, "k0.r.text": {"打折中"}, "op": {"publish"}})
	if code != http.StatusOK {
		t.Fatalf("%d\n%s", code, body)
	}
	for text, want := range map[string]string{"价格": "price", "价钱": "console: 关键词 价"} {
		res, err := h.eng.Dispatch(&engine.Event{Type: "text", From: "oA", Content: text}).Finish(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rules) == 0 || res.Rules[0].Name != want {
			t.Errorf("%s: answered by %v, want %s", text, res.Rules, want)
		}
	}
}

func TestPublishConflict(t *testing.T) {
	h := newHarness(t, nil)
	alice, bob := h.browser(), h.browser()
	alice.login("alice")
	bob.login("bob")
	// Both begin from the same files.
	alice.post("/keywords", url.Values{"keywords": {"1"}, "k0.id": {"aa"}, "k0.match": {"exact"}, "k0.words": {"你好"},
		"k0.r.kind": {"text"}, "k0.r.text": {"你好呀"}, "op": {"kw-add"}})
	bob.post("/keywords", url.Values{"keywords": {"1"}, "k0.id": {"bb"}, "k0.match": {"exact"}, "k0.words": {"再见"},
		"k0.r.kind": {"text"}, "k0.r.text": {"下次见"}, "op": {"kw-add"}})
	if code, body := alice.post("/keywords", url.Values{"keywords": {"1"}, "k0.id": {"aa"}, "k0.match": {"exact"},
		"k0.words": {"你好"}, "k0.r.kind": {"text"}, "k0.r.text": {"你好呀"}, "op": {"publish"}}); code != http.StatusOK {
		t.Fatalf("alice: %d\n%s", code, body)
	}
	first := h.file(ConsoleFile)
	code, body := bob.post("/keywords", url.Values{"keywords": {"1"}, "k0.id": {"bb"}, "k0.match": {"exact"},
		"k0.words": {"再见"}, "k0.r.kind": {"text"}, "k0.r.text": {"下次见"}, "op": {"publish"}})
	if code != http.StatusConflict || !strings.Contains(body, "Conflict: alice at 10:00:00 published") {
		t.Fatalf("bob: %d\n%s", code, body)
	}
	if h.file(ConsoleFile) != first {
		t.Error("the second publish overwrote the first")
	}
	// Discarding shows bob what is live; his publish then goes through.
	if _, body := bob.post("/keywords", url.Values{"op": {"discard"}}); !strings.Contains(body, "你好呀") {
		t.Errorf("after discard:\n%s", body)
	}
	code, _ = bob.post("/keywords", url.Values{"keywords": {"2"}, "k0.id": {"aa"}, "k0.match": {"exact"}, "k0.words": {"你好"},
		"k0.r.kind": {"text"}, "k0.r.text": {"你好呀"}, "k1.id": {"bb"}, "k1.match": {"exact"}, "k1.words": {"再见"},
		"k1.r.kind": {"text"}, "k1.r.text": {"下次见"}, "op": {"publish"}})
	if code != http.StatusOK || !strings.Contains(h.file(ConsoleFile), "下次见") || !strings.Contains(h.file(ConsoleFile), "你好呀") {
		t.Errorf("bob again: %d\n%s", code, h.file(ConsoleFile))
	}
}

func TestOperatorsMenuIsReadOnly(t *testing.T) {
	operators := "button:\n  - {type: click, name: 客服, key: ONLINE_KF}\n  - {type: click, name: 活动, key: EVENTS}\n"
	h := newHarness(t, map[string]string{MenuFile: operators})
	b := h.browser()
	b.login("alice")
	_, body, _ := b.do("GET", "/menu", nil)
	if !strings.Contains(body, "was written by an operator") || !strings.Contains(body, html("Also answered by the operators' rule human (rules.yaml:8)")) {
		t.Fatalf("menu page:\n%s", body)
	}
	// The buttons' names cannot be changed, the responses can.
	code, body := b.post("/menu", url.Values{"buttons": {"1"}, "b0.name": {"改名"}, "b1.r.kind": {"text"}, "b1.r.text": {"周末活动"}, "op": {"publish"}})
	if code != http.StatusOK {
		t.Fatalf("%d\n%s", code, body)
	}
	if h.file(MenuFile) != operators || h.menu.count() != 0 {
		t.Errorf("the operator's menu was rewritten or pushed: %q", h.file(MenuFile))
	}
	if e := h.srv.single().dryRun(t.Context(), &rules.EventDoc{Type: "click", Key: "EVENTS"}, nil); e.Reply == nil || e.Reply.Content != "周末活动" {
		t.Errorf("EVENTS answers %+v", e)
	}
}

func TestRulesFileIsReadOnly(t *testing.T) {
	h := newHarness(t, nil)
	ro, err := New(Config{Rules: filepath.Join(h.dir, "rules.yaml"), Users: h.srv.cfg.Users, Engine: h.eng, Reloader: h.srv.cfg.Reloader, Lang: "en"})
	if err != nil {
		t.Fatal(err)
	}
	h.ts.Config.Handler = ro
	b := h.browser()
	b.login("alice")
	code, body := b.post("/menu", publishForm("优惠", "PROMO", "hi"))
	if code != http.StatusConflict || !strings.Contains(body, "--rules "+filepath.Join(h.dir, "rules.yaml")+" is a file") {
		t.Errorf("%d\n%s", code, body)
	}
	if _, err := os.Stat(filepath.Join(h.dir, ConsoleFile)); err == nil {
		t.Error("console.yaml written beside a rules file")
	}
	// Unanswered lists the texts, with no button to start a reply.
	h.push(&engine.Event{Type: "text", From: "oA", Content: "发票"})
	if _, body, _ := b.do("GET", "/unanswered", nil); !strings.Contains(body, ">发票</td>") || strings.Contains(body, `value="kw-new"`) || !strings.Contains(body, "is a file") {
		t.Errorf("the unanswered page of a read-only console:\n%s", body)
	}
}

func TestMenuEdits(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser()
	b.login("alice")
	form := url.Values{"buttons": {"2"}, "b0.name": {"A"}, "b0.type": {"click"}, "b0.key": {"KA"}, "b0.r.kind": {"text"}, "b0.r.text": {"a"},
		"b1.name": {"B"}, "b1.type": {"view"}, "b1.url": {"https://b.example"}}
	steps := []struct {
		op   string
		want string // the buttons in order, sub-buttons in brackets
	}{
		{"down:b0", "B A"},
		{"addsub:b1", "B A[:KA]"}, // A becomes a parent; its tap moves to the first sub-button
		{"add", "B A[:KA] "},
		{"del:b2", "B A[:KA]"},
		{"up:b1", "A[:KA] B"},
	}
	for _, st := range steps {
		form.Set("op", st.op)
		code, body := b.post("/menu", form)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", st.op, code)
		}
		d := b.draft()
		if got := describeMenu(d); got != st.want {
			t.Fatalf("after %s: %q, want %q\n%s", st.op, got, st.want, body)
		}
		form = d.form()
	}
	// At WeChat's limits, adding is refused with the reason.
	form = b.draft().form()
	form.Set("op", "add")
	b.post("/menu", form)
	form = b.draft().form()
	for range 4 {
		form.Set("op", "addsub:b0")
		b.post("/menu", form)
		form = b.draft().form()
	}
	for op, want := range map[string]string{"add": "the menu has 3 buttons already", "addsub:b0": "button &#34;A&#34; has 5 sub-buttons already: WeChat allows at most 5"} {
		form.Set("op", op)
		if code, body := b.post("/menu", form); code != http.StatusUnprocessableEntity || !strings.Contains(body, want) {
			t.Errorf("%s at the limit: %d, want 422 with %q\n%s", op, code, want, body)
		}
	}
	// The reply followed its key into the sub-button.
	if r := b.draft().Replies["KA"]; r.Text != "a" {
		t.Errorf("KA's reply %+v", r)
	}
}

// WeChat refusing the menu leaves the replies live and says so; the next
// Publish, with nothing else to publish, pushes it again.
func TestPublishMenuPushRefused(t *testing.T) {
	h := newHarness(t, nil)
	h.menu.err = errors.New("wechat api: 40016: invalid button size")
	b := h.browser()
	b.login("alice")
	code, body := b.post("/menu", publishForm("优惠", "PROMO", "满100减20"))
	if code != http.StatusOK || !strings.Contains(body, "WeChat refused the menu: wechat api: 40016") {
		t.Fatalf("%d\n%s", code, body)
	}
	if !strings.Contains(h.file(ConsoleFile), "满100减20") || h.menu.count() != 0 {
		t.Fatalf("the replies are not live, or a menu was pushed")
	}
	h.menu.mu.Lock()
	h.menu.err = nil
	h.menu.mu.Unlock()
	code, body = b.post("/menu", publishForm("优惠", "PROMO", "满100减20"))
	if code != http.StatusOK || !strings.Contains(body, "The menu was pushed to WeChat") || h.menu.count() != 1 {
		t.Fatalf("publish again: %d, %d pushes\n%s", code, h.menu.count(), body)
	}
	if _, body := b.post("/menu", publishForm("优惠", "PROMO", "满100减20")); !strings.Contains(body, "nothing to publish") || h.menu.count() != 1 {
		t.Errorf("a third publish: %d pushes\n%s", h.menu.count(), body)
	}
}

package console

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/rules"
)

func TestTryIt(t *testing.T) {
	h := newHarness(t, map[string]string{MenuFile: MenuHeader + "\nbutton:\n  - {type: click, name: 客服, key: ONLINE_KF}\n"})
	b := h.browser()
	b.login("alice")
	tests := []struct {
		form      url.Values
		want      []string
		wantNoHit bool
	}{
		{url.Values{"text": {"价格"}}, []string{"价目表", "matched: price (rules.yaml:3)", "actions: passive reply (reply)"}, true},
		{url.Values{"tap": {"click:ONLINE_KF"}}, []string{"(taps &#34;客服&#34;)", "handed to a human agent (test1@kftest)", "matched: human (rules.yaml:8)"}, true},
		{url.Values{"text": {"随便说说"}}, []string{"no reply: WeChat shows nothing", "no rule matched"}, true},
		{url.Values{"op": {"subscribe"}}, []string{"(follows the account)"}, true},
	}
	for _, tt := range tests {
		code, body := b.post("/try", tt.form)
		for _, w := range tt.want {
			if code != http.StatusOK || !strings.Contains(body, w) {
				t.Errorf("%v: %d, want %q in\n%s", tt.form, code, w, body)
			}
		}
	}
	for _, r := range h.eng.Rules().Rules {
		if r.Hits() != 0 {
			t.Errorf("Try it counted a hit of %s", r.Name)
		}
	}
	// The menu bar taps the live menu.
	_, body, _ := b.do("GET", "/try", nil)
	if !strings.Contains(body, `name="tap" value="click:ONLINE_KF"`) {
		t.Errorf("no tap button for the menu:\n%s", body)
	}
	if _, body := b.post("/try", url.Values{"op": {"clear"}}); strings.Contains(body, "价目表") {
		t.Error("clear kept the chat")
	}
}

func TestKeywordsPublish(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser()
	b.login("alice")
	form := url.Values{"keywords": {"0"}, "op": {"kw-add"}}
	b.post("/keywords", form)
	d := b.draft()
	if len(d.Keywords) != 1 || !validID(d.Keywords[0].ID) {
		t.Fatalf("after add: %+v", d.Keywords)
	}
	id := d.Keywords[0].ID
	code, body := b.post("/keywords", url.Values{"keywords": {"1"}, "k0.id": {id}, "k0.match": {"exact"},
		"k0.words": {"营业时间，hours\nopen"}, "k0.r.kind": {"news"}, "k0.r.title": {"营业时间"}, "k0.r.url": {"https://example.com/hours"}, "op": {"publish"}})
	if code != http.StatusOK {
		t.Fatalf("%d\n%s", code, body)
	}
	for _, w := range []string{"营业时间", "HOURS", " open "} {
		e := h.srv.single().dryRun(context.Background(), &rules.EventDoc{Type: "text", Content: w}, nil)
		if e.Reply == nil || len(e.Reply.Articles) != 1 || e.Reply.Articles[0].Title != "营业时间" {
			t.Errorf("%q: %+v", w, e)
		}
	}
	// Reading it back gives the same rows (a row's ID follows its rule's
	// name once published).
	disk, _ := readOnDisk(h.dir)
	back, err := disk.draft()
	if err != nil || len(back.Keywords) != 1 || !validID(back.Keywords[0].ID) || strings.Join(back.Keywords[0].Words, ",") != "营业时间,hours,open" {
		t.Errorf("read back: %+v, %v", back.Keywords, err)
	}
}

func TestActivity(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	send := &outbox.Send{ID: "push1/human/0/0", Kind: outbox.KindKefu, OrderKey: "oUser", Rule: "human", Payload: []byte(`{}`), Created: time.Now()}
	if err := h.st.Enqueue(ctx, send); err != nil {
		t.Fatal(err)
	}
	due, err := h.st.Due(ctx, time.Now(), 10, nil)
	if err != nil || len(due) != 1 {
		t.Fatalf("due: %v %v", due, err)
	}
	if err := h.st.Dead(ctx, due[0], "45015: the user's 48-hour window closed"); err != nil {
		t.Fatal(err)
	}
	h.st.Enqueue(ctx, &outbox.Send{ID: "push2/human/0/0", Kind: outbox.KindKefu, OrderKey: "oUser2", Payload: []byte(`{}`), Created: time.Now()})
	b := h.browser()
	b.login("alice")
	_, body, _ := b.do("GET", "/activity", nil)
	for _, w := range []string{`<strong id="pending">1</strong> sends pending`, "45015: the user&#39;s 48-hour window closed", "Requeue", "price", "The running rules are the files on disk"} {
		if !strings.Contains(body, w) {
			t.Errorf("activity lacks %q:\n%s", w, body)
		}
	}
	code, body := b.post("/activity/requeue", url.Values{"id": {"push1/human/0/0"}})
	if code != http.StatusOK || !strings.Contains(body, "Requeued push1/human/0/0") {
		t.Errorf("requeue: %d\n%s", code, body)
	}
	if n, _ := h.st.Pending(ctx); n != 2 {
		t.Errorf("pending after requeue: %d, want 2", n)
	}
	if code, _ := b.post("/activity/requeue", url.Values{"id": {"push1/human/0/0"}}); code != http.StatusNotFound {
		t.Errorf("requeue twice: %d, want 404", code)
	}
}

// Removing the last reply publishes a console.yaml without rules, which
// still loads: the console's file is never left for an operator to delete.
func TestPublishRemovesLastReply(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser()
	b.login("alice")
	if code, body := b.post("/keywords", url.Values{"keywords": {"1"}, "k0.id": {"ab"}, "k0.match": {"exact"}, "k0.words": {"hi"},
		"k0.r.kind": {"text"}, "k0.r.text": {"hello"}, "op": {"publish"}}); code != http.StatusOK {
		t.Fatalf("%d\n%s", code, body)
	}
	if code, body := b.post("/keywords", url.Values{"keywords": {"0"}, "op": {"publish"}}); code != http.StatusOK || !strings.Contains(body, "Published") {
		t.Fatalf("%d\n%s", code, body)
	}
	if strings.Contains(h.file(ConsoleFile), "hello") {
		t.Errorf("console.yaml:\n%s", h.file(ConsoleFile))
	}
	if e := h.srv.single().dryRun(context.Background(), &rules.EventDoc{Type: "text", Content: "hi"}, nil); e.Reply != nil {
		t.Errorf("the removed reply still answers: %+v", e.Reply)
	}
	if code, body := b.post("/keywords", url.Values{"keywords": {"0"}, "op": {"publish"}}); code != http.StatusOK || !strings.Contains(body, "nothing to publish") {
		t.Errorf("publishing what is live: %d\n%s", code, body)
	}
}

// Try it keeps its own user state from message to message, so a dialog
// can be walked; Clear starts over, and the bot's own state is untouched.
func TestTryItDialog(t *testing.T) {
	booking, err := os.ReadFile("../../examples/booking/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, map[string]string{"rules.yaml": string(booking)})
	b := h.browser()
	b.login("alice")
	steps := []struct {
		form url.Values
		want string
	}{
		{url.Values{"tap": {"click:BOOK"}}, "请输入手机号"},
		{url.Values{"text": {"13800001234"}}, "尾号 1234"},
		{url.Values{"op": {"clear"}}, "Type a message or tap a menu button"},
		{url.Values{"text": {"13800001234"}}, "no rule matched"}, // the dialog starts over
	}
	for _, st := range steps {
		if code, body := b.post("/try", st.form); code != http.StatusOK || !strings.Contains(body, st.want) {
			t.Fatalf("%v: %d, want %q\n%s", st.form, code, st.want, body)
		}
	}
}

package console

import (
	"github.com/wxbot/wxbot/rules"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// menuForm is the menu page's form for one click button with a text reply.
func menuForm(name, key, text string) url.Values {
	return url.Values{"buttons": {"1"}, "b0.name": {name}, "b0.type": {"click"}, "b0.key": {key},
		"b0.r.kind": {"text"}, "b0.r.text": {text}}
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
	code, body = b.post("/menu", url.Values{"buttons": {"1"}, "b0.name": {"优惠"}, "b0.type": {"click"}, "b0.key": {"PROMO"},
		"b0.r.kind": {"text"}, "b0.r.text": {"本周优惠: 满100减20 ${not an expression}"}, "op": {"publish"}})
	if code != http.StatusOK || !strings.Contains(body, "Published") {
		t.Fatalf("publish: %d\n%s", code, body)
	}
	if got := h.file(ConsoleFile); !strings.HasPrefix(got, Header+"\n") || !strings.Contains(got, "console-key-PROMO") {
		t.Errorf("console.yaml:\n%s", got)
	}
	if got := h.file(MenuFile); !strings.HasPrefix(got, MenuHeader+"\n") {
		t.Errorf("menu.yaml:\n%s", got)
	}
	if h.menu.count() != 1 || h.menu.pushed[0].Buttons[0].Key != "PROMO" {
		t.Errorf("pushed %+v", h.menu.pushed)
	}
	// Live: the running rules answer the key, the "${" as written.
	e := h.srv.dryRun(t.Context(), &rules.EventDoc{Type: "click", Key: "PROMO"})
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

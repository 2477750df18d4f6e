package console

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/rules"
)

// fleetHarness is a console over several accounts, each with its own
// rules directory and engine, as serve --accounts gives it.
type fleetHarness struct {
	*harness
	mu    sync.Mutex
	accts map[string]Account
}

func (f *fleetHarness) list() []Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Account
	for _, a := range f.accts {
		out = append(out, a)
	}
	return out
}

func (f *fleetHarness) remove(name string) {
	f.mu.Lock()
	delete(f.accts, name)
	f.mu.Unlock()
}

// newFleetHarness serves accounts shop and news; users is the users file's
// text beyond alice (every account) and bob (news only).
func newFleetHarness(t *testing.T) *fleetHarness {
	f := &fleetHarness{accts: map[string]Account{}}
	dir := t.TempDir()
	ruleText, err := os.ReadFile("testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"shop", "news"} {
		rd := filepath.Join(dir, name)
		os.Mkdir(rd, 0o755)
		if err := os.WriteFile(filepath.Join(rd, "rules.yaml"), ruleText, 0o644); err != nil {
			t.Fatal(err)
		}
		loaded, err := rules.Load(rd)
		if err != nil {
			t.Fatal(err)
		}
		eng := engine.New(engine.Options{})
		eng.SetRules(loaded.Set)
		re := rules.NewReloader(rd, time.UTC, eng, nil)
		re.Initial(loaded)
		f.accts[name] = Account{Name: name, Rules: rd, Engine: eng, Reloader: re}
	}
	var users strings.Builder
	for name, only := range map[string]string{"alice": "", "bob": " accounts=news,gone"} {
		h, _ := bcrypt.GenerateFromPassword([]byte(testUsers[name]), bcrypt.MinCost)
		fmt.Fprintf(&users, "%s: %s%s\n", name, h, only)
	}
	usersPath := filepath.Join(dir, "users")
	os.WriteFile(usersPath, []byte(users.String()), 0o600)
	f.harness = newHarness(t, nil, func(c *Config) {
		c.Accounts, c.Users = f.list, usersPath
		c.Rules, c.Engine, c.Reloader, c.Outbox, c.Menu = "", nil, nil, nil, nil
	})
	return f
}

func TestAccountsSwitch(t *testing.T) {
	f := newFleetHarness(t)
	alice := f.browser()
	alice.login("alice")
	code, _, hdr := alice.do("GET", "/keywords", nil)
	if code != http.StatusSeeOther || hdr.Get("Location") != "/a/news/keywords" {
		t.Fatalf("a page without an account: %d to %q, want the first account's", code, hdr.Get("Location"))
	}
	code, body, _ := alice.do("GET", "/a/shop/keywords", nil)
	for _, w := range []string{`href="/a/news/keywords"`, `href="/a/shop/keywords" aria-current="true"`, `action="/a/shop/keywords"`, `href="/a/shop/try"`} {
		if code != http.StatusOK || !strings.Contains(body, w) {
			t.Errorf("shop's keywords page: %d, want %q in\n%s", code, w, body)
		}
	}
	// A keyword published on shop answers on shop only.
	alice.post("/a/shop/keywords", url.Values{"keywords": {"0"}, "op": {"kw-add"}})
	shop := f.scope("shop")
	var id string
	f.srv.sessions.with(func() {
		for _, se := range f.srv.sessions.m {
			if d := se.ws("shop").draft; d != nil && len(d.Keywords) == 1 {
				id = d.Keywords[0].ID
			}
			if se.ws("news").draft != nil {
				t.Error("an edit on shop made a draft on news")
			}
		}
	})
	code, body = alice.post("/a/shop/keywords", url.Values{"keywords": {"1"}, "k0.id": {id}, "k0.match": {"exact"},
		"k0.words": {"优惠"}, "k0.r.kind": {"text"}, "k0.r.text": {"本周八折"}, "op": {"publish"}})
	if code != http.StatusOK || !strings.Contains(body, "Published") {
		t.Fatalf("publish on shop: %d\n%s", code, body)
	}
	if _, err := os.Stat(filepath.Join(f.accts["news"].Rules, ConsoleFile)); err == nil {
		t.Error("a publish on shop wrote news's console.yaml")
	}
	ask := &rules.EventDoc{Type: "text", Content: "优惠"}
	if e := shop.dryRun(t.Context(), ask, nil); e.Reply == nil || e.Reply.Content != "本周八折" {
		t.Errorf("shop does not answer the new keyword: %+v", e)
	}
	if e := f.scope("news").dryRun(t.Context(), ask, nil); e.Reply != nil {
		t.Errorf("news answers shop's keyword: %+v", e)
	}
	// A removed account's pages are gone.
	f.remove("shop")
	if code, _, _ := alice.do("GET", "/a/shop/keywords", nil); code != http.StatusNotFound {
		t.Errorf("a removed account's page: %d, want 404", code)
	}
}

func TestAccountsOfAUser(t *testing.T) {
	f := newFleetHarness(t)
	bob := f.browser()
	bob.login("bob")
	code, _, hdr := bob.do("GET", "/menu", nil)
	if code != http.StatusSeeOther || hdr.Get("Location") != "/a/news/menu" {
		t.Fatalf("bob's first page: %d to %q", code, hdr.Get("Location"))
	}
	_, body, _ := bob.do("GET", "/a/news/menu", nil)
	if strings.Contains(body, "/a/shop/") {
		t.Errorf("bob's switcher shows shop:\n%s", body)
	}
	for _, req := range []struct{ method, path string }{{"GET", "/a/shop/menu"}, {"GET", "/a/shop/activity"}, {"POST", "/a/shop/keywords"}, {"POST", "/a/shop/try"}} {
		var code int
		var body string
		if req.method == "POST" {
			code, body = bob.post(req.path, url.Values{"keywords": {"0"}, "op": {"kw-add"}, "text": {"价格"}})
		} else {
			code, body, _ = bob.do(req.method, req.path, nil)
		}
		if code != http.StatusNotFound || !strings.Contains(body, "choose one of news") {
			t.Errorf("bob %s %s: %d %q, want 404 naming his accounts", req.method, req.path, code, body)
		}
	}
	f.srv.sessions.with(func() {
		for _, se := range f.srv.sessions.m {
			if se.user == "bob" && se.work["shop"] != nil {
				t.Error("bob's refused posts made him a shop workspace")
			}
		}
	})
}

// A user listed for other accounts has none on a bot that serves one.
func TestAccountsSingleBot(t *testing.T) {
	h := newHarness(t, nil)
	users, _ := os.ReadFile(h.srv.cfg.Users)
	text := regexp.MustCompile(`(?m)^(\w+: \S+)$`).ReplaceAllString(string(users), "$1 accounts=shop")
	if strings.Count(text, "accounts=shop") != len(testUsers) {
		t.Fatalf("users file:\n%s", text)
	}
	os.WriteFile(h.srv.cfg.Users, []byte(text), 0o600)
	b := h.browser()
	b.login("alice")
	if code, body, _ := b.do("GET", "/menu", nil); code != http.StatusForbidden || !strings.Contains(body, "named default") {
		t.Errorf("alice, shop only, on a one-account bot: %d %q", code, body)
	}
	if code, _, _ := b.do("GET", "/a/default/menu", nil); code != http.StatusNotFound {
		t.Errorf("/a/NAME on a one-account bot: %d, want 404", code)
	}
}

func (f *fleetHarness) scope(name string) *scope {
	a, ok := f.srv.find(name)
	if !ok {
		f.t.Fatalf("no account %s", name)
	}
	return &scope{Server: f.srv, a: f.srv.acct(a, "/a/"+name)}
}

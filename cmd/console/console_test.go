package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
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
	"github.com/wxbot/wxbot/engine/store/bolt"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"

	_ "github.com/wxbot/wxbot/actions" // reply, transfer
)

// fakeMenu records the menus pushed; err, when set, is WeChat refusing.
type fakeMenu struct {
	mu     sync.Mutex
	pushed []wechat.Menu
	err    error
}

func (f *fakeMenu) MenuCreate(_ context.Context, m *wechat.Menu) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.pushed = append(f.pushed, *m)
	return nil
}

func (f *fakeMenu) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.pushed) }

type harness struct {
	t     *testing.T
	dir   string
	srv   *Server
	ts    *httptest.Server
	eng   *engine.Engine
	menu  *fakeMenu
	st    *bolt.Bolt
	clock *fakeClock
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// passwords of the test users; hashed at the lowest cost to keep tests fast.
var testUsers = map[string]string{"alice": "alice-password", "bob": "bob-password"}

func usersFile(t testing.TB, dir string) string {
	var b strings.Builder
	b.WriteString("# console users\n")
	for name, pw := range testUsers {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s: %s\n", name, h)
	}
	path := filepath.Join(dir, "users")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newHarness runs a console on a rules directory holding files (the
// testdata rules.yaml when files has none).
func newHarness(t *testing.T, files map[string]string, tweak ...func(*Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	os.Mkdir(rulesDir, 0o755)
	if _, ok := files["rules.yaml"]; !ok {
		data, err := os.ReadFile("testdata/rules.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if files == nil {
			files = map[string]string{}
		}
		files["rules.yaml"] = string(data)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(rulesDir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := &harness{t: t, dir: rulesDir, menu: &fakeMenu{}, clock: &fakeClock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}}
	loaded, err := rules.Load(rulesDir)
	if err != nil {
		t.Fatal(err)
	}
	if h.st, err = bolt.OpenFile(filepath.Join(dir, "wxbot.db"), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.st.Close() })
	// the daily counters of Unanswered and Analytics; the tests read them
	// before any flush (the engine adds its own counts)
	h.eng = engine.New(engine.Options{Tallies: h.st, TallyEvery: time.Hour})
	t.Cleanup(func() { h.eng.Close(context.Background()) })
	h.eng.SetRules(loaded.Set)
	reloader := rules.NewReloader(rulesDir, time.UTC, h.eng, nil)
	reloader.Initial(loaded)
	// The tests of the console's logic read its English texts; the
	// Chinese ones, the default, are i18n_test.go's.
	cfg := Config{Rules: rulesDir, Users: usersFile(t, dir), Engine: h.eng, Reloader: reloader, Outbox: h.st,
		Menu: h.menu, Now: h.clock.now, Lang: "en"}
	for _, f := range tweak {
		f(&cfg)
	}
	if h.srv, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	h.ts = httptest.NewServer(h.srv)
	t.Cleanup(h.ts.Close)
	return h
}

// browser is one user's cookie jar and CSRF token.
type browser struct {
	h    *harness
	c    *http.Client
	csrf string
}

func (h *harness) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{h: h, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(method, path string, form url.Values, header ...string) (int, string, http.Header) {
	b.h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.h.ts.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.send(req)
}

// send makes req with the jar, keeping the page's CSRF token.
func (b *browser) send(req *http.Request) (int, string, http.Header) {
	b.h.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.h.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if m := csrfRe.FindSubmatch(data); m != nil {
		b.csrf = string(m[1])
	}
	return resp.StatusCode, string(data), resp.Header
}

func (b *browser) login(name string) {
	b.h.t.Helper()
	code, body, hdr := b.tryLogin(url.Values{"name": {name}, "password": {testUsers[name]}})
	if code != http.StatusSeeOther || hdr.Get("Location") != "/menu" {
		b.h.t.Fatalf("log-in of %s: %d %s\n%s", name, code, hdr.Get("Location"), body)
	}
	b.do("GET", "/menu", nil)
}

// tryLogin loads the log-in page, as a browser does, and posts form with
// its CSRF token.
func (b *browser) tryLogin(form url.Values, header ...string) (int, string, http.Header) {
	b.h.t.Helper()
	b.do("GET", "/login", nil)
	if !form.Has("csrf") {
		form.Set("csrf", b.csrf)
	}
	return b.do("POST", "/login", form, header...)
}

// post sends a form with the session's CSRF token.
func (b *browser) post(path string, form url.Values) (int, string) {
	b.h.t.Helper()
	form.Set("csrf", b.csrf)
	code, body, _ := b.do("POST", path, form)
	return code, body
}

func (h *harness) file(name string) string {
	data, err := os.ReadFile(filepath.Join(h.dir, name))
	if err != nil {
		return ""
	}
	return string(data)
}

// draft is the browser's session draft.
func (b *browser) draft() *draft {
	var d *draft
	b.h.srv.sessions.with(func() {
		for _, se := range b.h.srv.sessions.m {
			if se.csrf == b.csrf {
				d = se.ws(DefaultAccount).draft.clone()
			}
		}
	})
	if d == nil {
		b.h.t.Fatal("no draft")
	}
	return d
}

func describeMenu(d *draft) string {
	var parts []string
	for _, bt := range d.Menu.Buttons {
		s := bt.Name
		if len(bt.SubButtons) > 0 {
			var subs []string
			for _, sb := range bt.SubButtons {
				subs = append(subs, sb.Name+":"+sb.Key)
			}
			s += "[" + strings.Join(subs, " ") + "]"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// form is the menu page's form for d, as the page would post it back.
func (d *draft) form() url.Values {
	f := url.Values{"buttons": {fmt.Sprint(len(d.Menu.Buttons))}}
	put := func(p string, b *wechat.Button) {
		f.Set(p+".name", b.Name)
		f.Set(p+".type", b.Type)
		f.Set(p+".key", b.Key)
		f.Set(p+".url", b.URL)
		if r, ok := d.Replies[b.Key]; ok {
			f.Set(p+".r.kind", r.Kind)
			f.Set(p+".r.text", r.Text)
		}
	}
	for i := range d.Menu.Buttons {
		p := fmt.Sprintf("b%d", i)
		b := &d.Menu.Buttons[i]
		if len(b.SubButtons) == 0 {
			put(p, b)
			continue
		}
		f.Set(p+".name", b.Name)
		f.Set(p+".subs", fmt.Sprint(len(b.SubButtons)))
		for j := range b.SubButtons {
			put(fmt.Sprintf("%s.s%d", p, j), &b.SubButtons[j])
		}
	}
	return f
}

package console

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/bolt"
	"github.com/wxbot/wxbot/engine/store/memory"
)

// countingUsers counts the writes of a store's user states.
type countingUsers struct {
	store.Users
	patches atomic.Int32
}

func (c *countingUsers) PatchUser(ctx context.Context, openID string, p *store.UserPatch) error {
	c.patches.Add(1)
	return c.Users.PatchUser(ctx, openID, p)
}

// replica runs a console on sessions with the clock clock.
func replica(t *testing.T, sessions store.Users, clock *fakeClock) *harness {
	return newHarness(t, nil, func(c *Config) { c.Sessions, c.Now = sessions, clock.now })
}

// on is b's browser (its cookies and CSRF token) on another console.
func (b *browser) on(h *harness) *browser {
	return &browser{h: h, c: b.c, csrf: b.csrf}
}

// menuOK reports whether b gets the menu page as alice.
func (b *browser) menuOK() bool {
	b.h.t.Helper()
	code, body, _ := b.do("GET", "/menu", nil)
	return code == http.StatusOK && strings.Contains(body, `class="user">alice<`)
}

func sessionCookie(t *testing.T, b *browser) string {
	t.Helper()
	for _, c := range b.c.Jar.Cookies(mustURL(b.h.ts.URL)) {
		if c.Name == cookieName {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// Two replicas on one store: a log-in on one is a session on the other,
// idle on one is not idle if the other served it, and a log-out on one
// ends it on the other within a minute.
func TestSessionsSharedByReplicas(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	mem := memory.New(clock.now)
	a, b := replica(t, mem, clock), replica(t, mem, clock)
	onA := a.browser()
	onA.login("alice")
	onB := onA.on(b)
	if !onB.menuOK() {
		t.Fatal("the session of a log-in on one replica is unknown to the other")
	}
	if code, body := onB.post("/try", url.Values{"text": {"价格"}}); code != http.StatusOK || !strings.Contains(body, "价目表") {
		t.Fatalf("a form posted to the other replica with the session's CSRF token: %d\n%s", code, body)
	}

	id := sessionCookie(t, onA)
	if st, _ := mem.LoadUser(context.Background(), sessionUser(id)); st["user"] != "alice" {
		t.Fatalf("the session's state in the store: %v", st)
	}
	for _, name := range []string{id, sessionUserPrefix + id} {
		if st, _ := mem.LoadUser(context.Background(), name); st != nil {
			t.Errorf("the store holds a state under the session's raw id: %v", st)
		}
	}

	clock.add(20 * time.Minute)
	if !onB.menuOK() {
		t.Fatal("B after 20 minutes")
	}
	clock.add(20 * time.Minute) // 40 minutes since A last saw it, 20 since B did
	if !onA.menuOK() {
		t.Fatal("a session in use on the other replica ended at this one's idle timeout")
	}

	if code, _ := onB.post("/logout", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("log-out: %d", code)
	}
	// The log-out took the cookie from this browser; a copy of it kept
	// elsewhere is what must stop working.
	copied := a.browser()
	copied.c.Jar.SetCookies(mustURL(a.ts.URL), []*http.Cookie{{Name: cookieName, Value: id, Path: "/"}})
	clock.add(syncEvery)
	if copied.menuOK() {
		t.Error("a minute after a log-out on one replica, the other still serves the session")
	}
	if st, _ := mem.LoadUser(context.Background(), sessionUser(id)); st != nil {
		t.Errorf("after log-out the store holds %v", st)
	}
}

func mustURL(s string) *url.URL {
	u, _ := url.Parse(s)
	return u
}

// A session is written to the store at log-in, then at most once a
// minute however many requests it makes.
func TestSessionsWrittenAtMostOnceAMinute(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	users := &countingUsers{Users: memory.New(clock.now)}
	h := replica(t, users, clock)
	b := h.browser()
	b.login("alice")
	if n := users.patches.Load(); n != 1 {
		t.Fatalf("log-in wrote %d times, want 1", n)
	}
	for range 5 {
		clock.add(10 * time.Second)
		if !b.menuOK() {
			t.Fatal("menu")
		}
	}
	if n := users.patches.Load(); n != 1 {
		t.Errorf("5 requests in 50s wrote %d times in all, want the log-in's only", n)
	}
	clock.add(10 * time.Second)
	b.menuOK()
	b.menuOK()
	if n := users.patches.Load(); n != 2 {
		t.Errorf("after a minute: %d writes, want 2", n)
	}
	clock.add(h.srv.cfg.SessionIdle + time.Second)
	if b.menuOK() {
		t.Error("a session idle past its timeout is still served")
	}
}

// On bolt, a restart (the store closed and opened again, a new console)
// keeps the session; the draft is the process's own.
func TestSessionsSurviveRestart(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "sessions.db")
	st, err := bolt.OpenFile(path, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	before := replica(t, st, clock)
	b := before.browser()
	b.login("alice")
	before.ts.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	if st, err = bolt.OpenFile(path, clock.now); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	after := b.on(replica(t, st, clock))
	clock.add(5 * time.Minute)
	if !after.menuOK() {
		t.Fatal("the session did not survive the restart")
	}
	if code, body := after.post("/try", url.Values{"text": {"价格"}}); code != http.StatusOK || !strings.Contains(body, "价目表") {
		t.Fatalf("a form after the restart, with the token of before: %d\n%s", code, body)
	}
	id := sessionCookie(t, after)
	if code, _ := after.post("/logout", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("log-out: %d", code)
	}
	if st, _ := st.LoadUser(context.Background(), sessionUser(id)); st != nil {
		t.Errorf("after log-out the store holds %v", st)
	}
}

// A session found in the store keeps what the user may edit: some
// accounts, or (nil) all of them.
func TestSessionsKeepAccounts(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	mem := memory.New(clock.now)
	replicaOf := func() *sessions {
		return &sessions{m: map[string]*session{}, idle: time.Hour, max: 12 * time.Hour, now: clock.now, store: mem, log: slog.New(slog.DiscardHandler)}
	}
	for _, accounts := range [][]string{nil, {"news"}, {}} {
		id, err := replicaOf().create(context.Background(), "bob", accounts)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/menu", nil)
		r.AddCookie(&http.Cookie{Name: cookieName, Value: id})
		_, se := replicaOf().get(r)
		if se == nil || se.user != "bob" || (se.accounts == nil) != (accounts == nil) || !slices.Equal(se.accounts, accounts) {
			t.Errorf("accounts %#v: found %+v", accounts, se)
		}
	}
}

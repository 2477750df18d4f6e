package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoginGuards(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		name       string
		run        func(b *browser) (int, string, http.Header)
		wantStatus int
		wantBody   string
		wantHeader [2]string
	}{
		{"a page without a session goes to the log-in page", func(b *browser) (int, string, http.Header) {
			return b.do("GET", "/menu", nil)
		}, http.StatusSeeOther, "", [2]string{"Location", "/login?next=/menu"}},
		{"a post without a session is refused", func(b *browser) (int, string, http.Header) {
			return b.do("POST", "/menu", url.Values{"op": {"publish"}})
		}, http.StatusForbidden, "not logged in", [2]string{}},
		{"a wrong password", func(b *browser) (int, string, http.Header) {
			return b.tryLogin(url.Values{"name": {"bob"}, "password": {"guess"}})
		}, http.StatusUnauthorized, "wrong name or password", [2]string{}},
		{"an unknown name: the same answer", func(b *browser) (int, string, http.Header) {
			return b.tryLogin(url.Values{"name": {"mallory"}, "password": {"bob-password"}})
		}, http.StatusUnauthorized, "wrong name or password", [2]string{}},
		{"a log-in without the form's token", func(b *browser) (int, string, http.Header) {
			return b.do("POST", "/login", url.Values{"name": {"alice"}, "password": {"alice-password"}})
		}, http.StatusForbidden, "log-in form expired", [2]string{}},
		{"a log-in with another form's token", func(b *browser) (int, string, http.Header) {
			return b.tryLogin(url.Values{"name": {"alice"}, "password": {"alice-password"}, "csrf": {"forged"}})
		}, http.StatusForbidden, "log-in form expired", [2]string{}},
		{"a session without the CSRF token", func(b *browser) (int, string, http.Header) {
			b.login("alice")
			return b.do("POST", "/menu", url.Values{"op": {"publish"}})
		}, http.StatusForbidden, "CSRF", [2]string{}},
		{"a session with a wrong CSRF token", func(b *browser) (int, string, http.Header) {
			b.login("alice")
			return b.do("POST", "/activity/requeue", url.Values{"id": {"x"}, "csrf": {"forged"}})
		}, http.StatusForbidden, "CSRF", [2]string{}},
		{"log-out needs the token too", func(b *browser) (int, string, http.Header) {
			b.login("alice")
			return b.do("POST", "/logout", url.Values{})
		}, http.StatusForbidden, "CSRF", [2]string{}},
		{"a log-in form posted from another site", func(b *browser) (int, string, http.Header) {
			return b.tryLogin(url.Values{"name": {"alice"}, "password": {"alice-password"}}, "Sec-Fetch-Site", "cross-site")
		}, http.StatusForbidden, "cross-origin", [2]string{}},
		{"a form from another origin, even with the token", func(b *browser) (int, string, http.Header) {
			b.login("alice")
			return b.do("POST", "/try", url.Values{"text": {"hi"}, "csrf": {b.csrf}}, "Origin", "https://evil.example")
		}, http.StatusForbidden, "cross-origin", [2]string{}},
		{"with the token: accepted", func(b *browser) (int, string, http.Header) {
			b.login("alice")
			return b.do("POST", "/try", url.Values{"text": {"价格"}, "csrf": {b.csrf}})
		}, http.StatusOK, "价目表", [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.t = t
			code, body, hdr := tt.run(h.browser())
			if code != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Errorf("status %d, want %d; body:\n%s", code, tt.wantStatus, body)
			}
			if k := tt.wantHeader[0]; k != "" && hdr.Get(k) != tt.wantHeader[1] {
				t.Errorf("%s: %q, want %q", k, hdr.Get(k), tt.wantHeader[1])
			}
		})
	}
}

func TestLoginGoesBackWhereItWasAsked(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct{ next, want string }{
		{"/activity", "/activity"},
		{"//evil.example/x", "/menu"},
		{"/\\evil.example", "/menu"},
		{"https://evil.example", "/menu"},
	}
	for _, tt := range tests {
		b := h.browser()
		_, body, _ := b.do("GET", "/login?next="+url.QueryEscape(tt.next), nil)
		if localPath(tt.next) && !strings.Contains(body, `name="next" value="`+tt.next+`"`) {
			t.Errorf("%s: the form does not carry it:\n%s", tt.next, body)
		}
		_, _, hdr := b.do("POST", "/login", url.Values{"name": {"alice"}, "password": {"alice-password"}, "next": {tt.next}, "csrf": {b.csrf}})
		if got := hdr.Get("Location"); got != tt.want {
			t.Errorf("next=%s: redirected to %q, want %q", tt.next, got, tt.want)
		}
	}
}

func TestLoginRateLimit(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.LoginTries, c.LoginWindow = 3, time.Minute })
	b := h.browser()
	wrong := func(name string) int {
		code, _, _ := b.tryLogin(url.Values{"name": {name}, "password": {"wrong"}})
		return code
	}
	for i := range 3 {
		if code := wrong("alice"); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i+1, code)
		}
	}
	// This name from this address: now even the right password waits,
	// with Retry-After.
	code, body, hdr := b.tryLogin(url.Values{"name": {"alice"}, "password": {"alice-password"}})
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" || !strings.Contains(body, "Too many wrong passwords") {
		t.Fatalf("4th try: %d, Retry-After %q\n%s", code, hdr.Get("Retry-After"), body)
	}
	// Another marketer behind the same address (a company proxy) is never
	// held up, however many wrong passwords others typed.
	for _, name := range []string{"carol", "dave", "erin", "frank", "gina", "hank", "ivan", "judy", "ken", "bob", "bob"} {
		wrong(name)
	}
	b.login("bob")
	// Alice's right password from elsewhere is not held up either.
	form := url.Values{"name": {"alice"}, "password": {"alice-password"}, "csrf": {"t0ken"}}
	req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: loginCookie, Value: "t0ken"})
	req.RemoteAddr = "203.0.113.9:40000"
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Errorf("alice from another address: %d, want a log-in\n%s", rec.Code, rec.Body)
	}
	// The window passes.
	h.clock.add(time.Minute + time.Second)
	b.login("alice")
}

// TestLoginCutOffBody: a body that never arrives whole is not a wrong
// password: it cannot be used to lock a name out.
func TestLoginCutOffBody(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.LoginTries, c.LoginWindow = 1, time.Minute })
	b := h.browser()
	b.do("GET", "/login", nil)
	form := url.Values{"name": {"alice"}, "password": {"wrong"}, "csrf": {b.csrf}}.Encode()
	for range 3 {
		req, _ := http.NewRequest("POST", h.ts.URL+"/login", io.LimitReader(strings.NewReader(form), int64(len(form)/2)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.ContentLength = int64(len(form)) // promised, never sent: the server sees a cut-off body
		if resp, err := b.c.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	b.login("alice")
}

func TestSessionCookie(t *testing.T) {
	h := newHarness(t, nil)
	for _, tt := range []struct {
		name       string
		header     []string
		wantSecure bool
	}{
		{"plain HTTP", nil, false},
		{"behind an HTTPS proxy", []string{"X-Forwarded-Proto", "https"}, true},
	} {
		b := h.browser()
		_, _, hdr := b.tryLogin(url.Values{"name": {"alice"}, "password": {"alice-password"}}, tt.header...)
		var session *http.Cookie
		for _, c := range (&http.Response{Header: hdr}).Cookies() {
			if c.Name == cookieName {
				session = c
			}
		}
		if session == nil {
			t.Fatalf("%s: cookies %v", tt.name, hdr["Set-Cookie"])
		}
		if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure != tt.wantSecure || session.Path != "/" {
			t.Errorf("%s: cookie %s", tt.name, session)
		}
	}
}

func TestSessionExpires(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.SessionIdle, c.SessionMax = 10*time.Minute, time.Hour })
	b := h.browser()
	b.login("alice")
	for range 6 { // used every 9 minutes: the idle limit never ends it…
		h.clock.add(9 * time.Minute)
		if code, _, _ := b.do("GET", "/activity", nil); code != http.StatusOK {
			t.Fatalf("a session in use ended: %d", code)
		}
	}
	h.clock.add(9 * time.Minute) // …the hour does
	if code, _, hdr := b.do("GET", "/activity", nil); code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/login") {
		t.Errorf("after the session's hour: %d %s", code, hdr.Get("Location"))
	}
	b.login("alice")
	h.clock.add(11 * time.Minute)
	if code, _, _ := b.do("GET", "/activity", nil); code != http.StatusSeeOther {
		t.Errorf("after 11 idle minutes: %d, want the log-in page", code)
	}
	// Log-out ends the session at once.
	b.login("alice")
	old := b.csrf
	if code, _ := b.post("/logout", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("log-out: %d", code)
	}
	if code, _, _ := b.do("POST", "/try", url.Values{"text": {"hi"}, "csrf": {old}}); code != http.StatusForbidden {
		t.Errorf("the ended session still posts: %d", code)
	}
}

func TestReadUsers(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, text, wantErr string
		wantUsers           int
		wantAccounts        []string // alice's
	}{
		{"comments and blank lines", "# users\n\nalice: $2a$04$0123456789012345678901uJ6Qbu3qz3J7wuE1mVHdUFHl8Q.cu5y\n", "", 1, nil},
		{"accounts", "alice: $2a$04$0123456789012345678901uJ6Qbu3qz3J7wuE1mVHdUFHl8Q.cu5y accounts=shop,news-2\n", "", 1, []string{"shop", "news-2"}},
		{"a bad account", "alice: $2a$04$0123456789012345678901uJ6Qbu3qz3J7wuE1mVHdUFHl8Q.cu5y accounts=Shop\n", `users:1: user "alice": accounts=Shop: "Shop" is not an account name`, 0, nil},
		{"an empty account", "alice: $2a$04$0123456789012345678901uJ6Qbu3qz3J7wuE1mVHdUFHl8Q.cu5y accounts=shop,\n", `"" is not an account name`, 0, nil},
		{"something else after the hash", "alice: $2a$04$0123456789012345678901uJ6Qbu3qz3J7wuE1mVHdUFHl8Q.cu5y admin\n", `want nothing or accounts=NAME,NAME`, 0, nil},
		{"no colon", "alice $2a$04$x\n", "users:1: want `name: bcrypt-hash`", 0, nil},
		{"not bcrypt", "alice: secret\n", "users:1: want `name: bcrypt-hash`", 0, nil},
		{"a bad name", "al ice: $2a$04$0123456789012345678901uJ6Qbu3qz3J7wuE1mVHdUFHl8Q.cu5y\n", "users:1:", 0, nil},
		{"a broken hash", "alice: $2a$99$x\n", `user "alice": not a bcrypt hash`, 0, nil},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, "users")
		os.WriteFile(path, []byte(tt.text), 0o600)
		users, err := ReadUsers(path)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(users) != tt.wantUsers || !slices.Equal(users["alice"].Accounts, tt.wantAccounts) {
			t.Errorf("%s: %d users (alice's accounts %v), err %v", tt.name, len(users), users["alice"].Accounts, err)
		}
	}
	if _, err := ReadUsers(filepath.Join(dir, "absent")); err == nil || !strings.Contains(err.Error(), "wxbot console adduser") {
		t.Errorf("absent file: %v", err)
	}
}

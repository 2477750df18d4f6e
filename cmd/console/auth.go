package console

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wxbot/wxbot/cmd/accounts"

	"golang.org/x/crypto/bcrypt"

	"github.com/wxbot/wxbot/engine"
)

// cookieName is the session cookie.
const cookieName = "wxbot_console"

// User is one line of the users file.
type User struct {
	Hash []byte
	// Accounts are the accounts the user may see and edit (`accounts=shop,news`
	// after the hash); nil: all of them.
	Accounts []string
}

// May reports whether the user may see and edit account name.
func (u User) May(name string) bool {
	return u.Accounts == nil || slices.Contains(u.Accounts, name)
}

// ReadUsers reads a users file: `name: bcrypt-hash [accounts=a,b]` lines;
// blank lines and lines starting with # are skipped.
func ReadUsers(path string) (map[string]User, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("console users: %w (create it with: wxbot console adduser NAME --console-users %s)", err, path)
	}
	users := map[string]User{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		fields := strings.Fields(rest)
		if !ok || !ValidName(name) || len(fields) == 0 || !strings.HasPrefix(fields[0], "$2") {
			return nil, fmt.Errorf("%s:%d: want `name: bcrypt-hash` (write lines with: wxbot console adduser NAME)", path, n)
		}
		if _, err := bcrypt.Cost([]byte(fields[0])); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: not a bcrypt hash: %w", path, n, name, err)
		}
		u := User{Hash: []byte(fields[0])}
		if u.Accounts, err = accounts.ParseOnly(strings.Join(fields[1:], " ")); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: %w", path, n, name, err)
		}
		users[name] = u
	}
	return users, nil
}

// ValidName reports whether name can be a user name: 1-64 letters, digits,
// '.', '_', '-' or '@' (it is written into YAML-like lines and the audit).
func ValidName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-@", c)) {
			return false
		}
	}
	return true
}

// dummyHash is compared against when the name is unknown, so that a wrong
// name costs the same time as a wrong password. It is made at the first
// failed log-in, not at start-up: bcrypt's cost is about 80 ms of CPU, which
// every wxbot command (check, explain, version) paid before.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("not a password"), bcrypt.DefaultCost)
	return h
})

// session is one logged-in browser.
type session struct {
	user     string
	accounts []string // what the user may edit: nil, all
	csrf     string
	created  time.Time
	lastSeen time.Time
	// synced is when the session was last written to the store, or
	// found there.
	synced time.Time
	work   map[string]*workspace // by account
}

// workspace is what a session keeps of one account.
type workspace struct {
	draft *draft      // the edit in progress, nil when none
	chat  []chatEntry // Try it's conversation
	// tryState is Try it's own store (per-user state, cooldowns), so that
	// a dialog carries on from message to message, apart from the bot's.
	tryState engine.State
}

// ws is the session's workspace of account; call it with the sessions
// locked (sessions.with).
func (se *session) ws(account string) *workspace {
	w := se.work[account]
	if w == nil {
		w = &workspace{}
		se.work[account] = w
	}
	return w
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// limiter counts failed log-ins per key (a name, an address) in a sliding
// window.
type limiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	fails  map[string][]time.Time
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{max: max, window: window, fails: map[string][]time.Time{}}
}

// blocked reports how long key must wait before its next try (0: it may
// try now).
func (l *limiter) blocked(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.prune(key, now)
	if len(f) < l.max {
		return 0
	}
	return f[0].Add(l.window).Sub(now)
}

func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) >= maxSessions { // bounded: forget what has expired, then the rest
		for k := range l.fails {
			if len(l.prune(k, now)) == 0 || len(l.fails) >= maxSessions {
				delete(l.fails, k)
			}
		}
	}
	l.fails[key] = append(l.prune(key, now), now)
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	delete(l.fails, key)
	l.mu.Unlock()
}

func (l *limiter) prune(key string, now time.Time) []time.Time {
	f := l.fails[key]
	i := 0
	for i < len(f) && now.Sub(f[i]) >= l.window {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(l.fails, key)
		return nil
	}
	l.fails[key] = f
	return f
}

// clientAddr is the address wrong passwords are counted against: the
// connection's, not X-Forwarded-For, which anyone can set.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// secure reports whether the browser reached the console over HTTPS,
// directly or through a proxy that says so.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, id string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r)})
}

// loginCookie carries the log-in form's CSRF token (double submit): a
// form posted from another site cannot know it.
const loginCookie = "wxbot_console_login"

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	// Only a complete form counts: a slow or cut-off body is no wrong
	// password, and must not lock the name out.
	if err := r.ParseForm(); err != nil {
		http.Error(w, s.t("login.notWhole"), http.StatusBadRequest)
		return
	}
	if c, err := r.Cookie(loginCookie); err != nil || c.Value == "" ||
		subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		s.renderLogin(w, r, http.StatusForbidden, r.PostFormValue("name"), s.t("login.expired"))
		return
	}
	name, password := r.PostFormValue("name"), r.PostFormValue("password")
	now := s.now()
	addr := clientAddr(r)
	// Wrong passwords slow down this name from this address only: never
	// another marketer behind the same company proxy, nor this one's
	// right password from elsewhere.
	key := name + "\x00" + addr
	if wait := s.byName.blocked(key, now); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		s.log.Warn("console log-in refused: too many wrong passwords", "user", name, "addr", addr)
		s.renderLogin(w, r, http.StatusTooManyRequests, name, s.t("login.tooMany", wait.Round(time.Second)))
		return
	}
	users, err := ReadUsers(s.cfg.Users)
	if err != nil {
		s.log.Error("console log-in: reading the users file failed", "err", err)
		s.renderLogin(w, r, http.StatusInternalServerError, name, s.t("login.noUsers"))
		return
	}
	u, known := users[name]
	hash := u.Hash
	if !known {
		hash = dummyHash()
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || !known {
		s.byName.fail(key, now)
		s.log.Info("console log-in failed", "user", name, "addr", addr)
		s.renderLogin(w, r, http.StatusUnauthorized, name, s.t("login.bad"))
		return
	}
	s.byName.reset(key)
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r)})
	id, err := s.sessions.create(r.Context(), name, u.Accounts)
	if err != nil {
		s.log.Error("console log-in: keeping the session in the store failed", "user", name, "err", err)
		s.renderLogin(w, r, http.StatusServiceUnavailable, name, s.t("login.store"))
		return
	}
	s.setSessionCookie(w, r, id, int(s.sessions.max.Seconds()))
	s.log.Info("console log-in", "user", name, "addr", addr)
	next := r.PostFormValue("next")
	if !localPath(next) {
		next = "/menu"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// localPath reports whether p is a path of this site, safe to redirect
// to after log-in (not //host or /\host, which browsers take as another
// site).
func localPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.ContainsAny(p, "\\\r\n")
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if id, se := s.sessions.get(r); id != "" {
		if err := s.sessions.end(r.Context(), id); err != nil {
			s.log.Error("console log-out: the session could not be ended in the store; it ends at its idle timeout",
				"user", se.user, "err", err)
		}
	}
	s.setSessionCookie(w, r, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// authed wraps a page: no session sends a GET to the log-in page and
// refuses anything else (403); a state-changing request needs the
// session's CSRF token (form field csrf or header X-CSRF-Token), or 403.
// Its form, urlencoded or multipart, is read first within the route's
// limit (readForm): past it, 413 says so rather than a missing token.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, se := s.sessions.get(r)
		safe := r.Method == http.MethodGet || r.Method == http.MethodHead
		if se == nil {
			if safe {
				http.Redirect(w, r, "/login?next="+r.URL.Path, http.StatusSeeOther)
				return
			}
			http.Error(w, s.t("auth.none"), http.StatusForbidden)
			return
		}
		if !safe {
			var err error
			if r, err = readForm(w, r); err != nil {
				s.log.Info("console request refused: its form could not be read", "user", se.user, "path", r.URL.Path, "err", err)
				s.formError(w, err)
				return
			}
			token := r.PostFormValue("csrf")
			if token == "" {
				token = r.Header.Get("X-CSRF-Token")
			}
			if subtle.ConstantTimeCompare([]byte(token), []byte(se.csrf)) != 1 {
				s.log.Warn("console request refused: missing or wrong CSRF token", "user", se.user, "path", r.URL.Path)
				http.Error(w, s.t("auth.csrf"), http.StatusForbidden)
				return
			}
		}
		h(w, r, se)
	}
}

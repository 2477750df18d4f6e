package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// MenuAPI pushes the menu to WeChat (a *wechat.Client).
type MenuAPI interface {
	MenuCreate(ctx context.Context, m *wechat.Menu) error
}

// MediaAPI adds permanent material (a *wechat.Client): the images a
// marketer uploads for image replies.
type MediaAPI interface {
	AddMaterial(ctx context.Context, mediaType, filename string, data []byte, desc *wechat.VideoDescription) (*wechat.MaterialAdded, error)
}

// Outbox is what the activity page shows of the kefu outbox (a store);
// one that is also an outbox.Admin lets a dead letter be requeued.
type Outbox interface {
	Pending(ctx context.Context) (int, error)
	DeadLetters(ctx context.Context, limit int) ([]outbox.DeadLetter, error)
}

// Account is one Official Account the console edits: its rules and the
// bot that runs them.
type Account struct {
	// Name is the account's name in the accounts file ("default" for the
	// one account of a bot without one).
	Name string
	// Rules is the account's rules path: a directory is edited
	// (console.yaml, menu.yaml); a file makes the console read-only.
	Rules    string
	Engine   *engine.Engine
	Reloader *rules.Reloader
	Outbox   Outbox  // nil: the activity page has no outbox
	Menu     MenuAPI // nil: the menu is written but not pushed (no API credentials)
	// Media uploads the images of image replies; nil (no API
	// credentials): the page asks for a media_id an operator uploaded.
	Media MediaAPI
}

// DefaultAccount is the name of the one account of a bot that serves one.
const DefaultAccount = "default"

// Config is what the console works on: one account (Rules, Engine,
// Reloader, Outbox, Menu, Media), or the accounts Accounts lists. Users
// is required.
type Config struct {
	// Rules is --rules: a directory is edited (console.yaml, menu.yaml);
	// a file makes the console read-only.
	Rules    string
	Engine   *engine.Engine
	Reloader *rules.Reloader
	Outbox   Outbox  // nil: the activity page has no outbox
	Menu     MenuAPI // nil: the menu is written but not pushed (no API credentials)
	// Media uploads the images of image replies; nil: not from the page.
	Media MediaAPI
	// Accounts, when set, are the accounts of an accounts file, asked
	// at every request (the file changes while the bot runs); their pages
	// are under /a/NAME/ and the fields above are unused.
	Accounts func() []Account
	// Users is the users file (`name: bcrypt-hash [accounts=a,b]` lines).
	Users    string
	Location *time.Location
	Logger   *slog.Logger
	Now      func() time.Time
	// SessionIdle ends a session unused that long (30 min when zero);
	// SessionMax any session that long after log-in (12 h when zero).
	SessionIdle, SessionMax time.Duration
	// Sessions keeps the sessions (the --store), so that replicas share
	// them and a restart keeps them; nil keeps them in this process only.
	// Drafts and Try it's conversations stay in the process either way.
	Sessions store.Users
	// LoginTries wrong passwords for one name from one address in
	// LoginWindow, then 429 for them (5 in 15 min when zero).
	LoginTries  int
	LoginWindow time.Duration
	// Lang is the language of every page and message: "zh-CN" (when
	// empty) or "en".
	Lang string
}

// Server is the console's HTTP handler.
type Server struct {
	cfg      Config
	lang     lang
	log      *slog.Logger
	now      func() time.Time
	pages    map[string]*template.Template
	sessions *sessions
	byName   *limiter // wrong passwords by name and address
	mux      *http.ServeMux
	pubMu    sync.Mutex
	pubs     map[string]*pubState // by account
}

// pubState is what publishing keeps of one account between requests.
type pubState struct {
	mu sync.Mutex // one publish at a time; guards pushPending
	// pushPending: WeChat refused the last menu push; the next publish
	// pushes again.
	pushPending bool
}

// acct is the account a request works on.
type acct struct {
	Account
	base     string // its pages' path prefix: "" for the one account, else /a/NAME
	dir      string // where console.yaml and menu.yaml are: Rules, or the directory of a rules file
	editable string // why the rules cannot be edited; "" when they can
	pub      *pubState
}

// scope is the console working on one account for one request.
type scope struct {
	*Server
	a *acct
}

// New checks the configuration and builds the console.
func New(cfg Config) (*Server, error) {
	if cfg.Accounts == nil && (cfg.Engine == nil || cfg.Reloader == nil || cfg.Rules == "") {
		return nil, errors.New("console: Engine, Reloader and Rules (or Accounts) are required")
	}
	if cfg.Lang == "" {
		cfg.Lang = string(langZH)
	}
	if !ValidLang(cfg.Lang) {
		return nil, fmt.Errorf("console: language %q: want one of %s", cfg.Lang, strings.Join(Langs, ", "))
	}
	if _, err := ReadUsers(cfg.Users); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 30 * time.Minute
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = 12 * time.Hour
	}
	if cfg.LoginTries <= 0 {
		cfg.LoginTries = 5
	}
	if cfg.LoginWindow <= 0 {
		cfg.LoginWindow = 15 * time.Minute
	}
	s := &Server{cfg: cfg, lang: lang(cfg.Lang), log: cfg.Logger, now: cfg.Now, pages: map[string]*template.Template{},
		sessions: &sessions{m: map[string]*session{}, idle: cfg.SessionIdle, max: cfg.SessionMax, now: cfg.Now, store: cfg.Sessions, log: cfg.Logger},
		byName:   newLimiter(cfg.LoginTries, cfg.LoginWindow), pubs: map[string]*pubState{}}
	for _, p := range []string{"login", "menu", "keywords", "try", "activity", "unanswered", "analytics"} {
		t, err := template.New("layout.html").Funcs(s.funcs()).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", p, err)
		}
		s.pages[p] = t
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		s.renderLogin(w, r, http.StatusOK, "", "")
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		s.login(w, r)
	})
	mux.HandleFunc("POST /logout", s.authed(func(w http.ResponseWriter, r *http.Request, _ *session) { s.logout(w, r) }))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/menu", http.StatusSeeOther) })
	for _, prefix := range []string{"", "/a/{account}"} {
		mux.HandleFunc("GET "+prefix+"/menu", s.paged((*scope).menuPage))
		mux.HandleFunc("POST "+prefix+"/menu", editForm(s.paged((*scope).menuPost)))
		mux.HandleFunc("GET "+prefix+"/keywords", s.paged((*scope).keywordsPage))
		mux.HandleFunc("POST "+prefix+"/keywords", editForm(s.paged((*scope).keywordsPost)))
		mux.HandleFunc("GET "+prefix+"/try", s.paged((*scope).tryPage))
		mux.HandleFunc("POST "+prefix+"/try", s.paged((*scope).tryPost))
		mux.HandleFunc("GET "+prefix+"/activity", s.paged((*scope).activityPage))
		mux.HandleFunc("POST "+prefix+"/activity/requeue", s.paged((*scope).requeue))
		mux.HandleFunc("GET "+prefix+"/unanswered", s.paged((*scope).unansweredPage))
		mux.HandleFunc("GET "+prefix+"/analytics", s.paged((*scope).analyticsPage))
		mux.HandleFunc("GET "+prefix+"/analytics.csv", s.paged((*scope).analyticsCSV))
	}
	mux.HandleFunc("GET /a/{account}/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/a/"+r.PathValue("account")+"/menu", http.StatusSeeOther)
	})
	s.mux = mux
}

// crossOrigin refuses a state-changing request another site's page makes
// (Sec-Fetch-Site, Origin): the log-in form's guard, and a second one
// behind the CSRF token for the rest.
var crossOrigin = http.NewCrossOriginProtection()

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if err := crossOrigin.Check(r); err != nil {
		http.Error(w, s.t("crossOrigin"), http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// page is what the layout shows around a page's own content.
type page struct {
	Title, Nav string
	User, CSRF string
	Base       string   // the account's path prefix, before every link and form
	Account    string   // the account's name, shown when there are several
	Accounts   []string // the accounts the user may switch to (itself included)
	ReadOnly   string   // why the page cannot change anything
	Notice     string   // a success
	Problems   []string
	Body       any
}

func (s *Server) render(w http.ResponseWriter, status int, name string, p *page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var buf strings.Builder
	if err := s.pages[name].Execute(&buf, p); err != nil {
		s.log.Error("console: rendering a page failed", "page", name, "err", err)
		http.Error(w, s.t("renderFailed"), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	w.Write([]byte(buf.String()))
}

// loginForm is what the log-in page fills in again.
type loginForm struct{ Name, Next string }

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, name, problem string) {
	next := r.FormValue("next")
	if !localPath(next) {
		next = ""
	}
	token := randomToken()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: token, Path: "/login", MaxAge: 3600,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r)})
	p := &page{Title: s.t("login.title"), Body: loginForm{Name: name, Next: next}, CSRF: token}
	if problem != "" {
		p.Problems = []string{problem}
	}
	s.render(w, status, "login", p)
}

func (s *scope) newPage(se *session, title, nav string) *page {
	p := &page{Title: title, Nav: nav, User: se.user, CSRF: se.csrf, ReadOnly: s.a.editable, Base: s.a.base}
	if s.cfg.Accounts != nil {
		p.Account, p.Accounts = s.a.Name, s.allowed(se)
	}
	return p
}

func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(s.cfg.Location).Format("2006-01-02 15:04:05 MST")
		},
		// day is a date as the charts label it, in the console's zone
		"day": func(t time.Time) string { return t.Format("2006-01-02") },
		// pct and add place the charts' shapes (analytics.html)
		"pct":   func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "%" },
		"add":   func(a, b float64) float64 { return a + b },
		"event": wechat.ButtonEvent,
		"t":     s.lang.tmplT,
		"lang":  func() string { return string(s.lang) },
		// typeName is a button type as the MP console names it; the
		// type itself stays in the label, as the API and menu.yaml spell it.
		"typeName": func(typ string) string {
			if _, ok := catalog[s.lang]["type."+typ]; ok {
				return s.t("type." + typ)
			}
			return typ
		},
		"types": func() []string { return wechat.ButtonTypes },
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, errors.New("dict: odd number of arguments")
			}
			m := make(map[string]any, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
	}
}

package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wxbot/wxbot/rules"
)

// accountReport is one account in GET /accounts.
type accountReport struct {
	Name     string       `json:"name"`
	AppID    string       `json:"appid"`
	Path     string       `json:"path"`
	Rules    rules.Status `json:"rules"`
	Degraded bool         `json:"store_degraded,omitempty"`
}

// accountsReport is GET /accounts: the file's reload status and every
// running account with its rules' reload status.
type accountsReport struct {
	File         string          `json:"file"`
	Hash         string          `json:"hash"`
	LastReloadAt time.Time       `json:"last_reload_at"`
	LastReloadOK bool            `json:"last_reload_ok"`
	LastError    string          `json:"last_error,omitempty"`
	Accounts     []accountReport `json:"accounts"`
}

func (f *fleet) report() accountsReport {
	f.mu.Lock()
	rep := accountsReport{File: f.file.Path, Hash: f.file.Hash, LastReloadAt: f.loadAt, LastReloadOK: f.lastErr == nil}
	if f.lastErr != nil {
		rep.LastError = f.lastErr.Error()
	}
	f.mu.Unlock()
	bots := *f.bots.Load()
	for _, name := range f.names() {
		fb := bots[name]
		rep.Accounts = append(rep.Accounts, accountReport{Name: name, AppID: fb.acct.AppID,
			Path: strings.TrimSuffix(f.s.path, "/") + "/" + name, Rules: fb.bot.Reloader().Status()})
	}
	return rep
}

// Admin serves the process's admin endpoints: GET /accounts, /healthz,
// /readyz (every account's rules loaded and store answering), /metrics
// (every account's series with an account label), and each account's own
// API under /accounts/NAME/ (rules, reload, state, outbox).
func (f *fleet) Admin() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /accounts", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(f.report())
	})
	mux.HandleFunc("POST /accounts/reload", func(w http.ResponseWriter, r *http.Request) {
		status := http.StatusOK
		if err := f.reloadFile("POST /accounts/reload"); err != nil {
			status = http.StatusUnprocessableEntity
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(f.report())
	})
	mux.HandleFunc("/accounts/{account}/", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("account")
		fb := (*f.bots.Load())[name]
		if fb == nil {
			http.Error(w, fmt.Sprintf("no account %q (GET /accounts lists them)", name), http.StatusNotFound)
			return
		}
		http.StripPrefix("/accounts/"+name, fb.admin).ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", f.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(f.metrics.Registry, promhttp.HandlerOpts{}))
	return mux
}

// ready is 200 when every account's own /readyz is.
func (f *fleet) ready(w http.ResponseWriter, r *http.Request) {
	bots := *f.bots.Load()
	for _, name := range f.names() {
		rec := &statusRecorder{header: http.Header{}}
		bots[name].admin.ServeHTTP(rec, r)
		if rec.code != http.StatusOK {
			http.Error(w, fmt.Sprintf("account %s: %s", name, strings.TrimSpace(rec.body.String())), http.StatusServiceUnavailable)
			return
		}
	}
	fmt.Fprintln(w, "ready")
}

// statusRecorder keeps a handler's status and body (for /readyz).
type statusRecorder struct {
	header http.Header
	code   int
	body   strings.Builder
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.body.Write(b)
}

// watch reloads the accounts file when it changes (its directory is
// watched: editors replace files), debounced, until ctx is done.
func (f *fleet) watch(ctx context.Context) {
	path, _ := filepath.Abs(f.s.accounts)
	if f.watcher == nil {
		return // said at start
	}
	events, cancel, err := f.watcher.Watch(filepath.Dir(path))
	if err != nil {
		f.log.Warn("cannot watch the accounts file; reload it with SIGHUP or POST /accounts/reload", "err", err)
		return
	}
	defer cancel()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if abs, _ := filepath.Abs(ev.Name); abs == path {
				debounce.Reset(200 * time.Millisecond)
			}
		case <-debounce.C:
			if _, err := os.Stat(path); err == nil {
				f.reloadFile("file change")
			}
		}
	}
}

package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/metrics"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/rules"
)

// Config is what the admin endpoints read and act on: one account's
// running bot.
type Config struct {
	Engine   *engine.Engine
	Reloader *rules.Reloader
	Store    store.Store
	Metrics  *metrics.Metrics
	// Health reports a shared store that fails (nil: it never degrades).
	Health func() (degraded bool, err error)
}

// Handler serves the operator endpoints; it is on its own listener so the
// public callback exposes nothing else.
func Handler(c Config) http.Handler {
	eng, reloader, st, m := c.Engine, c.Reloader, c.Store, c.Metrics
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	// Profiles for performance work; the admin listener is loopback by default.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	outboxEndpoints(mux, st) // GET /outbox, POST /outbox/retry, POST /outbox/drop (outbox.go)
	stateEndpoints(mux, st)  // GET /state/OPENID, DELETE /state/OPENID (state.go)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if eng.Rules().Hash == "" {
			http.Error(w, "rules not loaded", http.StatusServiceUnavailable)
			return
		}
		if c.Health != nil {
			if degraded, err := c.Health(); degraded {
				http.Error(w, fmt.Sprintf("store degraded (answering from memory, spooling sends): %v", err), http.StatusServiceUnavailable)
				return
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := st.Pending(ctx); err != nil { // a round trip to the store
			http.Error(w, "store unreachable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /rules", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, rulesReport(eng, reloader))
	})
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		// The reload never depends on this request: a client that hangs up
		// must not fail a reload of good rules.
		done := make(chan error, 1)
		go func() { done <- reloader.Reload(context.Background(), "POST /reload", true) }()
		select {
		case err := <-done:
			status := http.StatusOK
			if err != nil {
				status = http.StatusUnprocessableEntity
			}
			writeJSON(w, status, rulesReport(eng, reloader))
		case <-time.After(reloadAnswerWait):
			writeJSON(w, http.StatusAccepted, map[string]string{"status": "reloading",
				"watch": "GET /rules: last_reload_at, last_reload_ok and last_error tell how it ended"})
		}
	})
	return mux
}

// reloadAnswerWait is how long POST /reload waits for the reload before it
// answers 202.
const reloadAnswerWait = 10 * time.Second

// ruleReport is one rule in GET /rules.
type ruleReport struct {
	Name     string   `json:"name"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	On       []string `json:"on"`
	Priority int      `json:"priority"`
	Enabled  bool     `json:"enabled"`
	Hits     uint64   `json:"hits"`
}

func rulesReport(eng *engine.Engine, reloader *rules.Reloader) any {
	set := eng.Rules()
	list := make([]ruleReport, len(set.Rules))
	for i, r := range set.Rules {
		list[i] = ruleReport{Name: r.Name, File: r.Pos.File, Line: r.Pos.Line, On: r.On,
			Priority: r.Priority, Enabled: !r.Disabled, Hits: r.Hits()}
	}
	return struct {
		rules.Status
		Rules []ruleReport `json:"rules"`
	}{reloader.Status(), list}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

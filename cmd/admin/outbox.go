package admin

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
)

// The outbox endpoints of the admin listener (see Handler).

// PendingSend is a pending send in GET /outbox.
type PendingSend struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	User        string    `json:"user"`
	Rule        string    `json:"rule,omitempty"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
	Created     time.Time `json:"created"`
}

// OutboxReport is GET /outbox: the pending count, the latest 100 dead
// letters, a page of pending_sends and the next page's cursor.
type OutboxReport struct {
	Pending      int                 `json:"pending"`
	DeadLetters  []outbox.DeadLetter `json:"dead_letters"`
	PendingSends []PendingSend       `json:"pending_sends"`
	Next         string              `json:"next,omitempty"`
}

// outboxEndpoints serves GET /outbox, POST /outbox/retry and POST
// /outbox/drop; a store that cannot administer its outbox still lists it.
func outboxEndpoints(mux *http.ServeMux, st store.Store) {
	admin, _ := st.(outbox.Admin)
	mux.HandleFunc("GET /outbox", listOutbox(st, admin))
	if admin == nil {
		refuse := func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusNotImplemented, map[string]string{"error": fmt.Sprintf("store %T cannot administer its outbox", st)})
		}
		mux.HandleFunc("POST /outbox/retry", refuse)
		mux.HandleFunc("POST /outbox/drop", refuse)
		return
	}
	mux.HandleFunc("POST /outbox/retry", retryDead(admin))
	mux.HandleFunc("POST /outbox/drop", dropSend(admin))
}

// listOutbox is GET /outbox[?limit=N&after=CURSOR].
func listOutbox(st store.Store, admin outbox.Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		limit := 100
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit: want 1 to 1000"})
				return
			}
			limit = n
		}
		pending, err := st.Pending(r.Context())
		if err != nil {
			http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		dead, err := st.DeadLetters(r.Context(), 100)
		if err != nil {
			http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		rep := OutboxReport{Pending: pending, DeadLetters: dead, PendingSends: []PendingSend{}}
		if admin != nil {
			sends, next, err := admin.PendingSends(r.Context(), r.URL.Query().Get("after"), limit)
			if err != nil {
				http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
			for _, s := range sends {
				rep.PendingSends = append(rep.PendingSends, PendingSend{ID: s.ID, Kind: s.Kind, User: s.OrderKey, Rule: s.Rule,
					Attempts: s.Attempts, NextAttempt: s.NotBefore, LastError: s.LastError, Created: s.Created})
			}
			rep.Next = next
		}
		writeJSON(w, http.StatusOK, rep)
	}
}

// retryDead is POST /outbox/retry?id=ID or ?dead=all.
func retryDead(admin outbox.Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch id := q.Get("id"); {
		case q.Get("dead") == "all" && id == "":
			n, err := admin.RetryAllDead(r.Context())
			if err != nil {
				http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"retried": n})
		case id != "" && !q.Has("dead"):
			ok, err := admin.RetryDead(r.Context(), id)
			if err != nil {
				http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
			if !ok {
				writeJSON(w, http.StatusNotFound, map[string]any{"id": id, "retried": 0,
					"error": "no dead letter with this id (retried already, dropped, or still pending)"})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"id": id, "retried": 1})
		default:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want ?id=ID or ?dead=all"})
		}
	}
}

// dropSend is POST /outbox/drop?id=ID.
func dropSend(admin outbox.Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		if id == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want ?id=ID"})
			return
		}
		ok, err := admin.Drop(r.Context(), id)
		if err != nil {
			http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]any{"id": id, "dropped": 0,
				"error": "no pending send or dead letter with this id"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "dropped": 1})
	}
}

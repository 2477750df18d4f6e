package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// stateEndpoints serves users' conversation state on the admin listener: an
// operator looks at where a user is stuck, or resets them.
func stateEndpoints(mux *http.ServeMux, st store.Store) {
	mux.HandleFunc("GET /state/{openid}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("openid")
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		state, err := st.LoadUser(ctx, id)
		switch {
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "reading the state failed: " + err.Error()})
		case state == nil:
			writeJSON(w, http.StatusNotFound, map[string]any{"openid": id, "state": map[string]any{}, "error": "no state for this user (none was set, or it expired)"})
		default:
			writeJSON(w, http.StatusOK, map[string]any{"openid": id, "state": state})
		}
	})
	mux.HandleFunc("DELETE /state/{openid}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("openid")
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		had, err := st.DeleteUser(ctx, id)
		if idx, ok := st.(store.HandoffIndex); ok && err == nil {
			// a reset user is in no handoff: best effort, as the index's
			// entry ends at the handoff's timeout anyway
			idx.EndHandoff(ctx, id)
		}
		switch {
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "deleting the state failed: " + err.Error()})
		case !had:
			writeJSON(w, http.StatusNotFound, map[string]any{"openid": id, "deleted": false, "error": "no state for this user"})
		default:
			writeJSON(w, http.StatusOK, map[string]any{"openid": id, "deleted": true})
		}
	})
}

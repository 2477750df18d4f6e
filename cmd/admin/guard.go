package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"path"
	"strings"

	"github.com/wxbot/wxbot/engine/wechat"
)

// Access is who may use the admin listener beyond what probes and
// scrapers need.
type Access struct {
	// Token, when set, is required as "Authorization: Bearer TOKEN" by
	// every guarded request (see Guard).
	Token wechat.Secret
	// Exposed means the listener is reachable from other hosts; without a
	// Token the guarded requests are then refused, as nobody could be
	// told from anybody.
	Exposed bool
	// Addr is the listener's address, for messages.
	Addr string
}

// Exposed tells whether a listener bound at addr is reachable beyond
// loopback, and whether it is a wildcard (every interface).
func Exposed(addr net.Addr) (exposed, wildcard bool) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return true, false // not an IP listener: assume the worst
	}
	if tcp.IP.IsLoopback() {
		return false, false
	}
	return true, tcp.IP == nil || tcp.IP.IsUnspecified()
}

// Guard puts a's rules in front of h, the admin listener's handler (one
// bot's or the fleet's). Open to anyone: GET and HEAD of the probes'
// /healthz and /readyz, Prometheus' /metrics, and the reload status of
// /rules and /accounts, which carry no token in the usual set-ups and
// hold no user's data. Guarded: everything else, which changes something
// (POST, DELETE, any other method), takes 30-second CPU profiles or shows
// memory (/debug/pprof/), or holds users' OpenIDs and conversations
// (/state/, /outbox). A loopback listener without a token guards nothing,
// as before there were tokens.
func Guard(h http.Handler, a Access) http.Handler {
	if a.Token == "" && !a.Exposed {
		return h
	}
	want := sha256.Sum256([]byte(a.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !guarded(r) {
			h.ServeHTTP(w, r)
			return
		}
		what := r.Method + " " + r.URL.Path
		if a.Token == "" {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": fmt.Sprintf(
				"%s is refused: the admin listener (%s) is reachable beyond loopback and serve has no --admin-token; "+
					"set --admin-token (or WXBOT_ADMIN_TOKEN, --admin-token-file) and send Authorization: Bearer TOKEN, "+
					"or bind --admin-listen to 127.0.0.1", what, a.Addr)})
			return
		}
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || got == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wxbot admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": what +
				" needs the admin token: send Authorization: Bearer TOKEN with serve's --admin-token (WXBOT_ADMIN_TOKEN); " +
				"wxbot outbox sends it when given --admin-token, --admin-token-file or WXBOT_ADMIN_TOKEN"})
			return
		}
		// Hashes of equal length: the comparison tells nothing of the
		// token's length either.
		if sum := sha256.Sum256([]byte(strings.TrimSpace(got))); subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wxbot admin", error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": what +
				": the bearer token does not match serve's --admin-token (WXBOT_ADMIN_TOKEN)"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// openPaths are the endpoints a GET or HEAD reaches without a token, at
// the top or under /accounts/NAME/.
var openPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true, "/rules": true, "/accounts": true}

// guarded tells whether r needs the token. The path is cleaned first, so
// that no spelling of a guarded path (//, /./, /x/..) passes as an open
// one; the mux would redirect such a request anyway.
func guarded(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return true
	}
	p := path.Clean("/" + r.URL.Path)
	if openPaths[p] {
		return false
	}
	if rest, ok := strings.CutPrefix(p, "/accounts/"); ok {
		if _, sub, ok := strings.Cut(rest, "/"); ok && openPaths["/"+sub] && sub != "accounts" {
			return false
		}
	}
	return true
}

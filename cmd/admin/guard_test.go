package admin

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestExposed(t *testing.T) {
	tests := []struct {
		addr              net.Addr
		exposed, wildcard bool
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9090}, false, false},
		{&net.TCPAddr{IP: net.IPv4(127, 1, 2, 3), Port: 9090}, false, false},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 9090}, false, false},
		{&net.TCPAddr{Port: 9090}, true, true},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 9090}, true, true},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 9090}, true, true},
		{&net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 9090}, true, false},
		{&net.TCPAddr{IP: net.ParseIP("fd00::1"), Port: 9090}, true, false},
		{&net.UnixAddr{Name: "/run/wxbot.sock", Net: "unix"}, true, false},
	}
	for _, tt := range tests {
		if exposed, wildcard := Exposed(tt.addr); exposed != tt.exposed || wildcard != tt.wildcard {
			t.Errorf("Exposed(%v) = %v, %v; want %v, %v", tt.addr, exposed, wildcard, tt.exposed, tt.wildcard)
		}
	}
}

// TestGuard: what each access lets through, for the requests that make
// the difference; the handler behind answers 200 to anything.
func TestGuard(t *testing.T) {
	const token = "0123456789abcdef-token"
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("reached")) })
	withToken := Access{Token: token, Addr: "127.0.0.1:9090"}
	exposed := Access{Exposed: true, Addr: "[::]:9090"}
	exposedWithToken := Access{Token: token, Exposed: true, Addr: "[::]:9090"}
	loopback := Access{Addr: "127.0.0.1:9090"}
	tests := []struct {
		access       Access
		method, path string
		auth         string
		status       int
		body         string
	}{
		{loopback, "POST", "/reload", "", 200, "reached"},
		{loopback, "GET", "/debug/pprof/profile", "", 200, "reached"},
		{withToken, "GET", "/healthz", "", 200, "reached"},
		{withToken, "HEAD", "/readyz", "", 200, "reached"},
		{withToken, "GET", "/metrics", "", 200, "reached"},
		{withToken, "GET", "/rules", "", 200, "reached"},
		{withToken, "GET", "/accounts", "", 200, "reached"},
		{withToken, "GET", "/accounts/shop/rules", "", 200, "reached"},
		{withToken, "GET", "/accounts/shop/readyz", "", 200, "reached"},
		{withToken, "GET", "/accounts/shop/accounts", "", 401, "needs the admin token"},
		{withToken, "GET", "/accounts/shop/state/oX", "", 401, "needs the admin token"},
		{withToken, "GET", "/rules/../state/oX", "", 401, "needs the admin token"},
		{withToken, "GET", "/healthz/../debug/pprof/heap", "", 401, "needs the admin token"},
		{withToken, "GET", "//debug/pprof/", "", 401, "needs the admin token"},
		{withToken, "POST", "/healthz", "", 401, "POST /healthz needs the admin token"},
		{withToken, "OPTIONS", "/rules", "", 401, "needs the admin token"},
		{withToken, "POST", "/reload", "Bearer " + token, 200, "reached"},
		{withToken, "POST", "/reload", "BEARER  " + token, 200, "reached"},
		{withToken, "POST", "/reload", "Bearer " + token[:len(token)-1], 401, "does not match"},
		{withToken, "POST", "/reload", "Bearer " + token + token, 401, "does not match"},
		{withToken, "POST", "/reload", token, 401, "needs the admin token"},
		{withToken, "POST", "/reload", "Token " + token, 401, "needs the admin token"},
		{exposed, "GET", "/healthz", "", 200, "reached"},
		{exposed, "POST", "/reload", "", 403, "POST /reload is refused: the admin listener ([::]:9090) is reachable beyond loopback"},
		{exposed, "POST", "/reload", "Bearer anything", 403, "set --admin-token"},
		{exposed, "GET", "/outbox", "", 403, "bind --admin-listen to 127.0.0.1"},
		{exposedWithToken, "DELETE", "/state/oX", "", 401, "needs the admin token"},
		{exposedWithToken, "DELETE", "/state/oX", "Bearer " + token, 200, "reached"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "http://admin"+tt.path, nil)
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		w := httptest.NewRecorder()
		Guard(ok, tt.access).ServeHTTP(w, r)
		if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.body) {
			t.Errorf("%+v %s %s %q: %d %s, want %d with %q", tt.access.Exposed, tt.method, tt.path, tt.auth, w.Code, w.Body, tt.status, tt.body)
		}
		if strings.Contains(w.Body.String(), token) {
			t.Errorf("%s %s: the answer holds the token", tt.method, tt.path)
		}
		if w.Code == http.StatusUnauthorized && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %s: 401 without WWW-Authenticate: Bearer", tt.method, tt.path)
		}
	}
}

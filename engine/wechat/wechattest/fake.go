// Package wechattest is a fake WeChat API server for tests: it issues and
// expires access tokens, records every call, and fails on demand with the
// errcodes WeChat uses.
package wechattest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
)

// Call is one request the fake received (token fetches excluded).
type Call struct {
	Method  string
	Path    string
	Query   url.Values
	Body    []byte
	Token   string
	Errcode int // what the fake answered (0: success)
}

// Server is the fake API. Create it with New; close it with Close.
type Server struct {
	*httptest.Server
	AppID, Secret string

	mu        sync.Mutex
	valid     map[string]bool // tokens that work
	expired   map[string]bool // tokens that answer 42001
	n         int
	fetches   int
	calls     []Call
	failures  map[string][]int // path → errcodes to answer next, in order
	sticky    map[string]int   // path → errcode to answer until cleared
	answers   map[string]string
	handlers  map[string]http.HandlerFunc
	tokenFail []int
	down      int // answer HTTP 503 this many times
	// stable is the token stable_token issued last; revoked tokens answer
	// 40001 and come back from stable_token until a force_refresh.
	stable  string
	revoked map[string]bool
	forces  int
	uploads []Upload // media/upload and add_material, in order
	kf      kfState  // kefu sessions, waiting users and chat records
}

// New starts a fake for the given credentials.
func New(appID, secret string) *Server {
	s := &Server{AppID: appID, Secret: secret, valid: map[string]bool{}, expired: map[string]bool{}, revoked: map[string]bool{},
		failures: map[string][]int{}, sticky: map[string]int{}, answers: map[string]string{}, handlers: map[string]http.HandlerFunc{}}
	s.addConsoleAndMedia()
	s.addKfSessions()
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// FailNext makes the next calls to path answer these errcodes, one each.
func (s *Server) FailNext(path string, codes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[path] = append(s.failures[path], codes...)
}

// FailUntilCleared makes every call to path answer code until
// ClearFailures (an API that is down for a while).
func (s *Server) FailUntilCleared(path string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sticky[path] = code
}

// ClearFailures drops the errcodes queued by FailNext.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.failures)
	clear(s.sticky)
}

// Delivered returns the successful calls to path, in order.
func (s *Server) Delivered(path string) []Call {
	var out []Call
	for _, c := range s.Calls(path) {
		if c.Errcode == 0 {
			out = append(out, c)
		}
	}
	return out
}

// FailTokenNext makes the next token fetches answer these errcodes.
func (s *Server) FailTokenNext(codes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenFail = append(s.tokenFail, codes...)
}

// Down makes the next n requests answer HTTP 503 (an outage or a proxy).
func (s *Server) Down(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = n
}

// Answer sets the JSON answer of path (default {"errcode":0,"errmsg":"ok"}).
func (s *Server) Answer(path, jsonBody string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[path] = jsonBody
}

// Handle serves path with h after the token check (h sees the Call's
// request as is).
func (s *Server) Handle(path string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[path] = h
}

// ExpireTokens makes every token issued so far answer 42001.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.valid {
		s.expired[t] = true
		delete(s.valid, t)
	}
}

// RevokeStable revokes the token stable_token issued last, as WeChat does
// with a leaked token (or an AppSecret reset): API calls with it answer
// 40001, and stable_token without force_refresh keeps answering it (within
// its validity WeChat returns the same stable token) until a call with
// force_refresh: true issues a new one. It returns the revoked token.
//
// Otherwise the fake's stable_token issues a new token on every call, which
// WeChat does not (it returns the same one within its validity); tests count
// fetches with TokenFetches.
func (s *Server) RevokeStable() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stable != "" {
		delete(s.valid, s.stable)
		s.revoked[s.stable] = true
	}
	return s.stable
}

// ForceRefreshes is how many stable_token calls had force_refresh: true.
func (s *Server) ForceRefreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forces
}

// TokenFetches is how many tokens were issued.
func (s *Server) TokenFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// Calls returns the calls made to path ("" for all), in order.
func (s *Server) Calls(path string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if path == "" || c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v)
}

func errcode(w http.ResponseWriter, code int) {
	msg := "ok"
	if code != 0 {
		msg = fmt.Sprintf("fake error %d rid: 6912-fake", code)
	}
	writeJSON(w, map[string]any{"errcode": code, "errmsg": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	if s.down > 0 {
		s.down--
		s.mu.Unlock()
		http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
		return
	}
	s.mu.Unlock()
	switch r.URL.Path {
	case "/cgi-bin/token":
		q := r.URL.Query()
		s.issueToken(w, q.Get("grant_type"), q.Get("appid"), q.Get("secret"))
		return
	case "/cgi-bin/stable_token":
		s.serveStable(w, r, body)
		return
	}
	// WeChat rejects \uXXXX escapes in request JSON (40033).
	if strings.Contains(string(body), `\u00`) {
		errcode(w, 40033)
		return
	}
	tok := r.URL.Query().Get("access_token")
	s.mu.Lock()
	switch {
	case tok == "":
		s.mu.Unlock()
		errcode(w, 41001)
		return
	case s.expired[tok]:
		s.mu.Unlock()
		errcode(w, 42001)
		return
	case !s.valid[tok]: // unknown or revoked
		s.mu.Unlock()
		errcode(w, 40001)
		return
	}
	call := Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body, Token: tok}
	if code, ok := s.sticky[r.URL.Path]; ok && len(s.failures[r.URL.Path]) == 0 {
		s.failures[r.URL.Path] = []int{code}
	}
	if q := s.failures[r.URL.Path]; len(q) > 0 {
		call.Errcode = q[0]
		s.calls = append(s.calls, call)
		s.failures[r.URL.Path] = q[1:]
		s.mu.Unlock()
		if q[0] == 40001 || q[0] == 42001 {
			s.mu.Lock()
			delete(s.valid, tok)
			s.expired[tok] = true
			s.mu.Unlock()
		}
		errcode(w, q[0])
		return
	}
	s.calls = append(s.calls, call)
	h, answer := s.handlers[r.URL.Path], s.answers[r.URL.Path]
	s.mu.Unlock()
	if h != nil {
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		h(w, r)
		return
	}
	if answer != "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, answer)
		return
	}
	errcode(w, 0)
}

// serveStable answers stable_token, which takes its credentials as a JSON
// body rather than a query, and rejects what WeChat rejects before any token
// is issued.
func (s *Server) serveStable(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"` // a JSON bool; "true" is a 47001
	}
	if r.Method != http.MethodPost || json.Unmarshal(body, &req) != nil {
		errcode(w, 47001)
		return
	}
	s.issueStable(w, req.GrantType, req.AppID, req.Secret, req.ForceRefresh)
}

func (s *Server) issueStable(w http.ResponseWriter, grant, appID, secret string, force bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := s.issueLocked(w, grant, appID, secret, s.revoked[s.stable] && !force)
	if tok != "" {
		s.stable = tok
		if force {
			s.forces++
		}
	}
}

func (s *Server) issueToken(w http.ResponseWriter, grant, appID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issueLocked(w, grant, appID, secret, false)
}

// issueLocked answers a token request and returns the token issued, or ""
// on an error; again answers the current stable token instead of a new one.
func (s *Server) issueLocked(w http.ResponseWriter, grant, appID, secret string, again bool) string {
	if len(s.tokenFail) > 0 {
		code := s.tokenFail[0]
		s.tokenFail = s.tokenFail[1:]
		errcode(w, code)
		return ""
	}
	switch {
	case grant != "client_credential":
		errcode(w, 40002)
		return ""
	case appID != s.AppID:
		errcode(w, 40013)
		return ""
	case secret != s.Secret:
		errcode(w, 40125)
		return ""
	}
	tok := s.stable
	if !again {
		s.n++
		s.fetches++
		tok = fmt.Sprintf("FAKE_TOKEN_%d_%s", s.n, strings.Repeat("x", 20))
		s.valid[tok] = true
	}
	writeJSON(w, map[string]any{"access_token": tok, "expires_in": 7200})
	return tok
}

package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
)

// MaxBody is the largest request body taken; a larger one is answered 413.
const MaxBody = 64 << 10

// KeyRetention is how long an idempotency key is remembered: as long as
// the store remembers a delivered send's ID, so that while the key is
// known its send cannot go out twice.
const KeyRetention = store.IDRetention

// storeTimeout bounds the store's work for one request.
const storeTimeout = 5 * time.Second

// Account is where the sends for one Official Account go: its store
// (which must keep idempotency keys and track sends) and its outbox.
type Account struct {
	Name   string
	Store  store.Store
	Outbox *outbox.Outbox
}

// Config is what the API serves from.
type Config struct {
	// Tokens is the tokens file's path.
	Tokens string
	// Rate is how many requests a second each token may make, in bursts
	// of as many; 0 sets no limit.
	Rate float64
	// Lookup finds a running account by name; Names lists them (asked
	// when a request names none, and for errors). They are asked at each
	// request: accounts come and go.
	Lookup func(name string) (Account, bool)
	Names  func() []string
	Logger *slog.Logger
	// Now is the clock of the rate limits (time.Now when nil).
	Now func() time.Time
}

// Handler serves the API's endpoints.
type Handler struct {
	c      Config
	tokens *tokenFile
	limits *limiter
	mux    *http.ServeMux
}

// New reads the tokens file and returns the API; a file that is missing,
// does not parse or holds no token is an error.
func New(c Config) (*Handler, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	h := &Handler{c: c, tokens: &tokenFile{path: c.Tokens, log: c.Logger}, limits: newLimiter(c.Rate), mux: http.NewServeMux()}
	if err := h.tokens.load(); err != nil {
		return nil, err
	}
	if len(h.tokens.tokens) == 0 {
		return nil, fmt.Errorf("api tokens %s: no token (add one with: wxbot api addtoken NAME --api-tokens %s)", c.Tokens, c.Tokens)
	}
	h.mux.HandleFunc("POST /v1/messages", h.authorized(h.post))
	h.mux.HandleFunc("GET /v1/messages/{id}", h.authorized(h.get))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// authorized admits requests with a valid token under its rate: 401
// without one, 429 over it.
func (h *Handler) authorized(next func(http.ResponseWriter, *http.Request, *token)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := match(h.tokens.current(), bearer(r.Header.Get("Authorization")))
		if tok == nil {
			h.c.Logger.Debug("api: request without a valid token", "remote", r.RemoteAddr, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Bearer realm="wxbot"`)
			writeError(w, http.StatusUnauthorized, "want `Authorization: Bearer TOKEN` with a token of the --api-tokens file")
			return
		}
		if ok, wait := h.limits.allow(tok.name, h.c.Now()); !ok {
			secs := max(1, int((wait+time.Second-1)/time.Second))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeError(w, http.StatusTooManyRequests, fmt.Sprintf("token %s is over --api-rate (%g requests a second): retry after %ds", tok.name, h.c.Rate, secs))
			return
		}
		next(w, r, tok)
	}
}

// post is POST /v1/messages.
func (h *Handler) post(w http.ResponseWriter, r *http.Request, tok *token) {
	body, status, err := readBody(w, r)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	req, err := parseRequest(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	acct, status, err := h.account(req.account, tok)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	send, fingerprint, err := req.send(acct.Name, tok.name)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// The client hanging up must not cut the store's work in two.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
	defer cancel()
	replay := false
	if req.key != "" {
		if replay, status, err = h.remember(ctx, acct, tok, req.key, fingerprint); err != nil {
			writeError(w, status, err.Error())
			return
		}
	}
	// A replay is enqueued again: the first request may have stopped
	// between the key and the send. The queue ignores an ID it knows.
	if err := acct.Outbox.Add(ctx, send); err != nil {
		h.c.Logger.Warn("api: the store did not take a send", "token", tok.name, "account", acct.Name, "id", send.ID, "err", err)
		writeError(w, http.StatusServiceUnavailable, "the store did not take the send; post it again (with the same idempotency_key): "+err.Error())
		return
	}
	h.c.Logger.Info("api: send accepted", "token", tok.name, "account", acct.Name, "id", send.ID, "to", send.OrderKey, "replay", replay)
	if replay {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": send.ID})
}

// readBody reads the request's body: 413 over MaxBody.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	tooLarge := fmt.Errorf("the body is over %d bytes", MaxBody)
	if r.ContentLength > MaxBody {
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	case err != nil:
		return nil, http.StatusBadRequest, fmt.Errorf("reading the body: %w", err)
	}
	return body, 0, nil
}

// account resolves the request's account: the one there is when none is
// named. Unknown: 400; not the token's: 403; unable to send: 503.
func (h *Handler) account(name string, tok *token) (Account, int, error) {
	if name == "" {
		names := h.c.Names()
		if len(names) != 1 {
			return Account{}, http.StatusBadRequest, fmt.Errorf("account: required: this bot serves %d accounts (%s)", len(names), listNames(names))
		}
		name = names[0]
	}
	acct, ok := h.c.Lookup(name)
	if !ok {
		return Account{}, http.StatusBadRequest, fmt.Errorf("account: unknown account %q (known: %s)", name, listNames(h.c.Names()))
	}
	if !tok.mayUse(name) {
		return Account{}, http.StatusForbidden, fmt.Errorf("account: token %s may not send for account %q (its accounts= in the tokens file: %s)", tok.name, name, strings.Join(tok.accounts, ","))
	}
	if acct.Outbox == nil || acct.Outbox.Deliverer(outbox.KindKefu) == nil {
		return Account{}, http.StatusServiceUnavailable, fmt.Errorf("account %q cannot send kefu messages: it has no AppID and AppSecret (--appid and --secret, or the accounts file's appid and secret_env)", name)
	}
	return acct, 0, nil
}

// remember stores the request's key with its fingerprint (a hash of what
// it asks for: account, to, kefu; not the key, nor the JSON's spacing or
// order) and reports whether the key was posted before with the same
// request; another request under the key is 409.
func (h *Handler) remember(ctx context.Context, acct Account, tok *token, key, fingerprint string) (bool, int, error) {
	keys, ok := acct.Store.(store.IdempotencyKeys)
	if !ok {
		return false, http.StatusServiceUnavailable, fmt.Errorf("account %q: its store (%T) keeps no idempotency keys", acct.Name, acct.Store)
	}
	first, err := keys.RememberKey(ctx, "api:"+tok.name+":"+key, fingerprint, KeyRetention)
	switch {
	case err != nil:
		h.c.Logger.Warn("api: the store did not take an idempotency key", "token", tok.name, "account", acct.Name, "err", err)
		return false, http.StatusServiceUnavailable, fmt.Errorf("the store did not take the idempotency key; post again (with the same idempotency_key): %v", err)
	case first != "" && first != fingerprint:
		return false, http.StatusConflict, fmt.Errorf("idempotency_key %q was posted before with another message (within %v): use a new key for a new message", key, KeyRetention)
	}
	return first != "", 0, nil
}

// get is GET /v1/messages/ID: a send of this token's.
func (h *Handler) get(w http.ResponseWriter, r *http.Request, tok *token) {
	id := r.PathValue("id")
	notFound := func(why string) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no message %q for token %s: %s", id, tok.name, why))
	}
	acctName, name, ok := parseID(id)
	if !ok || name != tok.name {
		notFound("not an ID this token was given")
		return
	}
	acct, ok := h.c.Lookup(acctName)
	if !ok {
		notFound(fmt.Sprintf("account %q is not served", acctName))
		return
	}
	tr, ok := acct.Store.(outbox.Tracker)
	if !ok {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("account %q: its store (%T) tracks no sends", acct.Name, acct.Store))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	st, err := tr.Track(ctx, id)
	switch {
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "the store did not answer; ask again: "+err.Error())
	case st.State == outbox.Unknown:
		notFound(fmt.Sprintf("never accepted, or settled more than %v ago", store.IDRetention))
	default:
		out := map[string]string{"id": id, "status": string(st.State)}
		if st.State == outbox.Dead {
			out["reason"] = st.Reason
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// newID is a send's ID: the account, the token's name and a hash of the
// idempotency key (random without one), so that a key posted again names
// the same send and GET can find its account and check its token.
func newID(account, tokenName, key string) string {
	var b [16]byte
	if key != "" {
		sum := sha256.Sum256([]byte(key))
		copy(b[:], sum[:])
	} else {
		rand.Read(b[:])
	}
	return "api:" + account + ":" + tokenName + ":" + hex.EncodeToString(b[:])
}

// parseID splits an ID newID made.
func parseID(id string) (account, tokenName string, ok bool) {
	parts := strings.Split(id, ":")
	if len(parts) != 4 || parts[0] != "api" || parts[1] == "" || len(parts[3]) != 32 {
		return "", "", false
	}
	return parts[1], parts[2], true
}

// listNames lists account names for an error, the first ten at most.
func listNames(names []string) string {
	if len(names) > 10 {
		return strings.Join(names[:10], ", ") + fmt.Sprintf(" and %d more", len(names)-10)
	}
	return strings.Join(names, ", ")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

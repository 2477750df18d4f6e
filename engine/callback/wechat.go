package callback

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/dedup"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/engine/wechat"
)

// MaxBodyBytes caps a push body. WeChat's pushes are a few KiB at most.
const MaxBodyBytes = 1 << 20

// Config configures the WeChat callback handler.
type Config struct {
	// Token is the Token from the console; PreviousToken, when set, is still
	// accepted while the console switches to a new one.
	Token, PreviousToken string
	// Cipher enables safe and compatible mode; PreviousCipher (optional)
	// still decrypts while the EncodingAESKey is rotated.
	Cipher, PreviousCipher *wechat.Cipher
	// RequireEncryption refuses plaintext pushes.
	RequireEncryption bool
	// MaxSkew rejects pushes whose timestamp is further from now; 0 disables.
	MaxSkew time.Duration
	// ReplyDeadline bounds how long a push waits for its passive reply; after
	// it the push is answered "success". Zero means 4 s.
	ReplyDeadline time.Duration
	// DedupTTL is how long answers are kept for retries (dedup.DefaultTTL
	// when 0).
	DedupTTL time.Duration
	// Dedup is shared by replicas; nil keeps retries in process.
	Dedup dedup.Cache
	// Replays remembers signed query strings for MaxSkew (shared by
	// replicas on Redis); nil keeps them in process memory.
	Replays Replays
	// Hints replace the advice in the log line of a refusal, by its metric
	// label (bad_signature, decrypt, plaintext_refused): the front end knows
	// its own setting names.
	Hints map[string]string
	// RefusalLogEvery bounds the log of refused pushes: the first of each
	// kind in this interval is logged in full, the rest are counted and
	// summed up in one line at its end (10 s when 0). A flood of forged
	// requests cannot fill the disk; the metric counts every one.
	RefusalLogEvery time.Duration
	Logger          *slog.Logger
	// HoldLate is for accounts without the kefu API (--kefu=false): a
	// push whose reply is not ready by the deadline is held for WeChat's
	// retries instead of answered "success" (see hold.go); the engine
	// must hold late replies too (engine.Options.HoldLate).
	HoldLate bool
	// GhID, when set, is the account's original ID (gh_…): a push whose
	// ToUserName differs is refused 403, as a push meant for another
	// account of the process.
	GhID string
	// RetryWait is how long WeChat waits for an attempt before it sends the
	// next (DefaultRetryWait when 0): it schedules a held push's last
	// answer. Only a simulator of WeChat (tests) changes it.
	RetryWait time.Duration
	// PendingText answers the last attempt of a held push whose reply is
	// still not ready.
	PendingText string
	// Held gives the replies held for users, which answer their next
	// push; required with HoldLate.
	Held HeldReplies
}

// Handler is the WeChat callback: GET verifies the server URL, POST takes
// pushes. Create it with NewHandler.
type Handler struct {
	e     *engine.Engine
	cfg   Config
	dedup dedup.Cache
	obs   engine.Observer
	log   *slog.Logger

	refusals refusalLog
	holds    holds
}

// NewHandler returns the callback handler for e.
func NewHandler(e *engine.Engine, cfg Config) *Handler {
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = DefaultRetryWait
	}
	if cfg.ReplyDeadline <= 0 {
		cfg.ReplyDeadline = 4 * time.Second
	}
	if cfg.DedupTTL <= 0 {
		cfg.DedupTTL = dedup.DefaultTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = e.Logger()
	}
	if cfg.HoldLate && cfg.PendingText == "" {
		cfg.PendingText = DefaultPendingText
	}
	if cfg.RefusalLogEvery <= 0 {
		cfg.RefusalLogEvery = 10 * time.Second
	}
	if cfg.Replays == nil {
		cfg.Replays = memory.New(e.Now)
	}
	h := &Handler{e: e, cfg: cfg, dedup: cfg.Dedup, obs: e.Observer(), log: cfg.Logger}
	h.refusals.every, h.refusals.log = cfg.RefusalLogEvery, cfg.Logger
	if h.dedup == nil {
		h.dedup = dedup.NewLocal(cfg.DedupTTL, e.Now)
	}
	return h
}

// query holds the parameters WeChat puts on the callback URL.
type query struct {
	signature, timestamp, nonce, echostr, encryptType, msgSignature string
}

// parseQuery reads only the keys it knows, in one pass, without building a
// url.Values map.
func parseQuery(raw string) query {
	var q query
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if strings.ContainsAny(v, "%+") {
			if u, err := url.QueryUnescape(v); err == nil {
				v = u
			}
		}
		switch k {
		case "signature":
			q.signature = v
		case "timestamp":
			q.timestamp = v
		case "nonce":
			q.nonce = v
		case "echostr":
			q.echostr = v
		case "encrypt_type":
			q.encryptType = v
		case "msg_signature":
			q.msgSignature = v
		}
	}
	return q
}

// token returns the configured token that signed q, or "".
func (h *Handler) token(q *query) string {
	for _, t := range [2]string{h.cfg.Token, h.cfg.PreviousToken} {
		if t != "" && wechat.VerifySignature(t, q.timestamp, q.nonce, q.signature) {
			return t
		}
	}
	return ""
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		h.verify(w, r)
	case http.MethodPost:
		h.push(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// verify answers the console's server URL check.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	q := parseQuery(r.URL.RawQuery)
	if q.signature == "" || q.timestamp == "" || q.nonce == "" || q.echostr == "" {
		http.Error(w, "missing signature, timestamp, nonce or echostr", http.StatusBadRequest)
		return
	}
	if h.token(&q) == "" {
		h.log.Warn("URL verification with a bad signature: check that the Token matches the console's",
			"remote", r.RemoteAddr)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	h.log.Info("URL verified")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, q.echostr)
}

// refusal is a push refused before any rule ran. The sender sees only the
// status and a short public text; the log gets the reason and the error.
type refusal struct {
	status int
	public string // the answer's body: never a secret, never the cause in detail
	kind   string // the metric label: bad_signature, stale_timestamp, …
	why    string // for the operator: what happened and what to check
	err    error
}

// refusalHints say what to check, in the log, by refusal kind; Config.Hints
// replaces them with the front end's own setting names.
var refusalHints = map[string]string{
	"bad_signature":     "check that the Token is the console's",
	"decrypt":           "check the EncodingAESKey and the AppID against the console",
	"plaintext_refused": "set the console to safe mode",
}

// The refusals' public texts: the status, and for a 400 what was wrong in
// a few words that name no secret (simulate turns them into advice).
const (
	badSignature = "bad signature"
	badRequest   = "bad request"
	notWeChat    = badRequest + ": not a WeChat message"
)

func refuse(status int, public, kind, why string, err error) *refusal {
	return &refusal{status: status, public: public, kind: kind, why: why, err: err}
}

func (h *Handler) reject(w http.ResponseWriter, r *http.Request, f *refusal) {
	h.obs.Refused(f.kind)
	if h.refusals.first(f.kind) {
		why := f.why
		hint, ok := h.cfg.Hints[f.kind]
		if !ok {
			hint = refusalHints[f.kind]
		}
		if hint != "" {
			why += "; " + hint
		}
		h.log.Warn("push refused", "status", f.status, "reason", why, "err", f.err, "remote", r.RemoteAddr,
			"kind", f.kind, "more_of_this_kind", "summed up every "+h.refusals.every.String())
	}
	http.Error(w, f.public, f.status)
}

// refusalLog rate-limits the log of refused pushes (see
// Config.RefusalLogEvery).
type refusalLog struct {
	every time.Duration
	log   *slog.Logger

	mu      sync.Mutex
	logged  map[string]bool // kinds logged in full in this interval
	counts  map[string]int  // refusals not logged, by kind
	pending bool            // a summary is scheduled
}

// first reports whether this refusal is the first of its kind in the
// interval (to be logged in full); otherwise it is counted for the
// summary.
func (l *refusalLog) first(kind string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.logged == nil {
		l.logged, l.counts = map[string]bool{}, map[string]int{}
	}
	if !l.pending {
		l.pending = true
		time.AfterFunc(l.every, l.flush)
	}
	if !l.logged[kind] {
		l.logged[kind] = true
		return true
	}
	l.counts[kind]++
	return false
}

// flush ends an interval: one line sums up what was not logged.
func (l *refusalLog) flush() {
	l.mu.Lock()
	counts := l.counts
	l.logged, l.counts, l.pending = map[string]bool{}, map[string]int{}, false
	l.mu.Unlock()
	if len(counts) == 0 {
		return
	}
	attrs := []any{"interval", l.every}
	total := 0
	for kind, n := range counts {
		attrs = append(attrs, kind, n)
		total += n
	}
	l.log.Warn("more pushes refused than were logged", append(attrs, "total", total)...)
}

// push handles one push: authenticate, open, dispatch, respond.
func (h *Handler) push(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	q := parseQuery(r.URL.RawQuery)
	token, f := h.authenticate(&q)
	if f != nil {
		h.reject(w, r, f)
		return
	}
	ps, f := h.open(w, r, &q, token)
	if f != nil {
		h.reject(w, r, f)
		return
	}
	ev := &ps.ev
	answer, first, err := h.claim(r.Context(), ev)
	if err != nil { // only a cache without fallback fails; answer rather than lose the push
		h.log.Error("retry dedup failed; running the rules", "err", err)
		answer, first = dedup.Detached(), true
	}
	if !first {
		h.answerRetry(w, r, ev, answer, start)
		return
	}
	if ps.repeat { // seen with this very body, its answer since forgotten: nothing runs twice
		answer.Finish("text/plain; charset=utf-8", successBody)
		writeAnswer(w, "text/plain; charset=utf-8", successBody)
		h.log.Info("a repeat of a push answered before (same query string and body); nothing runs again", "type", ev.Type, "from", ev.From)
		h.obs.Push(engine.MetricLabel(ev.Type), "retry", time.Since(start))
		return
	}
	if h.cfg.HoldLate && ev.TakesReply() && ev.ReplySeen() { // a push nobody sees the answer to is not held
		h.pushHolding(w, r, ps, &q, token, answer, start)
		return
	}
	p, reply, outcome := h.dispatch(ev)
	h.respond(w, r, ps, &q, token, answer, p, reply, outcome, start)
}

// claim claims the push against WeChat's retries; on a shared store that
// can, it records the kefu window the push opens in the same round trip
// (the engine then leaves it).
func (h *Handler) claim(ctx context.Context, ev *engine.Event) (dedup.Answer, bool, error) {
	if wc, ok := h.dedup.(dedup.WindowCache); ok {
		if until, ok := engine.KefuWindowUntil(ev, h.e.Now()); ok {
			a, c, err := wc.ClaimWindow(ctx, ev.ID, dedup.Window{OpenID: ev.From, Until: until, Read: engine.KfKey})
			ev.WindowOpened = c.Opened
			if c.Read != nil {
				ev.Kf, ev.KfRead = *c.Read, true
			}
			return a, c.First, err
		}
	}
	return h.dedup.Claim(ctx, ev.ID)
}

// respond answers the push with what its rules settled on.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, ps *pushState, q *query, token string, answer dedup.Answer,
	p *engine.Push, reply *wechat.Reply, outcome engine.Outcome, start time.Time) {
	ev := &ps.ev
	ct, out := h.encode(ps, q, token, reply)
	answer.Finish(ct, out) // a shared store bounds this with its own short timeout
	writeAnswer(w, ct, out)
	if outcome == engine.DeadlinePassed {
		h.obs.DeadlinePassed()
	}
	h.obs.Push(engine.MetricLabel(ev.Type), outcome.String(), time.Since(start))
	if h.log.Enabled(r.Context(), slog.LevelInfo) {
		h.log.Info("push", "type", ev.Type, "from", ev.From, "rules", p.RuleNames(),
			"outcome", outcome.String(), "encrypted", ps.cipher != nil, "latency", time.Since(start))
	}
}

// authenticate checks the query's signature and timestamp, and returns the
// token that signed it.
func (h *Handler) authenticate(q *query) (string, *refusal) {
	if q.signature == "" || q.timestamp == "" || q.nonce == "" {
		return "", refuse(http.StatusUnauthorized, badSignature, "bad_signature", "missing signature, timestamp or nonce", nil)
	}
	token := h.token(q)
	if token == "" {
		return "", refuse(http.StatusUnauthorized, badSignature, "bad_signature", "signature does not match", wechat.ErrBadSignature)
	}
	if h.cfg.MaxSkew > 0 {
		ts, err := strconv.ParseInt(q.timestamp, 10, 64)
		if err != nil {
			return "", refuse(http.StatusBadRequest, badRequest+": timestamp is not a number", "bad_body", "timestamp is not a number", err)
		}
		if d := h.e.Now().Sub(time.Unix(ts, 0)); d > h.cfg.MaxSkew || d < -h.cfg.MaxSkew {
			return "", refuse(http.StatusForbidden, "stale timestamp", "stale_timestamp",
				"timestamp outside the allowed skew: a replay, or this server's clock is off (check NTP)", nil)
		}
	}
	return token, nil
}

// pushState is the per-push memory the handler needs, in one allocation.
type pushState struct {
	msg    wechat.Message
	fields [wechat.TypicalFields]wechat.Field // msg.Fields, in the same allocation
	ev     engine.Event
	cipher *wechat.Cipher // the one that decrypted the push; nil for plaintext
	repeat bool           // the query string came before with this body
}

// open reads the body, decrypts it when the push is encrypted, and decodes
// the message and its event.
func (h *Handler) open(w http.ResponseWriter, r *http.Request, q *query, token string) (*pushState, *refusal) {
	body, err := readBody(w, r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, refuse(http.StatusRequestEntityTooLarge, "body too large", "too_large", "body over 1 MiB", nil)
		}
		return nil, refuse(http.StatusBadRequest, badRequest, "bad_body", "reading body", err)
	}
	ps := new(pushState)
	ps.msg.Fields = ps.fields[:0]
	if f := h.checkReplay(r.Context(), q, body, ps); f != nil {
		return nil, f
	}
	var f *refusal
	if q.encryptType == "aes" && h.cfg.Cipher != nil {
		f = h.decrypt(ps, q, token, body)
	} else {
		f = h.plaintext(ps, q, body)
	}
	if f != nil {
		return nil, f
	}
	if h.cfg.GhID != "" && ps.msg.ToUserName != h.cfg.GhID {
		return nil, refuse(http.StatusForbidden, "wrong account", "wrong_account",
			"the push's ToUserName is not this account's gh_id (a push for another account, or a forged one)", nil)
	}
	engine.FillEvent(&ps.ev, &ps.msg, h.e.Location())
	return ps, nil
}

// decrypt opens a safe- or compatible-mode push with the current or the
// previous EncodingAESKey.
func (h *Handler) decrypt(ps *pushState, q *query, token string, body []byte) *refusal {
	env, err := wechat.ParseEnvelopeString(unsafeString(body))
	if err != nil {
		return refuse(http.StatusBadRequest, notWeChat, "bad_body", "encrypted push without a valid envelope", err)
	}
	if !wechat.VerifyMsgSignature(token, q.timestamp, q.nonce, env.Encrypt, q.msgSignature) {
		return refuse(http.StatusUnauthorized, badSignature, "bad_signature", "msg_signature does not match", wechat.ErrBadSignature)
	}
	var plain []byte
	for _, c := range [2]*wechat.Cipher{h.cfg.Cipher, h.cfg.PreviousCipher} {
		if c == nil {
			continue
		}
		if plain, err = c.Decrypt(env.Encrypt); err == nil {
			ps.cipher = c
			break
		}
	}
	if ps.cipher == nil {
		return refuse(http.StatusBadRequest, badRequest+": cannot decrypt", "decrypt", "cannot decrypt", err)
	}
	if err := wechat.DecodeStringInto(&ps.msg, unsafeString(plain)); err != nil {
		return refuse(http.StatusBadRequest, notWeChat, "bad_body", "decrypted push is not a WeChat message", err)
	}
	if env.ToUserName != "" && subtle.ConstantTimeCompare([]byte(env.ToUserName), []byte(ps.msg.ToUserName)) != 1 {
		return refuse(http.StatusBadRequest, badRequest+": the envelope's and the message's accounts differ", "bad_body", "envelope ToUserName differs from the message's", nil)
	}
	return nil
}

// plaintext decodes a push that is not encrypted, unless encryption is
// required.
func (h *Handler) plaintext(ps *pushState, q *query, body []byte) *refusal {
	if h.cfg.RequireEncryption {
		return refuse(http.StatusForbidden, "encryption required", "plaintext_refused",
			"plaintext push refused: encryption is required", nil)
	}
	if q.encryptType == "aes" {
		// Compatible mode still carries plaintext; safe mode fails to decode below.
		h.log.Warn("encrypted push but no EncodingAESKey configured: answering in plaintext if the push has any")
	}
	if err := wechat.DecodeStringInto(&ps.msg, unsafeString(body)); err != nil {
		return refuse(http.StatusBadRequest, notWeChat, "bad_body", "body is not a WeChat message", err)
	}
	return nil
}

// answerRetry serves a later copy of a push the first copy's answer.
func (h *Handler) answerRetry(w http.ResponseWriter, r *http.Request, ev *engine.Event, answer dedup.Answer, start time.Time) {
	if h.cfg.HoldLate {
		h.holds.retried(ev.ID, h.cfg.ReplyDeadline)
	}
	ct, out, err := answer.Wait(r.Context())
	if err != nil {
		return // WeChat gave up on this copy
	}
	h.log.Info("retry answered from the first copy", "type", ev.Type, "from", ev.From)
	writeAnswer(w, ct, out)
	h.obs.Push(engine.MetricLabel(ev.Type), "retry", time.Since(start))
}

// dispatch runs the rules and waits for the passive reply until the
// deadline.
func (h *Handler) dispatch(ev *engine.Event) (*engine.Push, *wechat.Reply, engine.Outcome) {
	p := h.e.Dispatch(ev)
	select {
	case <-p.Done(): // ran inline, or already finished: no timer needed
		reply, outcome := p.Wait(nil)
		return p, reply, outcome
	default:
	}
	timer := time.NewTimer(h.cfg.ReplyDeadline)
	defer timer.Stop()
	reply, outcome := p.Wait(timer.C)
	return p, reply, outcome
}

// encode builds the answer: "success" without a reply, else the reply's XML,
// encrypted when the push was. It is built in a pooled buffer, then copied
// to its exact size: the copy is what the dedup keeps for retries.
func (h *Handler) encode(ps *pushState, q *query, token string, reply *wechat.Reply) (ct string, out []byte) {
	if reply == nil {
		return "text/plain; charset=utf-8", successBody
	}
	bp := replyBufs.Get().(*[]byte)
	*bp = wechat.AppendReply((*bp)[:0], ps.ev.From, ps.ev.To, h.e.Now().Unix(), reply)
	if ps.cipher != nil {
		ep := replyBufs.Get().(*[]byte)
		*ep = ps.cipher.AppendEncryptedReply((*ep)[:0], token, *bp, q.timestamp, q.nonce)
		out = append([]byte(nil), *ep...)
		replyBufs.Put(ep)
	} else {
		out = append([]byte(nil), *bp...)
	}
	replyBufs.Put(bp)
	return "application/xml; charset=utf-8", out
}

var successBody = []byte("success")

var replyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func writeAnswer(w http.ResponseWriter, ct string, body []byte) {
	h := w.Header()
	if v, ok := contentTypeHeaders[ct]; ok {
		h["Content-Type"] = v
	} else {
		h.Set("Content-Type", ct)
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.Write(body)
}

// contentTypeHeaders are the header values of the answers' content types,
// made once (Header.Set canonicalizes the name and allocates the value's
// slice per push). Each slice is full, so an append elsewhere copies it.
var contentTypeHeaders = map[string][]string{
	"application/xml; charset=utf-8": {"application/xml; charset=utf-8"},
	"text/plain; charset=utf-8":      {"text/plain; charset=utf-8"},
}

// readBody reads the push body in one allocation when Content-Length is
// known (WeChat sends it), growing otherwise, and never past MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, &http.MaxBytesError{Limit: MaxBodyBytes}
	}
	rd := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if n := r.ContentLength; n > 0 {
		buf := make([]byte, n)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(rd)
}

// unsafeString views b as a string without copying. It is only for buffers
// that this package allocated for one push and never writes again (the
// body it read, the plaintext Decrypt returned), so the string stays
// immutable.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

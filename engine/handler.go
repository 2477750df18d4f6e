package engine

import (
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

	"github.com/wxbot/wxbot/engine/wechat"
)

// MaxBodyBytes caps a push body. WeChat's pushes are a few KiB at most.
const MaxBodyBytes = 1 << 20

// DefaultDedupTTL covers WeChat's retry span (three retries, about 5 s
// apart, so about 15 s) with room to spare; answers are kept between one
// and two TTLs. Every answer is held that long, so the TTL bounds memory.
const DefaultDedupTTL = 30 * time.Second

// HandlerConfig configures the WeChat callback handler.
type HandlerConfig struct {
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
	// DedupTTL is how long answers are kept for retries (DefaultDedupTTL when 0).
	DedupTTL time.Duration
	// Dedup is shared by replicas; nil keeps retries in process.
	Dedup  Deduper
	Logger *slog.Logger
}

// Handler is the WeChat callback: GET verifies the server URL, POST takes
// pushes. Create it with NewHandler.
type Handler struct {
	e     *Engine
	cfg   HandlerConfig
	dedup Deduper
	log   *slog.Logger
}

// NewHandler returns the callback handler for e.
func NewHandler(e *Engine, cfg HandlerConfig) *Handler {
	if cfg.ReplyDeadline <= 0 {
		cfg.ReplyDeadline = 4 * time.Second
	}
	if cfg.DedupTTL <= 0 {
		cfg.DedupTTL = DefaultDedupTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = e.log
	}
	h := &Handler{e: e, cfg: cfg, dedup: cfg.Dedup, log: cfg.Logger}
	if h.dedup == nil {
		h.dedup = NewDedup(cfg.DedupTTL, e.now)
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
		h.log.Warn("URL verification with a bad signature: check that --token matches the console's Token",
			"remote", r.RemoteAddr)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	h.log.Info("URL verified")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, q.echostr)
}

// reject answers a push that is refused before any rule runs; kind is the
// metric label.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, status int, public, kind, why string, err error) {
	h.e.obs.Refused(kind)
	h.log.Warn("push refused", "status", status, "reason", why, "err", err, "remote", r.RemoteAddr)
	http.Error(w, public, status)
}

func (h *Handler) push(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	q := parseQuery(r.URL.RawQuery)
	if q.signature == "" || q.timestamp == "" || q.nonce == "" {
		h.reject(w, r, http.StatusUnauthorized, "bad signature", "bad_signature", "missing signature, timestamp or nonce", nil)
		return
	}
	token := h.token(&q)
	if token == "" {
		h.reject(w, r, http.StatusUnauthorized, "bad signature", "bad_signature", "signature does not match --token", wechat.ErrBadSignature)
		return
	}
	if h.cfg.MaxSkew > 0 {
		ts, err := strconv.ParseInt(q.timestamp, 10, 64)
		if err != nil {
			h.reject(w, r, http.StatusBadRequest, "bad request", "bad_body", "timestamp is not a number", err)
			return
		}
		if d := h.e.now().Sub(time.Unix(ts, 0)); d > h.cfg.MaxSkew || d < -h.cfg.MaxSkew {
			h.reject(w, r, http.StatusForbidden, "stale timestamp", "stale_timestamp",
				"timestamp outside --max-skew (a replay, or this server's clock is off: check NTP)", nil)
			return
		}
	}
	body, err := readBody(w, r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.reject(w, r, http.StatusRequestEntityTooLarge, "body too large", "too_large", "body over 1 MiB", nil)
			return
		}
		h.reject(w, r, http.StatusBadRequest, "bad request", "bad_body", "reading body", err)
		return
	}

	// The push's message and event share one allocation.
	ps := new(pushState)
	msg := &ps.msg
	var cipher *wechat.Cipher // the one that decrypted the push; nil for plaintext
	if q.encryptType == "aes" && h.cfg.Cipher != nil {
		env, err := wechat.ParseEnvelope(body)
		if err != nil {
			h.reject(w, r, http.StatusBadRequest, "bad request", "bad_body", "encrypted push without a valid envelope", err)
			return
		}
		if !wechat.VerifyMsgSignature(token, q.timestamp, q.nonce, env.Encrypt, q.msgSignature) {
			h.reject(w, r, http.StatusUnauthorized, "bad signature", "bad_signature", "msg_signature does not match", wechat.ErrBadSignature)
			return
		}
		var plain []byte
		for _, c := range [2]*wechat.Cipher{h.cfg.Cipher, h.cfg.PreviousCipher} {
			if c == nil {
				continue
			}
			if plain, err = c.Decrypt(env.Encrypt); err == nil {
				cipher = c
				break
			}
		}
		if cipher == nil {
			h.reject(w, r, http.StatusBadRequest, "bad request", "decrypt",
				"cannot decrypt: check --aes-key and --appid against the console", err)
			return
		}
		if err := wechat.DecodeStringInto(msg, owned(plain)); err != nil {
			h.reject(w, r, http.StatusBadRequest, "bad request", "bad_body", "decrypted push is not a WeChat message", err)
			return
		}
		if env.ToUserName != "" && subtle.ConstantTimeCompare([]byte(env.ToUserName), []byte(msg.ToUserName)) != 1 {
			h.reject(w, r, http.StatusBadRequest, "bad request", "bad_body", "envelope ToUserName differs from the message's", nil)
			return
		}
	} else {
		if h.cfg.RequireEncryption {
			h.reject(w, r, http.StatusForbidden, "encryption required", "plaintext_refused",
				"plaintext push refused by --require-encryption: set the console to safe mode", nil)
			return
		}
		if q.encryptType == "aes" {
			// Compatible mode still carries plaintext; safe mode fails to decode below.
			h.log.Warn("encrypted push but no --aes-key configured: answering in plaintext if the push has any")
		}
		if err := wechat.DecodeStringInto(msg, owned(body)); err != nil {
			h.reject(w, r, http.StatusBadRequest, "bad request", "bad_body", "body is not a WeChat message", err)
			return
		}
	}

	ev := &ps.ev
	fillEvent(ev, msg, h.e.loc)
	inflight, first, err := h.dedup.Claim(r.Context(), ev.ID)
	if err != nil { // only a Deduper without fallback fails; answer rather than lose the push
		h.log.Error("retry dedup failed; running the rules", "err", err)
		inflight, first = &Inflight{}, true
	}
	if !first {
		ct, out, err := inflight.Wait(r.Context())
		if err != nil {
			return // WeChat gave up on this copy
		}
		h.log.Info("retry answered from the first copy", "type", ev.Type, "from", ev.From)
		writeAnswer(w, ct, out)
		h.e.obs.Push(metricType(ev.Type), "retry", time.Since(start))
		return
	}

	p := h.e.Dispatch(ev)
	var reply *wechat.Reply
	var outcome Outcome
	select {
	case <-p.Done(): // ran inline, or already finished: no timer needed
		reply, outcome = p.Wait(nil)
	default:
		timer := time.NewTimer(h.cfg.ReplyDeadline)
		reply, outcome = p.Wait(timer.C)
		timer.Stop()
	}

	ct, out := "text/plain; charset=utf-8", successBody
	if reply != nil {
		// Built in a pooled buffer, then copied to its exact size: the copy is
		// what the dedup keeps for retries.
		bp := replyBufs.Get().(*[]byte)
		*bp = wechat.AppendReply((*bp)[:0], ev.From, ev.To, h.e.now().Unix(), reply)
		if cipher != nil {
			ep := replyBufs.Get().(*[]byte)
			*ep = cipher.AppendEncryptedReply((*ep)[:0], token, *bp, q.timestamp, q.nonce)
			out = append([]byte(nil), *ep...)
			replyBufs.Put(ep)
		} else {
			out = append([]byte(nil), *bp...)
		}
		replyBufs.Put(bp)
		ct = "application/xml; charset=utf-8"
	}
	inflight.Finish(ct, out)
	writeAnswer(w, ct, out)
	if outcome == DeadlinePassed {
		h.e.obs.DeadlinePassed()
	}
	h.e.obs.Push(metricType(ev.Type), outcomeNames[outcome], time.Since(start))

	if h.log.Enabled(r.Context(), slog.LevelInfo) {
		names := make([]string, len(p.Rules))
		for i, rl := range p.Rules {
			names[i] = rl.Name
		}
		h.log.Info("push", "type", ev.Type, "from", ev.From, "rules", names,
			"outcome", outcomeNames[outcome], "encrypted", cipher != nil, "latency", time.Since(start))
	}
}

var successBody = []byte("success")

var replyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

var outcomeNames = [...]string{NoReply: "success", Replied: "replied", DeadlinePassed: "deadline"}

func writeAnswer(w http.ResponseWriter, ct string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// metricType bounds the event-type label: WeChat may add events, and a
// label per unknown name would grow without end.
func metricType(t string) string {
	if knownTypes[t] {
		return t
	}
	return "other"
}

var knownTypes = map[string]bool{}

func init() {
	for _, t := range append(append([]string{}, UserMessageTypes...),
		"subscribe", "unsubscribe", "scan", "location_report", "click", "view", "scancode_push",
		"scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin", "location_select",
		"view_miniprogram", "kf_create_session", "kf_close_session", "kf_switch_session",
		"templatesendjobfinish", "masssendjobfinish", "payment") {
		knownTypes[t] = true
	}
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

// pushState is the per-push memory the handler needs, in one allocation.
type pushState struct {
	msg wechat.Message
	ev  Event
}

// owned views b as a string without copying. It is only for buffers that
// this package allocated for one push and never writes again (the body it
// read, the plaintext Decrypt returned), so the string stays immutable.
func owned(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

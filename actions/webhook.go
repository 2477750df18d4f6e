package actions

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/wechat"
)

func init() {
	engine.Register(engine.Spec{
		Name: "webhook",
		Doc: "call your own HTTP service (FAQ, CRM, orders); a JSON answer {\"reply\": {...}} answers the push, " +
			"and failed calls (5xx, network) are retried through the durable outbox",
		Params: func() any { return &WebhookParams{Method: http.MethodPost, Timeout: DefaultWebhookTimeout} },
		New:    func(p any) (engine.Action, error) { return &webhookAction{p: p.(*WebhookParams)}, nil },
		Deliverers: func(d engine.Delivery) map[string]outbox.Deliverer {
			return map[string]outbox.Deliverer{KindWebhook: &WebhookDeliverer{Log: d.Logger, Outbox: d.Outbox, Held: d.Store,
				HoldLate: d.HoldLate}}
		},
	})
}

// KindWebhook is the outbox kind of webhook calls waiting for a retry.
const KindWebhook = "webhook"

// Webhook limits.
const (
	DefaultWebhookTimeout = 3 * time.Second
	// MaxWebhookTimeout keeps a slow service from holding an action (and,
	// for payments, WeChat Pay's answer) for long.
	MaxWebhookTimeout = 10 * time.Second
	// maxWebhookAnswer caps how much of an answer is read.
	maxWebhookAnswer = 64 << 10
)

// WebhookParams are the params of `webhook`.
type WebhookParams struct {
	URL     engine.Template            `yaml:"url" doc:"http:// or https:// URL; may hold ${ expr }"`
	Method  string                     `yaml:"method" doc:"GET, POST (default), PUT, PATCH or DELETE"`
	Headers map[string]engine.Template `yaml:"headers" doc:"request headers; values may hold ${ expr }; Content-Type defaults to application/json for a body starting with { or ["`
	Body    engine.Template            `yaml:"body" doc:"request body; in JSON write ${toJSON(event.content)} (no quotes around it) so that quotes in user text cannot break it"`
	Timeout time.Duration              `yaml:"timeout" doc:"per attempt: default 3s, at most 10s"`
}

var webhookMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// headerName is an HTTP token (RFC 9110 §5.6.2).
var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// Validate checks what can be checked before a push: the method, the
// timeout, header names, and a URL without interpolation.
func (p *WebhookParams) Validate() error {
	var errs []error
	if p.URL.IsZero() {
		errs = append(errs, errors.New("url: required"))
	} else if p.URL.Constant() {
		if err := checkWebhookURL(p.URL.String()); err != nil {
			errs = append(errs, fmt.Errorf("url: %w", err))
		}
	}
	m := strings.ToUpper(p.Method)
	if !contains(webhookMethods, m) {
		errs = append(errs, fmt.Errorf("method: %q, want one of %s", p.Method, strings.Join(webhookMethods, ", ")))
	}
	p.Method = m
	switch {
	case p.Timeout <= 0:
		errs = append(errs, errors.New("timeout: want more than 0, e.g. 2s"))
	case p.Timeout > MaxWebhookTimeout:
		errs = append(errs, fmt.Errorf("timeout: %v is over the %v limit (slow work belongs behind a queue in your service)", p.Timeout, MaxWebhookTimeout))
	}
	for name := range p.Headers {
		if !headerName.MatchString(name) {
			errs = append(errs, fmt.Errorf("headers: %q is not a valid header name", name))
		}
	}
	return errors.Join(errs...)
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", raw)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an http:// or https:// URL with a host", u.Redacted())
	}
	return nil
}

// freeText are the event fields a user types or chooses: put in a JSON body
// between quotes, they can close the string and add fields of their own.
var freeText = regexp.MustCompile(`"\$\{[^}]*event\.(content|recognition|link|location\.label|scan\.result|raw|key|payment\.attach)`)

// Lint warns about a JSON body that quotes free text itself, and a URL whose
// host is computed from the event.
func (p *WebhookParams) Lint(engine.LintInfo) []string {
	var out []string
	if body := strings.TrimSpace(p.Body.String()); (strings.HasPrefix(body, "{") || strings.HasPrefix(body, "[")) && freeText.MatchString(body) {
		out = append(out, `body: user text inside "${…}" breaks the JSON when it holds a quote (and lets the user add fields): write ${toJSON(event.content)} without the quotes`)
	}
	if !p.URL.Constant() && strings.Contains(urlAuthority(p.URL.String()), "event.") {
		out = append(out, "url: the host comes from the event: a user could choose where the bot sends requests (keep event values in the path or query)")
	}
	return out
}

// urlAuthority is the part of a URL template that chooses the server: the
// scheme and host, up to the first "/" or "?" outside ${…}.
func urlAuthority(src string) string {
	start := 0
	if i := strings.Index(src, "://"); i >= 0 {
		start = i + 3
	}
	depth := 0
	for i := start; i < len(src); i++ {
		switch {
		case strings.HasPrefix(src[i:], "${"):
			depth++
			i++
		case src[i] == '}' && depth > 0:
			depth--
		case (src[i] == '/' || src[i] == '?') && depth == 0:
			return src[:i]
		}
	}
	return src
}

type webhookAction struct{ p *WebhookParams }

// Run calls the service once inline; an answer with a reply answers the
// push (or goes out by kefu when it came after the reply deadline). A
// transient failure is queued for the outbox to retry; a reply a retry
// answers with is a late one (see WebhookDeliverer.Deliver).
func (a *webhookAction) Run(ctx context.Context, c *engine.Call) error {
	req, err := a.build(c)
	if err != nil {
		return err
	}
	if c.DryRun() {
		return nil
	}
	d, ok := c.Deliverer(KindWebhook).(*WebhookDeliverer)
	if !ok {
		return errors.New("webhook: no webhook deliverer in the outbox (wxbot serve registers one; a custom build must too)")
	}
	ans, err := d.Do(ctx, req)
	switch {
	case err == nil:
		if ans.ReplyErr != nil {
			c.Logger.Warn("webhook answered with a reply wxbot cannot send; nothing sent", "rule", c.Rule.Name, "err", ans.ReplyErr)
		}
		if ans.Reply != nil {
			c.Reply(ans.Reply) // which drops it, with a log line, for events that take none
		}
		return nil
	case outbox.IsPermanent(err):
		return err
	}
	// The retry is stored even when the engine is stopping (ctx cancelled):
	// that is when it matters most.
	if c.Event.TakesReply() && c.Event.ReplySeen() { // as Call.Answer: no late reply for the others
		req.ReplyTo = c.Event.From
	}
	qerr := c.Enqueue(context.WithoutCancel(ctx), KindWebhook, req, engine.SendOptions{OrderKey: "webhook:" + req.Key})
	if qerr != nil {
		return fmt.Errorf("%w (and queueing a retry failed: %v)", err, qerr)
	}
	c.Logger.Warn("webhook failed; queued for retry", "rule", c.Rule.Name, "err", err)
	return nil
}

// build renders the request for one push.
func (a *webhookAction) build(c *engine.Call) (*WebhookRequest, error) {
	p := a.p
	rd := renderer{c: c}
	req := &WebhookRequest{URL: rd.render(&p.URL), Method: p.Method, Body: rd.render(&p.Body), Timeout: p.Timeout, Key: c.Key()}
	if len(p.Headers) > 0 {
		req.Headers = make(map[string]string, len(p.Headers))
		for k := range p.Headers {
			t := p.Headers[k]
			req.Headers[k] = rd.render(&t)
		}
	}
	if rd.err != nil {
		return nil, fmt.Errorf("webhook: %w", rd.err)
	}
	return req, nil
}

// WebhookRequest is a rendered webhook call: what the outbox stores to
// retry it.
type WebhookRequest struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	Timeout time.Duration     `json:"timeout"`
	// Key identifies the push and step; it is sent, hashed, as
	// Idempotency-Key, so that a service can tell a retry from a new call.
	Key string `json:"key"`
	// ReplyTo is the user a retry's reply goes to, late (the push's
	// sender); "" for a push that takes no reply or whose reply nobody
	// sees, and for retries queued before it existed.
	ReplyTo string `json:"reply_to,omitempty"`
}

// WebhookAnswer is a successful call's outcome.
type WebhookAnswer struct {
	Status int
	// Reply is the answer's {"reply": {...}}, nil when there is none;
	// ReplyErr says why one that was there could not be used.
	Reply    *wechat.Reply
	ReplyErr error
}

// WebhookError is an answer outside 2xx.
type WebhookError struct {
	Method, URL string // URL redacted
	Status      int
}

func (e *WebhookError) Error() string {
	return fmt.Sprintf("webhook %s %s: HTTP %d", e.Method, e.URL, e.Status)
}

// WebhookDeliverer makes webhook calls: the first one inline for the
// action, the retries for the outbox.
type WebhookDeliverer struct {
	// HTTP makes the calls (defaultWebhookClient when nil); each attempt is
	// also bounded by the action's timeout.
	HTTP *http.Client
	Log  *slog.Logger
	// Outbox sends a retry's reply by kefu; with HoldLate (an account
	// without the kefu API), Held keeps it for the user's next push
	// instead. Without them such a reply is dropped, with a log line.
	Outbox   *outbox.Outbox
	Held     store.HeldReplies
	HoldLate bool
}

// defaultWebhookClient follows no redirects (a POST silently turned into a
// GET loses its body; point url at the final address instead) and gives
// up after MaxWebhookTimeout.
var defaultWebhookClient = &http.Client{
	Timeout:       MaxWebhookTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Do makes one attempt. Errors are transient (network, timeouts, 408, 429,
// 5xx) unless marked outbox.Permanent (other statuses, a bad URL). Errors
// hold the URL with secret-looking query values redacted, and never a
// header value or the body.
func (d *WebhookDeliverer) Do(ctx context.Context, r *WebhookRequest) (*WebhookAnswer, error) {
	shown := wechat.RedactURL(r.URL)
	if err := checkWebhookURL(r.URL); err != nil {
		return nil, outbox.Permanent(fmt.Errorf("webhook: url %w", err))
	}
	timeout := r.Timeout
	if timeout <= 0 || timeout > MaxWebhookTimeout {
		timeout = DefaultWebhookTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		return nil, outbox.Permanent(fmt.Errorf("webhook %s %s: %w", r.Method, shown, unwrapURLError(err)))
	}
	for k, v := range r.Headers {
		if !validHeaderValue(v) { // the client would refuse it on every retry
			return nil, outbox.Permanent(fmt.Errorf("webhook %s %s: header %s: a control character (a line break?) in its value", r.Method, shown, k))
		}
		req.Header.Set(k, v)
	}
	if req.Header.Get("Content-Type") == "" && r.Body != "" {
		ct := "text/plain; charset=utf-8"
		if b := strings.TrimSpace(r.Body); strings.HasPrefix(b, "{") || strings.HasPrefix(b, "[") {
			ct = "application/json; charset=utf-8"
		}
		req.Header.Set("Content-Type", ct)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "wxbot-webhook/1")
	}
	if req.Header.Get("Idempotency-Key") == "" && r.Key != "" {
		sum := sha256.Sum256([]byte(r.Key))
		req.Header.Set("Idempotency-Key", hex.EncodeToString(sum[:16]))
	}
	client := d.HTTP
	if client == nil {
		client = defaultWebhookClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("webhook %s %s: %w", r.Method, shown, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxWebhookAnswer))
	if err != nil {
		return nil, fmt.Errorf("webhook %s %s: reading the answer: %w", r.Method, shown, err)
	}
	if d.Log != nil && d.Log.Enabled(ctx, slog.LevelDebug) {
		d.Log.Debug("webhook answered", "method", r.Method, "url", shown, "status", resp.StatusCode, "body", string(data))
	}
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
	case s >= 500, s == http.StatusTooManyRequests, s == http.StatusRequestTimeout:
		return nil, &WebhookError{Method: r.Method, URL: shown, Status: s}
	default:
		return nil, outbox.Permanent(&WebhookError{Method: r.Method, URL: shown, Status: s})
	}
	ans := &WebhookAnswer{Status: resp.StatusCode}
	ans.Reply, ans.ReplyErr = ParseWebhookReply(data)
	return ans, nil
}

// Deliver implements outbox.Deliverer: a retry of a call that failed inline.
func (d *WebhookDeliverer) Deliver(ctx context.Context, s *outbox.Send) error {
	var r WebhookRequest
	if err := json.Unmarshal(s.Payload, &r); err != nil {
		return outbox.Permanent(fmt.Errorf("webhook send %s: bad payload: %w", s.ID, err))
	}
	ans, err := d.Do(ctx, &r)
	switch {
	case err != nil:
		return err
	case ans.ReplyErr != nil:
		d.logger().Warn("webhook answered a retry with a reply wxbot cannot send; nothing sent", "rule", s.Rule, "err", ans.ReplyErr)
	case ans.Reply != nil:
		return d.replyLate(ctx, s, r.ReplyTo, ans.Reply)
	}
	return nil
}

// replyLate delivers the reply a retry answered with as the engine delivers
// any reply that came after its push was answered: by kefu, in the user's
// line, or held for their next push. Its kefu send's ID is the retry's
// with "/reply", so a retry that runs again enqueues it once.
//
// A reply that cannot go out is dropped with a log line (calling the
// service again would not help); a store that fails to hold one has the
// call retried.
func (d *WebhookDeliverer) replyLate(ctx context.Context, s *outbox.Send, to string, r *wechat.Reply) error {
	log := d.logger().With("rule", s.Rule, "reply", r.Type)
	if to == "" {
		log.Info("webhook answered a retry with a reply for a push that takes none (or nobody sees); dropped")
		return nil
	}
	if d.HoldLate {
		if d.Held == nil {
			log.Error("webhook answered a retry with a reply, and nothing holds late replies; dropped")
			return nil
		}
		b, err := engine.MarshalReply(r)
		if err == nil {
			err = d.Held.HoldReply(ctx, to, b, engine.HeldReplyTTL)
		}
		if err != nil {
			return fmt.Errorf("webhook answered with a reply, which could not be held for the user's next push (the call is retried): %w", err)
		}
		log.Info("webhook answered a retry with a reply; held for the user's next push")
		return nil
	}
	m, ok := wechat.KefuFromReply(to, r)
	if !ok {
		log.Warn("webhook answered a retry with a reply that has no kefu equivalent; dropped")
		return nil
	}
	payload, err := outbox.Encode(m)
	if err == nil && d.Outbox == nil {
		err = errors.New("no outbox")
	}
	if err == nil {
		err = d.Outbox.Enqueue(ctx, &outbox.Send{ID: s.ID + "/reply", Kind: outbox.KindKefu, OrderKey: to, Rule: s.Rule, Payload: payload})
	}
	if err != nil {
		log.Error("webhook answered a retry with a reply that cannot go out by kefu (configure the WeChat API: AppID and AppSecret); dropped", "err", err)
		return nil
	}
	log.Info("webhook answered a retry with a reply; queued as a kefu message")
	return nil
}

func (d *WebhookDeliverer) logger() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// validHeaderValue reports whether v has no control characters but tabs
// (RFC 9110 §5.5).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// unwrapURLError drops the *url.Error around a client error: it repeats the
// URL unredacted.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// webhookReply is the "reply" a webhook may answer with: exactly one of
// these, shaped like the reply action's params.
//
//	{"reply": {"text": "…"}}
//	{"reply": {"image": {"media_id": "…"}}}            (voice alike)
//	{"reply": {"video": {"media_id": "…", "title": "…", "description": "…"}}}
//	{"reply": {"music": {"title": "…", "description": "…", "music_url": "…", "hq_music_url": "…", "thumb_media_id": "…"}}}
//	{"reply": {"news": [{"title": "…", "description": "…", "url": "…", "pic_url": "…"}]}}
//	{"reply": {"transfer": {"kf_account": "…"}}}       (kf_account optional)
type webhookReply struct {
	Text  *string    `json:"text"`
	Image *mediaJSON `json:"image"`
	Voice *mediaJSON `json:"voice"`
	Video *struct {
		MediaID     string `json:"media_id"`
		Title       string `json:"title"`
		Description string `json:"description"`
	} `json:"video"`
	Music *struct {
		Title        string `json:"title"`
		Description  string `json:"description"`
		MusicURL     string `json:"music_url"`
		HQMusicURL   string `json:"hq_music_url"`
		ThumbMediaID string `json:"thumb_media_id"`
	} `json:"music"`
	News []struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		URL         string `json:"url"`
		PicURL      string `json:"pic_url"`
	} `json:"news"`
	Transfer *struct {
		KfAccount string `json:"kf_account"`
	} `json:"transfer"`
}

type mediaJSON struct {
	MediaID string `json:"media_id"`
}

// ParseWebhookReply reads the reply in a webhook's answer. An answer that is
// not JSON, or has no "reply" (or a null one), has no reply and no error.
func ParseWebhookReply(data []byte) (*wechat.Reply, error) {
	var outer struct {
		Reply json.RawMessage `json:"reply"`
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &outer) != nil {
		return nil, nil
	}
	if len(outer.Reply) == 0 || string(outer.Reply) == "null" {
		return nil, nil
	}
	var wr webhookReply
	dec := json.NewDecoder(bytes.NewReader(outer.Reply))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wr); err != nil {
		return nil, fmt.Errorf("reply: %w (want one of text, image, voice, video, music, news, transfer)", err)
	}
	var set []string
	for name, ok := range map[string]bool{"text": wr.Text != nil, "image": wr.Image != nil, "voice": wr.Voice != nil,
		"video": wr.Video != nil, "music": wr.Music != nil, "news": len(wr.News) > 0, "transfer": wr.Transfer != nil} {
		if ok {
			set = append(set, name)
		}
	}
	if len(set) != 1 {
		return nil, fmt.Errorf("reply: want exactly one of text, image, voice, video, music, news, transfer; got %d", len(set))
	}
	r := &wechat.Reply{}
	switch {
	case wr.Text != nil:
		if *wr.Text == "" {
			return nil, errors.New("reply.text: empty")
		}
		r.Type, r.Content = wechat.ReplyText, *wr.Text
	case wr.Image != nil, wr.Voice != nil:
		m, typ := wr.Image, wechat.ReplyImage
		if m == nil {
			m, typ = wr.Voice, wechat.ReplyVoice
		}
		if m.MediaID == "" {
			return nil, fmt.Errorf("reply.%s.media_id: required", typ)
		}
		r.Type, r.MediaID = typ, m.MediaID
	case wr.Video != nil:
		if wr.Video.MediaID == "" {
			return nil, errors.New("reply.video.media_id: required")
		}
		r.Type, r.MediaID, r.Title, r.Description = wechat.ReplyVideo, wr.Video.MediaID, wr.Video.Title, wr.Video.Description
	case wr.Music != nil:
		m := wr.Music
		if m.ThumbMediaID == "" {
			return nil, errors.New("reply.music.thumb_media_id: required")
		}
		r.Type, r.Title, r.Description, r.MusicURL, r.HQMusicURL, r.ThumbMediaID =
			wechat.ReplyMusic, m.Title, m.Description, m.MusicURL, m.HQMusicURL, m.ThumbMediaID
	case len(wr.News) > 0:
		if len(wr.News) > MaxNewsArticles {
			return nil, fmt.Errorf("reply.news: %d articles, WeChat takes at most %d", len(wr.News), MaxNewsArticles)
		}
		r.Type = wechat.ReplyNews
		for i, a := range wr.News {
			if a.Title == "" {
				return nil, fmt.Errorf("reply.news[%d].title: required", i)
			}
			r.Articles = append(r.Articles, wechat.Article{Title: a.Title, Description: a.Description, URL: a.URL, PicURL: a.PicURL})
		}
	case wr.Transfer != nil:
		r.Type, r.KfAccount = wechat.ReplyTransfer, wr.Transfer.KfAccount
	}
	return r, nil
}

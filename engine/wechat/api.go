package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Secret is a credential (AppSecret, access_token, keys). It prints and logs
// as REDACTED, so a secret passed to fmt or slog by mistake does not leak.
type Secret string

// String implements fmt.Stringer.
func (Secret) String() string { return "REDACTED" }

// GoString implements fmt.GoStringer (%#v).
func (Secret) GoString() string { return `"REDACTED"` }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// Reveal returns the secret itself, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

// DefaultAPIBase is the WeChat API root.
const DefaultAPIBase = "https://api.weixin.qq.com"

// Token APIs.
const (
	TokenAPIStable  = "stable"  // POST /cgi-bin/stable_token: replicas may each call it
	TokenAPIClassic = "classic" // GET /cgi-bin/token: every fetch invalidates the last token
)

// APIError is an error answer of the WeChat API ({"errcode":N,"errmsg":…}).
// WeChat answers HTTP 200 either way; Code is what to act on, never Msg.
type APIError struct {
	Code int
	Msg  string
	Path string // the API path, without the query (which holds the token)
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("wechat api %s: errcode %d: %s", e.Path, e.Code, e.Msg)
	if h := ErrorHint(e.Code); h != "" {
		s += " (" + h + ")"
	}
	return s
}

// errorHints say what to do about the codes operators meet.
var errorHints = map[int]string{
	-1:    "WeChat is busy; it is retried with backoff",
	40001: "the access_token is invalid or not the latest; if it comes from /cgi-bin/token itself, the AppSecret is wrong",
	40013: "the AppID is wrong: check --appid",
	40014: "the access_token is invalid; it is refreshed once",
	40003: "the OpenID is not a follower of this account (or belongs to another account)",
	40033: "the request has \\uXXXX escapes: a bug in the JSON encoder",
	40125: "the AppSecret is wrong: check --secret (reset it in the console if unsure)",
	40164: "this server's egress IP is not in the API IP whitelist (微信开发者平台 → 我的业务 → 公众号/服务号 → 基础信息; behind a fixed-egress proxy, set HTTPS_PROXY and whitelist the proxy's IP)",
	41001: "the access_token is missing",
	42001: "the access_token expired; it is refreshed once",
	43004: "the user does not follow the account",
	43019: "the user is blacklisted by the account",
	45002: "the content is too long",
	45008: "too many articles: kefu news takes 1",
	45009: "the daily API quota is used up (reset it with clear_quota, 10 times a month)",
	45011: "calls are too frequent; it is retried with backoff",
	45015: "outside the kefu window: the user has not interacted within 48 hours (or unsubscribed)",
	45047: "the kefu quota of the current window is used up",
	45072: "bad typing command",
	45080: "typing needs an interaction with the user in the last 30 seconds",
	45081: "the user already sees typing",
	48001: "the account lacks this API permission: check 接口权限 in the console (personal-subject accounts have no kefu API: run serve with --kefu=false)",
	48002: "the user refuses messages",
	50002: "the user is restricted",
	50005: "the user does not follow the account",
	61451: "invalid parameter",
	61452: "invalid kf_account",
	61453: "the kf_account exists",
	65400: "new kefu is not enabled: turn on 客服功能 in the console (test accounts cannot)",
	65401: "invalid kefu account",
	65403: "illegal kefu nickname",
	65404: "illegal kefu account",
	65405: "too many kefu accounts (at most 100)",
	65406: "the kefu account exists",
	89503: "this IP needs an admin's confirmation in the console",
	89501: "this IP awaits an admin's confirmation",
	89506: "an admin refused this IP; wait 24 hours",
	89507: "an admin refused this IP; wait 1 hour",
}

// addHints adds the hints of an API family (kefu accounts, menus,
// templates) beside the calls that meet them; api.go's own wording wins.
// Only init functions call it, before any lookup.
func addHints(h map[int]string) {
	for code, hint := range h {
		if _, ok := errorHints[code]; !ok {
			errorHints[code] = hint
		}
	}
}

// ErrorHint says what to do about an errcode, or "".
func ErrorHint(code int) string { return errorHints[code] }

// APICode returns the errcode of an *APIError in err's chain, and whether
// there is one.
func APICode(err error) (int, bool) {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code, true
	}
	return 0, false
}

// IsTokenExpired reports whether err means the access_token must be
// refreshed (40001, 40014, 42001).
func IsTokenExpired(err error) bool {
	code, ok := APICode(err)
	return ok && (code == 40001 || code == 40014 || code == 42001)
}

// IsRetryable reports whether trying again later may succeed: WeChat busy
// (-1), the minute frequency limit (45011), network errors, HTTP 5xx and a
// revoked stable token waiting for WeChat's limits to allow a force_refresh
// (*ForceRefreshError).
// Everything else (45015, 45047, 43004, 40003, 48001, …) will fail the same
// way again.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var fe *ForceRefreshError
	if errors.As(err, &fe) {
		return true // once WeChat's limits allow a force_refresh
	}
	if code, ok := APICode(err); ok {
		return code == -1 || code == 45011
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status >= 500 || he.Status == http.StatusTooManyRequests
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue)
}

// HTTPError is a non-200 answer from the API host (a proxy or an outage;
// WeChat itself answers 200 with an errcode).
type HTTPError struct {
	Status int
	Path   string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("wechat api %s: HTTP %d", e.Path, e.Status)
}

// MaxAnswer is the most of an API answer the client reads: the largest
// WeChat sends (a console's 200 keyword rules, a page of material) are a
// few hundred KiB.
const MaxAnswer = 8 << 20

// AnswerTooLargeError is an answer over MaxAnswer, which no WeChat API
// gives: something else answered at the API base (a captive portal, a
// proxy's page, a wrong --api-base).
type AnswerTooLargeError struct {
	Path string
	Size int64 // from Content-Length; -1 when the server did not say
	Base string
}

func (e *AnswerTooLargeError) Error() string {
	size := "over"
	if e.Size > 0 {
		size = fmt.Sprintf("%d bytes (%.1f MiB), over", e.Size, float64(e.Size)/(1<<20))
	}
	return fmt.Sprintf("wechat api %s: the answer is %s the %d MiB wxbot reads, and no WeChat API answers that much: "+
		"check that --api-base (%s) is the WeChat API and not a proxy or another server answering in its place", e.Path, size, MaxAnswer>>20, e.Base)
}

// secretParam matches query keys whose values must not reach logs:
// access_token, secret, appsecret, and what other services name their
// credentials (a webhook's sign, key, ticket, …).
var secretParam = regexp.MustCompile(`(?i)token|secret|key|sign|pass|auth|session|ticket|code`)

// RedactURL hides a URL's password and the values of its secret-looking
// query parameters, for errors and logs. Every URL wxbot calls out to
// (the WeChat API, webhooks) goes through it.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	changed := false
	for k := range q {
		if secretParam.MatchString(k) {
			q[k] = []string{"REDACTED"}
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// ClientConfig configures an API Client.
type ClientConfig struct {
	// HTTP does the calls; it must have timeouts. A client with a 10 s
	// timeout is used when nil.
	HTTP *http.Client
	// Base is the API root (DefaultAPIBase when empty); tests point it at a
	// fake server.
	Base   string
	AppID  string
	Secret Secret
	// TokenAPI is TokenAPIStable (default) or TokenAPIClassic.
	TokenAPI string
	// Tokens shares the access_token between replicas (issue: scale out);
	// nil keeps it in this process.
	Tokens TokenCache
	// RefreshAhead refreshes a token this long before it expires (5 min
	// when zero).
	RefreshAhead time.Duration
	Now          func() time.Time
	Logger       *slog.Logger
	// OnRefresh hears of every token fetch and its error (metrics).
	OnRefresh func(err error)
}

// Client calls the WeChat API with an access_token it fetches, caches,
// refreshes ahead of expiry and, after 40001/40014/42001, refreshes once and
// retries. It is safe for concurrent use; concurrent refreshes are merged:
// one fetch per refresh, however callers interleave. With the stable API, a
// token WeChat rejected that stable_token answers again is replaced by
// asking once with force_refresh, within WeChat's limits (see
// ForceRefreshLimiter).
type Client struct {
	cfg    ClientConfig
	log    *slog.Logger
	forces ForceRefreshLimiter

	mu       sync.Mutex
	cur      *flight              // the refresh under way, or nil
	last     *flight              // the last refresh that ended
	rejected map[string]time.Time // tokens WeChat rejected → when
}

// flight is one token refresh; its callers share its outcome.
type flight struct {
	done chan struct{} // closed when tok and err are set
	tok  string
	err  error
}

// NewClient returns a Client; AppID and Secret are required.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.AppID == "" || cfg.Secret == "" {
		return nil, errors.New("wechat api: --appid and --secret are required for API calls (kefu, kf, menu)")
	}
	switch cfg.TokenAPI {
	case "":
		cfg.TokenAPI = TokenAPIStable
	case TokenAPIStable, TokenAPIClassic:
	default:
		return nil, fmt.Errorf("wechat api: token API %q: want %s or %s", cfg.TokenAPI, TokenAPIStable, TokenAPIClassic)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Base == "" {
		cfg.Base = DefaultAPIBase
	}
	cfg.Base = strings.TrimRight(cfg.Base, "/")
	if cfg.Tokens == nil {
		cfg.Tokens = &memoryTokens{}
	}
	if cfg.RefreshAhead <= 0 {
		cfg.RefreshAhead = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, log: cfg.Logger, rejected: map[string]time.Time{}}
	if l, ok := cfg.Tokens.(ForceRefreshLimiter); ok {
		c.forces = l
	} else {
		c.forces = &localForces{}
	}
	return c, nil
}

// AppID is the client's AppID.
func (c *Client) AppID() string { return c.cfg.AppID }

type apiStatus struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func (s apiStatus) err(path string) error {
	if s.ErrCode == 0 {
		return nil
	}
	return &APIError{Code: s.ErrCode, Msg: s.ErrMsg, Path: path}
}

// Call calls an API path with the access_token: body (if not nil) goes as
// JSON, the answer is decoded into out (if not nil) and its errcode checked.
// On a token error it refreshes the token, only if the cache still holds
// the token that failed, and retries once.
func (c *Client) Call(ctx context.Context, method, path string, query url.Values, body, out any) error {
	for attempt := 0; ; attempt++ {
		tok, err := c.Token(ctx)
		if err != nil {
			return err
		}
		err = c.CallWithToken(ctx, tok, method, path, query, body, out)
		if attempt == 0 && IsTokenExpired(err) {
			c.log.Warn("access_token rejected; refreshing once", "path", path, "err", err)
			if ierr := c.rejectToken(ctx, tok); ierr != nil {
				return fmt.Errorf("invalidating the access_token: %w", ierr)
			}
			continue
		}
		return err
	}
}

// CallWithToken is Call with a given token and no retry.
func (c *Client) CallWithToken(ctx context.Context, token, method, path string, query url.Values, body, out any) error {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("access_token", token)
	var raw json.RawMessage
	if err := c.roundTrip(ctx, method, path, q, body, &raw); err != nil {
		return err
	}
	var st apiStatus
	if err := json.Unmarshal(raw, &st); err == nil {
		if err := st.err(path); err != nil {
			return err
		}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("wechat api %s: decoding the answer: %w", path, err)
		}
	}
	return nil
}

// Upload posts a file as multipart form field (WeChat uses "media").
func (c *Client) Upload(ctx context.Context, path string, query url.Values, field, filename string, content io.Reader, out any) error {
	data, err := io.ReadAll(content)
	if err != nil {
		return err
	}
	return c.uploadForm(ctx, path, query, field, filename, data, nil, out)
}

// roundTrip sends body as JSON (HTML escaping off: WeChat rejects \u0026
// and friends with 40033) and decodes a 200 answer into out.
func (c *Client) roundTrip(ctx context.Context, method, path string, q url.Values, body, out any) error {
	var rd io.Reader
	ct := ""
	if body != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(body); err != nil {
			return fmt.Errorf("wechat api %s: encoding the request: %w", path, err)
		}
		rd, ct = &buf, "application/json; charset=utf-8"
	}
	return c.send(ctx, method, path, q, ct, rd, out)
}

func (c *Client) send(ctx context.Context, method, path string, q url.Values, contentType string, body io.Reader, out any) error {
	u := c.cfg.Base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("wechat api %s: %w", path, redactErr(err))
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("wechat api %s: %w", path, redactErr(err))
	}
	defer resp.Body.Close()
	// One byte past the limit tells an answer cut short from one that fits.
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	if err != nil {
		return fmt.Errorf("wechat api %s: reading the answer: %w", path, redactErr(err))
	}
	if resp.StatusCode != http.StatusOK {
		return &HTTPError{Status: resp.StatusCode, Path: path}
	}
	if len(data) > MaxAnswer {
		return &AnswerTooLargeError{Path: path, Size: resp.ContentLength, Base: RedactURL(c.cfg.Base)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("wechat api %s: the answer is not JSON: %w", path, err)
		}
	}
	return nil
}

// redactErr rewrites the URL inside a *url.Error so that the access_token
// and secret in the query never reach an error message or a log.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: RedactURL(ue.URL), Err: ue.Err}
	}
	return err
}

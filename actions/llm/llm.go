// Package llm is a small client of OpenAI-compatible Chat Completions
// endpoints (OpenAI, DeepSeek, Qwen's compatible mode, Moonshot, a local
// Ollama or vLLM): one POST of {model, messages, max_tokens, temperature}
// to BASE/chat/completions, read back as the first choice's message and
// the usage.
//
// It is plain net/http and encoding/json rather than the official SDK
// (github.com/openai/openai-go): wxbot needs one endpoint and four fields
// of it, the SDK brings hundreds of generated types and its own retry
// policy, while the policy here must fit WeChat's clock (retries inside
// one deadline, never past it) and the compatible servers differ from
// OpenAI in the corners the SDK is strict about.
//
// # Retries
//
// A timeout of one attempt, a network error, 429 and 5xx are retried with
// exponential backoff (honouring Retry-After) while the caller's context
// has time left and, when the caller must answer sooner (Request.RetryBy),
// while a retry can still fail before then; other statuses are final. The API key is sent only in
// the Authorization header and never appears in errors or logs.
//
// This package imports nothing of wxbot.
package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Key is an API key: it logs as REDACTED.
type Key string

// LogValue keeps the key out of structured logs.
func (Key) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// String keeps the key out of fmt's %v and %s.
func (Key) String() string { return "REDACTED" }

// GoString keeps the key out of %#v.
func (Key) GoString() string { return `"REDACTED"` }

// Message is one message of a conversation.
type Message struct {
	Role    string `json:"role"` // system, user or assistant
	Content string `json:"content"`
}

// Request is one question.
type Request struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
	Temperature *float64  `json:"temperature,omitempty"`
	Stream      bool      `json:"stream"` // always false: the answer is sent whole
	// RetryBy, when set, is when the caller must answer whatever happens
	// (a chat's reply deadline): a failed attempt is retried only if the
	// retry, its wait and an attempt as long as the failed one, can fail
	// too with retryMargin to spare, so that a provider that is down is
	// reported in time to say so. Past it, a failure is final.
	RetryBy time.Time `json:"-"`
}

// retryMargin is what RetryBy keeps for the caller to answer after the
// last failure, beyond the failed attempt's own length.
const retryMargin = 500 * time.Millisecond

// Answer is the model's answer and what it cost.
type Answer struct {
	Text         string
	FinishReason string
	TokensIn     int // usage.prompt_tokens
	TokensOut    int // usage.completion_tokens
	Attempts     int
}

// Config configures a Client.
type Config struct {
	// BaseURL is the API root that /chat/completions is appended to (e.g.
	// https://api.deepseek.com/v1); a URL that already ends with
	// /chat/completions is used as it is.
	BaseURL string
	Key     Key
	// HTTP is the client (its Timeout should be zero: each attempt is
	// bounded by the caller's context and AttemptTimeout).
	HTTP *http.Client
	// AttemptTimeout bounds one attempt (30 s when 0), so that a server
	// that hangs is retried while the caller's deadline leaves time.
	AttemptTimeout time.Duration
	// Backoff is the first wait between attempts (500 ms when 0), doubled
	// each time up to 8 s.
	Backoff time.Duration
}

// Client calls one endpoint. It is safe for concurrent use.
type Client struct {
	url string
	cfg Config
}

// New checks cfg and returns a client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base URL %q: want an http:// or https:// URL such as https://api.deepseek.com/v1", cfg.BaseURL)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{}
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 30 * time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	endpoint := strings.TrimRight(cfg.BaseURL, "/")
	if !strings.HasSuffix(endpoint, "/chat/completions") {
		endpoint += "/chat/completions"
	}
	return &Client{url: endpoint, cfg: cfg}, nil
}

// Endpoint is the URL the client posts to.
func (c *Client) Endpoint() string { return c.url }

// StatusError is an answer with an HTTP status other than 200. Body is a
// short excerpt of the server's answer, for the log (never for users).
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("chat completions answered %d: %s", e.Status, e.Body)
}

// Temporary reports whether the status is worth another attempt.
func (e *StatusError) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// ErrRefused is an answer without text: the model or its filter refused
// (finish_reason content_filter), or the answer came back empty.
var ErrRefused = errors.New("the model gave no answer")

// Chat asks the question of req and returns the answer, retrying what is
// worth retrying while ctx has time.
func (c *Client) Chat(ctx context.Context, req *Request) (*Answer, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding the request: %w", err)
	}
	wait := c.cfg.Backoff
	for attempt := 1; ; attempt++ {
		start := time.Now()
		ans, retryAfter, err := c.once(ctx, body)
		if err == nil {
			ans.Attempts = attempt
			return ans, nil
		}
		if !retryable(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("attempt %d: %w", attempt, err)
		}
		d := max(wait, retryAfter)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d+100*time.Millisecond {
			return nil, fmt.Errorf("attempt %d: %w (no time left for another)", attempt, err)
		}
		if by := req.RetryBy; !by.IsZero() && time.Now().Add(d+time.Since(start)+retryMargin).After(by) {
			return nil, fmt.Errorf("attempt %d: %w (no time for another before the answer is due)", attempt, err)
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, fmt.Errorf("attempt %d: %w", attempt, err)
		}
		wait = min(2*wait, 8*time.Second)
	}
}

func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Temporary()
	}
	return !errors.Is(err, ErrRefused) && !errors.Is(err, errBadAnswer)
}

var errBadAnswer = errors.New("the answer is not a chat completion")

// maxAnswer caps how much of an answer is read.
const maxAnswer = 4 << 20

// wire is the part of a chat completion that is read.
type wire struct {
	Choices []struct {
		Message      Message `json:"message"`
		FinishReason string  `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// once makes one attempt; retryAfter is the server's Retry-After, if any.
func (c *Client) once(ctx context.Context, body []byte) (_ *Answer, retryAfter time.Duration, _ error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(actx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if c.cfg.Key != "" {
		hreq.Header.Set("Authorization", "Bearer "+string(c.cfg.Key))
	}
	resp, err := c.cfg.HTTP.Do(hreq)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // its text repeats the URL; the cause is what matters
			err = fmt.Errorf("POST %s: %w", c.url, ue.Err)
		}
		return nil, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, 0, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return nil, time.Duration(min(max(secs, 0), 30)) * time.Second, &StatusError{Status: resp.StatusCode, Body: c.excerpt(raw)}
	}
	ans, err := Parse(raw)
	return ans, 0, err
}

// Parse reads a chat completion's JSON.
func Parse(raw []byte) (*Answer, error) {
	var w wire
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadAnswer, err)
	}
	if len(w.Choices) == 0 {
		return nil, fmt.Errorf("%w: no choices", errBadAnswer)
	}
	ch := w.Choices[0]
	ans := &Answer{Text: strings.TrimSpace(ch.Message.Content), FinishReason: ch.FinishReason,
		TokensIn: w.Usage.PromptTokens, TokensOut: w.Usage.CompletionTokens}
	if ans.Text == "" || ch.FinishReason == "content_filter" {
		return ans, fmt.Errorf("%w (finish_reason %q)", ErrRefused, ch.FinishReason)
	}
	return ans, nil
}

// excerpt is the start of a server's answer, for an error; a server that
// quotes the key back ("incorrect API key sk-…") does not get it logged.
func (c *Client) excerpt(b []byte) string {
	s := string(b)
	if c.cfg.Key != "" {
		s = strings.ReplaceAll(s, string(c.cfg.Key), "REDACTED")
	}
	if r := []rune(strings.ToValidUTF8(s, "?")); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return strings.TrimSpace(s)
}

package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

func TestParseRealAnswers(t *testing.T) {
	tests := []struct {
		file, text   string
		in, out      int
		refused, bad bool
	}{
		{file: "deepseek.json", text: "您好! 本店营业时间为每天 9:00-21:00。", in: 32, out: 18},
		{file: "ollama.json", text: "Hello! How can I help you today?", in: 26, out: 10},
		{file: "qwen_filtered.json", refused: true, in: 20},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile("testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			ans, err := Parse(raw)
			if tt.refused {
				if !errors.Is(err, ErrRefused) {
					t.Fatalf("err %v, want ErrRefused", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ans.Text != tt.text || ans.TokensIn != tt.in || ans.TokensOut != tt.out {
				t.Errorf("got %+v, want text %q, tokens %d/%d", ans, tt.text, tt.in, tt.out)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"deepseek.json", "ollama.json", "qwen_filtered.json"} {
		raw, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"choices":[]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ans, err := Parse(raw)
		if err == nil && (ans == nil || ans.Text == "" || ans.Text != strings.TrimSpace(ans.Text)) {
			t.Fatalf("accepted an answer without text: %+v", ans)
		}
	})
}

const testKey = "sk-test-0123456789abcdef"

// inProcess is an http.RoundTripper that serves each request with a
// handler in the test's process, for tests in a synctest bubble (whose
// fake clock cannot wait on a real socket, or on an httptest.Server's
// goroutines, which live outside the bubble). Like a real transport it
// returns as soon as the request's context ends, the handler still
// running; wait waits for the handlers, as httptest.Server.Close does.
type inProcess struct {
	h  http.Handler
	wg sync.WaitGroup
}

func (p *inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		r.Body.Close()
	}
	// The handler gets a request of its own, as a server's would be.
	sr := httptest.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), bytes.NewReader(body))
	sr.Header = r.Header.Clone()
	w := httptest.NewRecorder()
	done := make(chan struct{})
	p.wg.Go(func() {
		defer close(done)
		p.h.ServeHTTP(w, sr)
	})
	select {
	case <-done:
		res := w.Result()
		res.Request = r
		return res, nil
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
}

func (p *inProcess) wait() { p.wg.Wait() }

// endpoint is the base URL of the chat completions endpoint that server
// answers at.
const endpoint = "http://llm.test/v1/"

// server answers each attempt with the next of steps: a status, "hang",
// or "ok". It is in process (see inProcess): the client it returns
// reaches it at endpoint.
func server(t *testing.T, steps ...string) (*http.Client, *atomic.Int32) {
	var n atomic.Int32
	srv := &inProcess{h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer "+testKey {
			http.Error(w, "bad path or key", http.StatusUnauthorized)
			return
		}
		var req Request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model == "" || len(req.Messages) == 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		step := steps[min(i, len(steps)-1)]
		switch step {
		case "ok":
			fmt.Fprintf(w, `{"choices":[{"message":{"role":"assistant","content":"answer to %s"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3}}`, req.Messages[len(req.Messages)-1].Content)
		case "hang":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		case "429":
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"error":{"message":"rate limited"}}`, http.StatusTooManyRequests)
		case "echo-key":
			http.Error(w, `{"error":{"message":"Incorrect API key provided: `+testKey+`"}}`, http.StatusUnauthorized)
		default:
			var code int
			fmt.Sscan(step, &code)
			http.Error(w, `{"error":{"message":"upstream says no"}}`, code)
		}
	})}
	t.Cleanup(srv.wait)
	// "refuse" is a port without a server: the transport fails, and the
	// handler never sees the attempt.
	refusing := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if steps[min(int(n.Load()), len(steps)-1)] == "refuse" {
			n.Add(1)
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		}
		return srv.RoundTrip(r)
	})
	return &http.Client{Transport: refusing}, &n
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestChatRetries runs each case in a synctest bubble: the attempts'
// timeouts, the backoff and the caller's deadline are on the bubble's
// fake clock, which moves only when every goroutine waits. So a call
// takes exactly the time its schedule says (wantTook: the attempt
// timeouts and waits it spends), and "never past the deadline" is exact,
// with no allowance for a slow machine.
func TestChatRetries(t *testing.T) {
	tests := []struct {
		name     string
		steps    []string
		timeout  time.Duration
		retryBy  time.Duration // Request.RetryBy, after the call starts
		attempts int32
		wantErr  string
		wantTook time.Duration
	}{
		{name: "first try", steps: []string{"ok"}, timeout: 5 * time.Second, attempts: 1},
		{name: "500 then ok", steps: []string{"500", "503", "ok"}, timeout: 5 * time.Second, attempts: 3,
			wantTook: 50*time.Millisecond + 100*time.Millisecond}, // the backoff doubles
		{name: "429 then ok", steps: []string{"429", "ok"}, timeout: 5 * time.Second, attempts: 2, wantTook: 50 * time.Millisecond},
		{name: "hung attempt retried", steps: []string{"hang", "ok"}, timeout: 5 * time.Second, attempts: 2,
			wantTook: 300*time.Millisecond + 50*time.Millisecond}, // AttemptTimeout, then the backoff
		{name: "400 is final", steps: []string{"400", "ok"}, timeout: 5 * time.Second, attempts: 1, wantErr: "400"},
		// Attempts at 0, 50, 150 and 350 ms; the next wait, 400 ms, would
		// end past the 600 ms deadline: the call gives up at once.
		{name: "500 until the deadline", steps: []string{"500"}, timeout: 600 * time.Millisecond, attempts: 4, wantErr: "500",
			wantTook: 350 * time.Millisecond},
		// The answer is due at 2 s: attempts at 0, 50, 150, 350 and 750
		// ms; the next, at 1550 ms, would leave less than retryMargin.
		{name: "500 until the answer is due", steps: []string{"500"}, timeout: time.Minute, retryBy: 2 * time.Second,
			attempts: 5, wantErr: "before the answer is due", wantTook: 750 * time.Millisecond},
		{name: "refused until the answer is due", steps: []string{"refuse"}, timeout: time.Minute, retryBy: 2 * time.Second,
			attempts: 5, wantErr: "refused", wantTook: 750 * time.Millisecond},
		// A failure that took 300 ms is not retried when another as long
		// would end within retryMargin of the answer being due.
		{name: "slow failure not retried", steps: []string{"hang", "ok"}, timeout: time.Minute, retryBy: time.Second,
			attempts: 1, wantErr: "before the answer is due", wantTook: 300 * time.Millisecond},
		{name: "due already: no retry", steps: []string{"503", "ok"}, timeout: time.Minute, retryBy: -time.Second,
			attempts: 1, wantErr: "503"},
		{name: "due later: retried", steps: []string{"503", "ok"}, timeout: time.Minute, retryBy: 4 * time.Second,
			attempts: 2, wantTook: 50 * time.Millisecond},
		{name: "key quoted back is redacted", steps: []string{"echo-key"}, timeout: time.Second, attempts: 1, wantErr: "REDACTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				hc, n := server(t, tt.steps...)
				c, err := New(Config{BaseURL: endpoint, Key: testKey, HTTP: hc, AttemptTimeout: 300 * time.Millisecond, Backoff: 50 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
				defer cancel()
				start := time.Now()
				req := &Request{Model: "m", Messages: []Message{{Role: "user", Content: "hi"}}}
				if tt.retryBy != 0 {
					req.RetryBy = start.Add(tt.retryBy)
				}
				ans, err := c.Chat(ctx, req)
				took := time.Since(start)
				if took > tt.timeout {
					t.Errorf("took %v, past the %v deadline", took, tt.timeout)
				}
				if took != tt.wantTook {
					t.Errorf("took %v, want %v", took, tt.wantTook)
				}
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("err %v, want one saying %q", err, tt.wantErr)
					}
					if strings.Contains(err.Error(), testKey) {
						t.Errorf("the key is in the error: %v", err)
					}
				} else if err != nil {
					t.Fatal(err)
				} else if ans.Text != "answer to hi" || ans.TokensIn != 7 || ans.TokensOut != 3 {
					t.Errorf("answer %+v", ans)
				}
				if tt.attempts > 0 && n.Load() != tt.attempts {
					t.Errorf("%d attempts, want %d", n.Load(), tt.attempts)
				}
			})
		})
	}
}

func TestKeyNeverPrints(t *testing.T) {
	k := Key(testKey)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %s %#v", k, k, Config{Key: k})} {
		if strings.Contains(s, testKey) {
			t.Errorf("the key printed: %s", s)
		}
	}
}

func TestNewRefusesABadBase(t *testing.T) {
	for _, base := range []string{"", "api.deepseek.com", "ftp://x/v1"} {
		if _, err := New(Config{BaseURL: base}); err == nil {
			t.Errorf("New(%q) accepted it", base)
		}
	}
	c, err := New(Config{BaseURL: "http://127.0.0.1:11434/v1/chat/completions"})
	if err != nil || c.Endpoint() != "http://127.0.0.1:11434/v1/chat/completions" {
		t.Errorf("a full endpoint URL: %v %v", c, err)
	}
}

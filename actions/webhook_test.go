package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

// hookBot is an engine on rules from YAML, with an outbox that retries
// fast, the webhook deliverer, and a kefu deliverer that records.
type hookBot struct {
	e     *engine.Engine
	store *memory.Memory
	kefu  chan *outbox.Send
	hook  *WebhookDeliverer
}

// newHookBot is a hookBot whose webhook calls reach rec.
func newHookBot(t *testing.T, src string, rec *recorder, dryRun bool) *hookBot {
	t.Helper()
	return newHookBotWith(t, src, dryRun, rec.deliverer())
}

// newHookBotWith is newHookBot with the webhook deliverer d.
func newHookBotWith(t *testing.T, src string, dryRun bool, d *WebhookDeliverer) *hookBot {
	t.Helper()
	loaded, err := rules.Parse("rules.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b := &hookBot{store: memory.New(nil), kefu: make(chan *outbox.Send, 10), hook: d}
	ob := outbox.New(b.store, outbox.Options{Poll: 5 * time.Millisecond, MaxAttempts: 3,
		Backoff: func(int) time.Duration { return 5 * time.Millisecond }})
	d.Outbox, d.Held = ob, b.store
	ob.Register(KindWebhook, d)
	ob.Register(outbox.KindKefu, outbox.DelivererFunc(func(_ context.Context, s *outbox.Send) error { b.kefu <- s; return nil }))
	b.e = runEngine(t, ob, engine.Options{DryRun: dryRun}, loaded.Set)
	return b
}

// runEngine starts an engine on set with the outbox ob running behind it,
// both stopped when the test ends.
func runEngine(t *testing.T, ob *outbox.Outbox, o engine.Options, set *engine.RuleSet) *engine.Engine {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ob.Run(ctx); close(done) }()
	o.Outbox = ob
	e := engine.New(o)
	e.SetRules(set)
	t.Cleanup(func() {
		e.Close(context.Background())
		cancel()
		<-done
	})
	return e
}

// push dispatches ev and waits for its answer as the handler does.
func (b *hookBot) push(ev *engine.Event, deadline time.Duration) (*wechat.Reply, engine.Outcome, *engine.Push) {
	p := b.e.Dispatch(ev)
	reply, outcome := p.Wait(time.After(deadline))
	return reply, outcome, p
}

func textEvent(content string) *engine.Event {
	return &engine.Event{Type: "text", From: "oUser", Content: content,
		Message: &wechat.Message{MsgType: "text", Content: content, FromUserName: "oUser"}}
}

// recorder is a webhook service: it answers with answer(n) for the n-th
// call (from 1) and records what it got.
//
// It runs in the test's process, as the transport of its deliverer's
// client, so that the tests can run in a synctest bubble: there the
// reply deadlines, the outbox's polls and backoffs, the webhook timeouts
// and the service's own delays are all on the bubble's fake clock, which
// moves only when every goroutine waits. What a test sees (a reply within
// the deadline or after it, a retry or none) is then decided by those
// durations alone, not by how busy the machine is; a real socket, or an
// httptest.Server's goroutines, would be outside the bubble.
type recorder struct {
	URL    string
	answer func(n int, w http.ResponseWriter)
	mu     sync.Mutex
	calls  []*http.Request
	body   []string
	n      atomic.Int32
	wg     sync.WaitGroup // the calls being answered
}

func newRecorder(t *testing.T, answer func(n int, w http.ResponseWriter)) *recorder {
	rec := &recorder{URL: "http://hook.test", answer: answer}
	t.Cleanup(rec.wg.Wait) // as httptest.Server.Close waits for its handlers
	return rec
}

// RoundTrip answers a call as the service would. Like a real transport,
// it returns as soon as the call's context ends (a webhook timeout),
// while the service may still be working on it.
func (rec *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	var b []byte
	if r.Body != nil {
		b, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	// The service sees a request of its own, as a server's would be.
	sr := httptest.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), bytes.NewReader(b))
	sr.Header = r.Header.Clone()
	w := httptest.NewRecorder()
	done := make(chan struct{})
	rec.wg.Go(func() {
		defer close(done)
		rec.mu.Lock()
		rec.calls = append(rec.calls, sr)
		rec.body = append(rec.body, string(b))
		rec.mu.Unlock()
		rec.answer(int(rec.n.Add(1)), w)
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

// deliverer is the webhook deliverer of production (its client: no
// redirects followed, MaxWebhookTimeout) with rec as its transport.
func (rec *recorder) deliverer() *WebhookDeliverer {
	c := *defaultWebhookClient
	c.Transport = rec
	return &WebhookDeliverer{HTTP: &c}
}

func (r *recorder) count() int { return int(r.n.Load()) }

// waitFor polls cond until it holds. In a synctest bubble its sleeps and
// its bound are fake time: each poll lets the outbox run its timers up to
// then, and the bound is spent at once when nothing happens any more.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWebhookRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t, func(int, http.ResponseWriter) {})
		b := newHookBot(t, fmt.Sprintf(`version: 1
vars: {base: %q}
rules:
  - name: faq
    on: text
    actions:
      - webhook:
          url: "${vars.base}/faq?from=${event.from}"
          method: put
          headers: {Authorization: "Bearer s3cr3t", X-Question: "${event.content}"}
          body: '{"q": ${toJSON(event.content)}, "n": 1}'
`, rec.URL), rec, false)
		_, outcome, p := b.push(textEvent(`say "hi" <b>`), time.Second)
		if outcome != engine.NoReply {
			t.Errorf("outcome %v, want no reply", outcome)
		}
		res, _ := p.Finish(context.Background())
		if res.Err != nil || rec.count() != 1 {
			t.Fatalf("err %v, %d calls", res.Err, rec.count())
		}
		r := rec.calls[0]
		if r.Method != "PUT" || r.URL.Path != "/faq" || r.URL.Query().Get("from") != "oUser" {
			t.Errorf("request %s %s", r.Method, r.URL)
		}
		var body struct {
			Q string `json:"q"`
			N int    `json:"n"`
		}
		if err := json.Unmarshal([]byte(rec.body[0]), &body); err != nil || body.Q != `say "hi" <b>` || body.N != 1 {
			t.Errorf("body %s: %v", rec.body[0], err)
		}
		h := r.Header
		if h.Get("Authorization") != "Bearer s3cr3t" || h.Get("X-Question") != `say "hi" <b>` ||
			h.Get("Content-Type") != "application/json; charset=utf-8" || h.Get("User-Agent") != "wxbot-webhook/1" ||
			len(h.Get("Idempotency-Key")) != 32 {
			t.Errorf("headers %v", h)
		}
	})
}

func TestWebhookReplies(t *testing.T) {
	const rulesFmt = `version: 1
rules:
  - name: faq
    on: [text, payment]
    actions:
      - webhook: {url: %q}
`
	answer := func(delay time.Duration, body string) func(int, http.ResponseWriter) {
		return func(_ int, w http.ResponseWriter) {
			time.Sleep(delay)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, body)
		}
	}
	t.Run("within the deadline it is the passive reply", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := newRecorder(t, answer(0, `{"reply": {"text": "营业时间 9:00-18:00"}, "debug": 1}`))
			b := newHookBot(t, fmt.Sprintf(rulesFmt, rec.URL), rec, false)
			reply, outcome, _ := b.push(textEvent("几点开门"), 3*time.Second)
			if outcome != engine.Replied || reply.Type != wechat.ReplyText || reply.Content != "营业时间 9:00-18:00" {
				t.Errorf("got %v %+v, want the text reply", outcome, reply)
			}
		})
	})
	t.Run("news, cut to one for a user message", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := newRecorder(t, answer(0, `{"reply": {"news": [{"title": "a", "url": "https://x/a"}, {"title": "b"}]}}`))
			b := newHookBot(t, fmt.Sprintf(rulesFmt, rec.URL), rec, false)
			reply, _, _ := b.push(textEvent("q"), 3*time.Second)
			if reply == nil || reply.Type != wechat.ReplyNews || len(reply.Articles) != 1 || reply.Articles[0].URL != "https://x/a" {
				t.Errorf("got %+v", reply)
			}
		})
	})
	t.Run("after the deadline it goes out by kefu", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := newRecorder(t, answer(300*time.Millisecond, `{"reply": {"text": "late answer"}}`))
			b := newHookBot(t, fmt.Sprintf(rulesFmt, rec.URL), rec, false)
			reply, outcome, _ := b.push(textEvent("q"), 20*time.Millisecond)
			if reply != nil || outcome != engine.DeadlinePassed {
				t.Fatalf("got %v %+v, want the deadline to pass", outcome, reply)
			}
			select {
			case s := <-b.kefu:
				var m wechat.KefuMessage
				json.Unmarshal(s.Payload, &m)
				if s.OrderKey != "oUser" || m.MsgType != "text" || m.Text.Content != "late answer" {
					t.Errorf("kefu send %+v %s", s, s.Payload)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the late reply was not sent by kefu")
			}
		})
	})
	t.Run("a payment takes no reply, not even by kefu", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := newRecorder(t, answer(0, `{"reply": {"text": "thanks"}}`))
			b := newHookBot(t, fmt.Sprintf(rulesFmt, rec.URL), rec, false)
			p := b.e.Dispatch(&engine.Event{Type: "payment", From: "oPayer"})
			res, _ := p.Finish(context.Background())
			if res.Reply != nil || res.Err != nil || rec.count() != 1 {
				t.Errorf("reply %+v, err %v, %d calls", res.Reply, res.Err, rec.count())
			}
			// Fake time: the clock reaches 50 ms only once the outbox has
			// run ten polls with nothing left to do; a kefu send queued by
			// then would have been delivered.
			select {
			case s := <-b.kefu:
				t.Errorf("a kefu send for a payment: %s", s.Payload)
			case <-time.After(50 * time.Millisecond):
			}
		})
	})
	t.Run("a reply wxbot cannot send is ignored", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := newRecorder(t, answer(0, `{"reply": {"txt": "typo"}}`))
			b := newHookBot(t, fmt.Sprintf(rulesFmt, rec.URL), rec, false)
			reply, outcome, _ := b.push(textEvent("q"), 3*time.Second)
			if reply != nil || outcome != engine.NoReply {
				t.Errorf("got %v %+v", outcome, reply)
			}
		})
	})
}

func TestWebhookFailures(t *testing.T) {
	const rulesFmt = `version: 1
rules:
  - name: crm
    on: text
    actions:
      - webhook: {url: %q, body: "x", timeout: 200ms}
`
	pending := func(b *hookBot) int { n, _ := b.store.Pending(context.Background()); return n }
	dead := func(b *hookBot) []outbox.DeadLetter {
		d, _ := b.store.DeadLetters(context.Background(), 10)
		return d
	}
	t.Run("5xx is retried by the outbox until it succeeds", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := newRecorder(t, func(n int, w http.ResponseWriter) {
				if n <= 2 {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				io.WriteString(w, `{"reply": {"text": "an answer at last"}}`)
			})
			b := newHookBot(t, fmt.Sprintf(rulesFmt, rec.URL), rec, false)
			reply, _, p := b.push(textEvent("q"), 3*time.Second)
			res, _ := p.Finish(context.Background())
			if reply != nil || res.Err != nil {
				t.Errorf("reply %+v, err %v: a queued retry is not a failure", reply, res.Err)
			}
			waitFor(t, "3 calls and an empty outbox", func() bool { return rec.count() == 3 && pending(b) == 0 })
			if len(dead(b)) != 0 {
				t.Errorf("dead letters %v", dead(b))
			}
			for i, r := range rec.calls {
				if r.Header.Get("Idempotency-Key") != rec.calls[0].Header.Get("Idempotency-Key") || rec.body[i] != "x" {
					t.Errorf("call %d differs from the first: %v %q", i, r.Header, rec.body[i])
				}
			}
			// Too late to answer the push, the retry's reply goes out by
			// kefu, as any late reply.
			select {
			case s := <-b.kefu:
				var m wechat.KefuMessage
				json.Unmarshal(s.Payload, &m)
				if s.OrderKey != "oUser" || m.Text == nil || m.Text.Content != "an answer at last" {
					t.Errorf("kefu send %+v %s", s, s.Payload)
				}
			default:
				t.Error("the retry's reply was not sent by kefu")
			}
		})
	})
	t.Run("429 is retried", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := newRecorder(t, func(n int, w http.ResponseWriter) {
				if n == 1 {
					w.WriteHeader(http.StatusTooManyRequests)
				}
			})
			b := newHookBot(t, fmt.Sprintf(rulesFmt, rec.URL), rec, false)
			b.push(textEvent("q"), time.Second)
			waitFor(t, "the retry", func() bool { return rec.count() == 2 && pending(b) == 0 })
		})
	})
	t.Run("4xx is permanent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := newRecorder(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusNotFound) })
			b := newHookBot(t, fmt.Sprintf(rulesFmt, rec.URL+"/gone"), rec, false)
			_, _, p := b.push(textEvent("q"), time.Second)
			res, _ := p.Finish(context.Background())
			if res.Err == nil || !strings.Contains(res.Err.Error(), "HTTP 404") {
				t.Errorf("err %v, want HTTP 404", res.Err)
			}
			// A retry would have been queued inside the action, which has
			// returned: from then on it is pending, or, attempted (a call)
			// and refused again, a dead letter. Neither, and one call,
			// means none was queued, without waiting to see.
			synctest.Wait()
			if rec.count() != 1 || pending(b) != 0 || len(dead(b)) != 0 {
				t.Errorf("%d calls, %d pending, dead letters %v; want 1 and none", rec.count(), pending(b), dead(b))
			}
		})
	})
	t.Run("redirects are not followed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := newRecorder(t, func(_ int, w http.ResponseWriter) {
				w.Header().Set("Location", "/elsewhere")
				w.WriteHeader(http.StatusFound)
			})
			b := newHookBot(t, fmt.Sprintf(rulesFmt, rec.URL), rec, false)
			_, _, p := b.push(textEvent("q"), time.Second)
			res, _ := p.Finish(context.Background())
			if res.Err == nil || !strings.Contains(res.Err.Error(), "HTTP 302") || rec.count() != 1 {
				t.Errorf("err %v, %d calls", res.Err, rec.count())
			}
		})
	})
	t.Run("a timeout is retried, then dead-lettered", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := newRecorder(t, func(int, http.ResponseWriter) { time.Sleep(400 * time.Millisecond) })
			b := newHookBot(t, fmt.Sprintf(rulesFmt, rec.URL), rec, false)
			b.push(textEvent("q"), time.Second)
			waitFor(t, "the dead letter", func() bool { return len(dead(b)) == 1 })
			if n := rec.count(); n != 4 {
				t.Errorf("%d calls, want 4 (inline, then MaxAttempts from the outbox)", n)
			}
		})
	})
	// On the real network, outside a bubble: the error is a real dial's.
	// Nothing here depends on speed: the test waits for the dead letter.
	t.Run("network errors are retried, and errors hide secrets", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close() // nothing listens: connection refused
		b := newHookBotWith(t, fmt.Sprintf(rulesFmt, "http://user:pw@"+addr+"/hook?access_token=TOPSECRET&x=1"), false, &WebhookDeliverer{})
		b.push(textEvent("q"), time.Second)
		waitFor(t, "the dead letter", func() bool { return len(dead(b)) == 1 })
		d := dead(b)[0]
		if !strings.Contains(d.Reason, "gave up after 3 attempts") || !strings.Contains(d.Reason, "REDACTED") ||
			strings.Contains(d.Reason, "TOPSECRET") || strings.Contains(d.Reason, "pw@") {
			t.Errorf("dead letter reason %q", d.Reason)
		}
	})
	t.Run("a header with a line break is refused, not retried", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := newRecorder(t, func(int, http.ResponseWriter) {})
			b := newHookBot(t, fmt.Sprintf(`version: 1
rules:
  - name: crm
    on: text
    actions:
      - webhook: {url: %q, headers: {X-Q: "${event.content}"}}
`, rec.URL), rec, false)
			_, _, p := b.push(textEvent("a\r\nX-Evil: 1"), time.Second)
			res, _ := p.Finish(context.Background())
			if res.Err == nil || !strings.Contains(res.Err.Error(), "header X-Q") || rec.count() != 0 || pending(b) != 0 {
				t.Errorf("err %v, %d calls, %d pending", res.Err, rec.count(), pending(b))
			}
		})
	})
}

// roundTripFunc is an http.RoundTripper: the tests below answer in
// process, so that the URLs they accept need no server (and send nothing).
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestWebhookURLAtRunTime checks the URL that a template renders for one
// push, which Validate cannot check at load: an http:// or https:// URL
// with a host is called; anything else fails the action permanently,
// without a call and without queueing a retry.
func TestWebhookURLAtRunTime(t *testing.T) {
	tests := []struct {
		url, content string
		wantHost     string // the host called; "" for a refused URL
		wantErr      string
	}{
		// Accepted.
		{"${event.content}", "http://127.0.0.1:8080/hook?q=1", "127.0.0.1:8080", ""},
		{"${event.content}", "https://crm.example.com/hook", "crm.example.com", ""},
		{"${event.content}", "https://crm.example.com", "crm.example.com", ""},
		{"${event.content}", "HTTPS://crm.example.com/x", "crm.example.com", ""},
		{"${event.content}", "http://[::1]:8080/x", "[::1]:8080", ""},
		{"${event.content}", "https://user:pw@crm.example.com/x", "crm.example.com", ""},
		{"https://${event.content}/hook", "crm.example.com", "crm.example.com", ""},
		{"${vars.base}/faq?q=${event.content}", "ftp://x", "crm.example.com", ""},
		// Refused: the scheme.
		{"${event.content}", "ftp://crm.example.com/x", "", `webhook: url "ftp://crm.example.com/x": want an http:// or https:// URL with a host`},
		{"${event.content}", "file:///etc/passwd", "", `"file:///etc/passwd": want an http:// or https:// URL with a host`},
		{"${event.content}", "javascript:alert(1)", "", `"javascript:alert(1)": want an http:// or https:// URL with a host`},
		{"${event.content}", "crm.example.com/hook", "", `"crm.example.com/hook": want an http:// or https:// URL with a host`},
		{"${event.content}", "//crm.example.com/hook", "", `"//crm.example.com/hook": want an http:// or https:// URL with a host`},
		{"${event.content}/hook", "", "", `"/hook": want an http:// or https:// URL with a host`},
		// Refused: no host.
		{"https://${event.content}/hook", "", "", `"https:///hook": want an http:// or https:// URL with a host`},
		{"${event.content}", "http://", "", `"http:": want an http:// or https:// URL with a host`},
		{"${event.content}", "http:/hook", "", `"http:/hook": want an http:// or https:// URL with a host`},
		// Refused: not a URL; the password is not shown.
		{"${event.content}", "http://crm.example.com/%zz", "", `"http://crm.example.com/%zz" is not a URL`},
		{"${event.content}", " http://crm.example.com", "", `" http://crm.example.com" is not a URL`},
		{"https://${event.content}/hook", "a b", "", `"https://a b/hook" is not a URL`},
		{"${event.content}", "ftp://user:pw@crm.example.com", "", `"ftp://user:xxxxx@crm.example.com": want`},
	}
	for _, tt := range tests {
		t.Run(tt.url+" "+tt.content, func(t *testing.T) {
			var calls []*http.Request
			var mu sync.Mutex
			d := &WebhookDeliverer{HTTP: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				mu.Lock()
				calls = append(calls, r)
				mu.Unlock()
				return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
			})}}
			b := newHookBotWith(t, fmt.Sprintf("version: 1\nvars: {base: \"https://crm.example.com\"}\nrules:\n"+
				"  - {name: w, on: text, actions: [{webhook: {url: %q}}]}\n", tt.url), false, d)
			_, _, p := b.push(textEvent(tt.content), time.Second)
			res, _ := p.Finish(context.Background())
			mu.Lock()
			defer mu.Unlock()
			if tt.wantHost != "" {
				if res.Err != nil || len(calls) != 1 || calls[0].URL.Host != tt.wantHost {
					t.Fatalf("err %v, calls %v; want one call to %s", res.Err, calls, tt.wantHost)
				}
				return
			}
			if res.Err == nil || !strings.Contains(res.Err.Error(), tt.wantErr) {
				t.Errorf("err %v, want %q", res.Err, tt.wantErr)
			}
			if res.Err != nil && strings.Contains(res.Err.Error(), "pw@") {
				t.Errorf("the error shows the password: %v", res.Err)
			}
			if n, _ := b.store.Pending(context.Background()); len(calls) != 0 || n != 0 {
				t.Errorf("%d calls, %d queued; a refused URL is neither called nor retried", len(calls), n)
			}
		})
	}
}

func TestWebhookDryRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t, func(int, http.ResponseWriter) {})
		b := newHookBot(t, fmt.Sprintf("version: 1\nrules:\n  - {name: w, on: text, actions: [{webhook: {url: %q}}]}\n", rec.URL), rec, true)
		_, _, p := b.push(textEvent("q"), time.Second)
		res, _ := p.Finish(context.Background())
		if res.Err != nil || len(res.Steps) != 1 || rec.count() != 0 {
			t.Errorf("err %v, actions %v, %d calls; want the action run without a call", res.Err, res.Steps, rec.count())
		}
	})
}

func TestParseWebhookReply(t *testing.T) {
	tests := []struct {
		answer  string
		want    *wechat.Reply
		wantErr string
	}{
		{``, nil, ""},
		{`OK`, nil, ""},
		{`{"ok": true}`, nil, ""},
		{`{"reply": null}`, nil, ""},
		{`[1]`, nil, ""},
		{`{"reply": {"text": "hi"}}`, &wechat.Reply{Type: "text", Content: "hi"}, ""},
		{`{"reply": {"image": {"media_id": "M"}}}`, &wechat.Reply{Type: "image", MediaID: "M"}, ""},
		{`{"reply": {"voice": {"media_id": "V"}}}`, &wechat.Reply{Type: "voice", MediaID: "V"}, ""},
		{`{"reply": {"video": {"media_id": "M", "title": "t"}}}`, &wechat.Reply{Type: "video", MediaID: "M", Title: "t"}, ""},
		{`{"reply": {"music": {"title": "t", "music_url": "u", "thumb_media_id": "T"}}}`,
			&wechat.Reply{Type: "music", Title: "t", MusicURL: "u", ThumbMediaID: "T"}, ""},
		{`{"reply": {"transfer": {}}}`, &wechat.Reply{Type: wechat.ReplyTransfer}, ""},
		{`{"reply": {"transfer": {"kf_account": "a@b"}}}`, &wechat.Reply{Type: wechat.ReplyTransfer, KfAccount: "a@b"}, ""},
		{`{"reply": {"text": ""}}`, nil, "reply.text: empty"},
		{`{"reply": {}}`, nil, "got 0"},
		{`{"reply": {"text": "a", "image": {"media_id": "M"}}}`, nil, "got 2"},
		{`{"reply": {"txt": "a"}}`, nil, `unknown field "txt"`},
		{`{"reply": "hi"}`, nil, "cannot unmarshal"},
		{`{"reply": {"image": {}}}`, nil, "reply.image.media_id: required"},
		{`{"reply": {"music": {"title": "t"}}}`, nil, "thumb_media_id: required"},
		{`{"reply": {"news": [{"description": "no title"}]}}`, nil, "reply.news[0].title: required"},
		{`{"reply": {"news": [` + strings.Repeat(`{"title":"t"},`, 8) + `{"title":"t"}]}}`, nil, "9 articles"},
	}
	for _, tt := range tests {
		got, err := ParseWebhookReply([]byte(tt.answer))
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: err %v, want %q", tt.answer, err, tt.wantErr)
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.answer, err)
		case tt.want == nil && got != nil, tt.want != nil && (got == nil || fmt.Sprint(*got) != fmt.Sprint(*tt.want)):
			t.Errorf("%s: got %+v, want %+v", tt.answer, got, tt.want)
		}
	}
}

func TestWebhookValidate(t *testing.T) {
	tests := []struct {
		yaml, want string
	}{
		{`{url: "https://x/y"}`, ""},
		{`{url: "${vars.base}/y", method: patch, timeout: 10s}`, ""},
		{`{}`, "url: required"},
		{`{url: "ftp://x"}`, `url: "ftp://x": want an http:// or https:// URL with a host`},
		{`{url: "https://x", method: TRACE}`, `method: "TRACE", want one of GET, POST, PUT, PATCH, DELETE`},
		{`{url: "https://x", timeout: 11s}`, "timeout: 11s is over the 10s limit"},
		{`{url: "https://x", timeout: 0s}`, "timeout: want more than 0"},
		{`{url: "https://x", headers: {"a b": "x"}}`, `headers: "a b" is not a valid header name`},
	}
	for _, tt := range tests {
		_, err := rules.Parse("r.yaml", []byte("version: 1\nvars: {base: \"https://x\"}\nrules:\n  - {name: w, on: text, actions: [{webhook: "+tt.yaml+"}]}\n"))
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: err %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

func TestWebhookLint(t *testing.T) {
	tests := []struct {
		params WebhookParams
		want   string
	}{
		{WebhookParams{URL: tpl("https://x/${event.from}"), Body: tpl(`{"q": ${toJSON(event.content)}}`)}, ""},
		{WebhookParams{URL: tpl("${vars.base}/p?u=${event.from}"), Body: tpl(`{"from": "${event.from}"}`)}, ""},
		{WebhookParams{URL: tpl("https://x"), Body: tpl(`{"q": "${event.content}"}`)}, "body: user text"},
		{WebhookParams{URL: tpl("https://x"), Body: tpl(`[ "${ event.raw.Foo }" ]`)}, "body: user text"},
		{WebhookParams{URL: tpl("https://x"), Body: tpl(`q=${event.content}`)}, ""}, // not JSON
		{WebhookParams{URL: tpl("https://${event.content}/p")}, "url: the host comes from the event"},
		{WebhookParams{URL: tpl("${event.content}")}, "url: the host comes from the event"},
	}
	for _, tt := range tests {
		got := strings.Join(tt.params.Lint(engine.LintInfo{On: []string{"text"}}), "; ")
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s %s: lint %q, want %q", tt.params.URL.String(), tt.params.Body.String(), got, tt.want)
		}
	}
}

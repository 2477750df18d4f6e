package callback

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/dedup"
	"github.com/wxbot/wxbot/engine/wechat"
)

const (
	testToken  = "mytoken"
	testAESKey = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
	testAppID  = "wx49f0ab532d5d035a"
)

var testNow = time.Unix(1700000000, 0)

// testBot is an engine with one text rule and one click rule, and a handler.
type testBot struct {
	e    *engine.Engine
	h    *Handler
	runs atomic.Int32  // how many times an action ran
	gate chan struct{} // when not nil, the "slow" rule waits on it
}

func newTestBot(t *testing.T, cfg Config) *testBot {
	t.Helper()
	b := &testBot{}
	b.e = engine.New(engine.Options{Now: func() time.Time { return testNow }})
	reply := func(text string) engine.Step {
		return engine.Step{Name: "reply", Passive: true, Action: engine.ActionFunc(func(_ context.Context, c *engine.Call) error {
			b.runs.Add(1)
			c.Reply(&wechat.Reply{Type: wechat.ReplyText, Content: text + c.Event.Content})
			return nil
		})}
	}
	slow := engine.Step{Name: "slow", Passive: true, Action: engine.ActionFunc(func(_ context.Context, c *engine.Call) error {
		b.runs.Add(1)
		if b.gate != nil {
			<-b.gate
		}
		c.Reply(&wechat.Reply{Type: wechat.ReplyText, Content: "slow"})
		return nil
	})}
	echo := rule("echo", []string{"text"}, prefix("echo"))
	echo.Steps = []engine.Step{reply("you said: ")}
	slowRule := rule("slow", []string{"text"}, exact("slow"))
	slowRule.Steps = []engine.Step{slow}
	click := rule("click", []string{"click"}, keys("K"))
	click.Steps = []engine.Step{reply("clicked")}
	b.e.SetRules(engine.NewRuleSet([]*engine.Rule{echo, slowRule, click}, nil))
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	b.h = NewHandler(b.e, cfg)
	t.Cleanup(func() {
		if b.gate != nil {
			select {
			case <-b.gate:
			default:
				close(b.gate)
			}
		}
		b.e.Close(context.Background())
	})
	return b
}

func textPush(content, msgID string) *wechat.Message {
	return &wechat.Message{ToUserName: "gh_test", FromUserName: "oUser", CreateTime: testNow.Unix(),
		MsgType: "text", Content: content, MsgID: msgID}
}

var nonces atomic.Int64

// signedRequest builds a push as WeChat sends it; cipher nil means plaintext.
func signedRequest(token string, ts time.Time, cipher *wechat.Cipher, m *wechat.Message) *http.Request {
	tsStr := strconv.FormatInt(ts.Unix(), 10)
	nonce := strconv.FormatInt(nonces.Add(1), 10) // WeChat's nonces differ per push
	q := url.Values{"timestamp": {tsStr}, "nonce": {nonce}, "signature": {wechat.Signature(token, tsStr, nonce)}}
	body := wechat.EncodeMessage(m)
	if cipher != nil {
		enc := cipher.Encrypt(nil, body)
		body = wechat.AppendEncryptedPush(nil, m.ToUserName, enc)
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", wechat.Signature(token, tsStr, nonce, enc))
	}
	return httptest.NewRequest(http.MethodPost, "/wechat?"+q.Encode(), strings.NewReader(string(body)))
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func replyContent(t *testing.T, body []byte) string {
	t.Helper()
	to, from, created, r, err := wechat.ParseReply(body)
	if err != nil {
		t.Fatalf("reply %q: %v", body, err)
	}
	if to != "oUser" || from != "gh_test" || created != testNow.Unix() {
		t.Errorf("reply header to=%q from=%q created=%d; want the push's sender and account swapped, now", to, from, created)
	}
	return r.Content
}

func TestHandlerVerify(t *testing.T) {
	b := newTestBot(t, Config{PreviousToken: "oldtoken"})
	sign := func(token string) string {
		return "/wechat?signature=" + wechat.Signature(token, "1510823015", "370631640") +
			"&timestamp=1510823015&nonce=370631640&echostr=hello%20world"
	}
	tests := []struct {
		name, target string
		status       int
		body         string
	}{
		{"valid", sign(testToken), 200, "hello world"},
		{"previous token", sign("oldtoken"), 200, "hello world"},
		{"bad signature", sign("wrong"), 401, "bad signature\n"},
		{"missing echostr", "/wechat?signature=x&timestamp=1&nonce=2", 400, "missing signature, timestamp, nonce or echostr\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(b.h, httptest.NewRequest(http.MethodGet, tt.target, nil))
			if w.Code != tt.status || w.Body.String() != tt.body {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body.String(), tt.status, tt.body)
			}
		})
	}
	// The published vector: the signature of (mptokenauth, 1510823015, 370631640).
	v := NewHandler(engine.New(engine.Options{}), Config{Token: "mptokenauth"})
	w := serve(v, httptest.NewRequest(http.MethodGet,
		"/wechat?signature=141bf3cd6f3fae94b0ddae3fb98c19931e068341&timestamp=1510823015&nonce=370631640&echostr=ok", nil))
	if w.Code != 200 || w.Body.String() != "ok" {
		t.Errorf("published vector: got %d %q", w.Code, w.Body.String())
	}
}

func TestHandlerRefusals(t *testing.T) {
	cipher, err := wechat.NewCipher(testAESKey, testAppID)
	if err != nil {
		t.Fatal(err)
	}
	otherApp, _ := wechat.NewCipher(testAESKey, "wx0000000000000000")
	b := newTestBot(t, Config{MaxSkew: 5 * time.Minute, Cipher: cipher})
	strict := newTestBot(t, Config{RequireEncryption: true, Cipher: cipher})
	push := textPush("echo hi", "1")
	tamperedSig := signedRequest(testToken, testNow, cipher, push)
	tamperedSig.URL.RawQuery = strings.Replace(tamperedSig.URL.RawQuery, "msg_signature=", "msg_signature=0", 1)

	tests := []struct {
		name   string
		h      http.Handler
		req    *http.Request
		status int
	}{
		{"bad signature", b.h, signedRequest("wrong", testNow, nil, push), 401},
		{"no signature", b.h, httptest.NewRequest(http.MethodPost, "/wechat", strings.NewReader("<xml/>")), 401},
		{"stale timestamp", b.h, signedRequest(testToken, testNow.Add(-6*time.Minute), nil, push), 403},
		{"future timestamp", b.h, signedRequest(testToken, testNow.Add(6*time.Minute), nil, push), 403},
		{"bad msg_signature", b.h, tamperedSig, 401},
		{"another account's appid", b.h, signedRequest(testToken, testNow, otherApp, push), 400},
		{"plaintext refused", strict.h, signedRequest(testToken, testNow, nil, push), 403},
		{"method", b.h, httptest.NewRequest(http.MethodPut, "/wechat", nil), 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if w := serve(tt.h, tt.req); w.Code != tt.status {
				t.Errorf("status %d (%q), want %d", w.Code, w.Body.String(), tt.status)
			}
		})
	}
	if n := b.runs.Load() + strict.runs.Load(); n != 0 {
		t.Errorf("rules ran %d times for refused pushes", n)
	}
}

func TestHandlerBadBodies(t *testing.T) {
	b := newTestBot(t, Config{})
	ts := strconv.FormatInt(testNow.Unix(), 10)
	target := "/wechat?timestamp=" + ts + "&nonce=1&signature=" + wechat.Signature(testToken, ts, "1")
	for _, tt := range []struct {
		name   string
		body   string
		status int
	}{
		{"not xml", "{\"json\": true}", 400},
		{"empty", "", 400},
		{"no MsgType", "<xml><FromUserName>o</FromUserName><CreateTime>1</CreateTime></xml>", 400},
		{"too large", "<xml>" + strings.Repeat("a", MaxBodyBytes) + "</xml>", 413},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(b.h, httptest.NewRequest(http.MethodPost, target, strings.NewReader(tt.body)))
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
		})
	}
}

func TestHandlerReplies(t *testing.T) {
	cipher, _ := wechat.NewCipher(testAESKey, testAppID)
	b := newTestBot(t, Config{Cipher: cipher})

	// Plaintext push, plaintext reply.
	w := serve(b.h, signedRequest(testToken, testNow, nil, textPush("echo 你好 ]]> <b>", "10")))
	if w.Code != 200 {
		t.Fatalf("status %d %q", w.Code, w.Body.String())
	}
	if got := replyContent(t, w.Body.Bytes()); got != "you said: echo 你好 ]]> <b>" {
		t.Errorf("reply %q", got)
	}

	// Safe mode: the reply is encrypted and signed with the request's timestamp and nonce.
	req := signedRequest(testToken, testNow, cipher, textPush("echo secret", "11"))
	w = serve(b.h, req)
	env, err := wechat.ParseReplyEnvelope(w.Body.Bytes())
	if err != nil {
		t.Fatalf("encrypted reply %q: %v", w.Body.String(), err)
	}
	if env.TimeStamp != strconv.FormatInt(testNow.Unix(), 10) || env.Nonce != req.URL.Query().Get("nonce") {
		t.Errorf("envelope timestamp %q nonce %q, want the request's", env.TimeStamp, env.Nonce)
	}
	if !wechat.VerifyMsgSignature(testToken, env.TimeStamp, env.Nonce, env.Encrypt, env.MsgSignature) {
		t.Error("reply MsgSignature does not verify")
	}
	plain, err := cipher.Decrypt(env.Encrypt)
	if err != nil {
		t.Fatal(err)
	}
	if got := replyContent(t, plain); got != "you said: echo secret" {
		t.Errorf("decrypted reply %q", got)
	}

	// Events match on their key.
	click := &wechat.Message{ToUserName: "gh_test", FromUserName: "oUser", CreateTime: testNow.Unix(), MsgType: "event", Event: "CLICK", EventKey: "K"}
	if got := replyContent(t, serve(b.h, signedRequest(testToken, testNow, nil, click)).Body.Bytes()); got != "clicked" {
		t.Errorf("click reply %q", got)
	}

	// Nothing matches, and unknown message types: success.
	for _, m := range []*wechat.Message{textPush("nothing", "12"),
		{ToUserName: "gh_test", FromUserName: "oUser", CreateTime: 1, MsgType: "file", MsgID: "13"}} {
		w = serve(b.h, signedRequest(testToken, testNow, nil, m))
		if w.Code != 200 || w.Body.String() != "success" {
			t.Errorf("%s: got %d %q, want 200 success", m.MsgType, w.Code, w.Body.String())
		}
	}
}

func TestHandlerRetriesRunRulesOnce(t *testing.T) {
	cache := &countingCache{Cache: dedup.NewLocal(time.Minute, func() time.Time { return testNow }), found: make(chan struct{}, 4)}
	b := newTestBot(t, Config{Dedup: cache})
	b.gate = make(chan struct{})
	push := textPush("slow", "4363689963896700987")

	// Four copies arrive while the first is still running: the gate opens
	// only once three of them found the first's claim.
	var wg sync.WaitGroup
	bodies := make([]string, 4)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bodies[i] = serve(b.h, signedRequest(testToken, testNow, nil, push)).Body.String()
		}()
	}
	for range 3 { // each copy that finds the claim says so; the first holds it meanwhile
		<-cache.found
	}
	close(b.gate)
	wg.Wait()
	for i, body := range bodies {
		if body != bodies[0] || !strings.Contains(body, "slow") {
			t.Errorf("copy %d answered %q, want the first copy's %q", i, body, bodies[0])
		}
	}
	// A late retry gets the cached bytes.
	if got := serve(b.h, signedRequest(testToken, testNow, nil, push)).Body.String(); got != bodies[0] {
		t.Errorf("late retry answered %q", got)
	}
	if n := b.runs.Load(); n != 1 {
		t.Errorf("rules ran %d times for one message and its retries, want 1", n)
	}

	// Two different events in the same second are not retries of each other.
	ev := func(key string) *wechat.Message {
		return &wechat.Message{ToUserName: "gh_test", FromUserName: "oUser", CreateTime: testNow.Unix(), MsgType: "event", Event: "CLICK", EventKey: key}
	}
	serve(b.h, signedRequest(testToken, testNow, nil, ev("K")))
	serve(b.h, signedRequest(testToken, testNow, nil, ev("other")))
	serve(b.h, signedRequest(testToken, testNow, nil, ev("K")))
	if n := b.runs.Load(); n != 2 {
		t.Errorf("rules ran %d times in all, want 2 (one click, its retry deduplicated)", n)
	}
}

func TestHandlerDeadline(t *testing.T) {
	b := newTestBot(t, Config{ReplyDeadline: 10 * time.Millisecond})
	b.gate = make(chan struct{}) // never released before the deadline
	push := textPush("slow", "99")
	w := serve(b.h, signedRequest(testToken, testNow, nil, push))
	if w.Code != 200 || w.Body.String() != "success" {
		t.Errorf("got %d %q, want success after the deadline", w.Code, w.Body.String())
	}
	if got := serve(b.h, signedRequest(testToken, testNow, nil, push)).Body.String(); got != "success" {
		t.Errorf("retry got %q, want the same success", got)
	}
}

// BenchmarkHandler measures one push through verify, decrypt (safe mode),
// decode, dedup, match, the reply action, encode and encrypt. Every push has
// its own MsgId, so dedup does real work; pushes are built in batches with
// the timer stopped.
func BenchmarkHandler(b *testing.B) {
	for _, mode := range []string{"plaintext", "safe"} {
		b.Run(mode, func(b *testing.B) {
			var cipher *wechat.Cipher
			if mode == "safe" {
				cipher, _ = wechat.NewCipher(testAESKey, testAppID)
			}
			e := engine.New(engine.Options{Now: func() time.Time { return testNow }})
			r := rule("hello", []string{"text"}, exact("hello"))
			r.Steps = []engine.Step{{Name: "reply", Passive: true, Inline: true, Action: engine.ActionFunc(func(_ context.Context, c *engine.Call) error {
				c.Reply(&wechat.Reply{Type: wechat.ReplyText, Content: "hi"})
				return nil
			})}}
			e.SetRules(engine.NewRuleSet([]*engine.Rule{r}, nil))
			h := NewHandler(e, Config{Token: testToken, Cipher: cipher, Logger: slog.New(slog.DiscardHandler)})
			const batch = 4096
			reqs := make([]*http.Request, 0, batch)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%batch == 0 {
					b.StopTimer()
					reqs = reqs[:0]
					for j := 0; j < batch; j++ {
						reqs = append(reqs, signedRequest(testToken, testNow, cipher, textPush("hello", strconv.Itoa(i+j))))
					}
					b.StartTimer()
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, reqs[i%batch])
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}

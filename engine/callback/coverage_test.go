package callback

import (
	"context"
	"fmt"
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

// labels records the metric labels the handler reports.
type labels struct {
	engine.NopObserver
	mu      sync.Mutex
	pushes  []string
	refused []string
}

func (l *labels) Push(typ, outcome string, _ time.Duration) {
	l.mu.Lock()
	l.pushes = append(l.pushes, typ+"/"+outcome)
	l.mu.Unlock()
}

func (l *labels) Refused(reason string) {
	l.mu.Lock()
	l.refused = append(l.refused, reason)
	l.mu.Unlock()
}

// wechatName is the Event (or MsgType) WeChat sends for an event.type.
func wechatName(typ string) string {
	switch typ {
	case "location_report":
		return "LOCATION"
	case "scan", "click", "view", "templatesendjobfinish", "masssendjobfinish", "publishjobfinish":
		return strings.ToUpper(typ)
	}
	return typ
}

// TestEveryEventTypeReachesItsMetricLabel pushes one of each kind WeChat
// sends and checks the push is counted under its own type, not "other".
func TestEveryEventTypeReachesItsMetricLabel(t *testing.T) {
	obs := &labels{}
	e := engine.New(engine.Options{Now: func() time.Time { return testNow }, Observer: obs})
	defer e.Close(context.Background())
	h := NewHandler(e, Config{Token: testToken})
	var want []string
	for _, typ := range engine.EventTypeNames() {
		if typ == "payment" { // from WeChat Pay, not a WeChat push
			continue
		}
		m := &wechat.Message{ToUserName: "gh_test", FromUserName: "oUser", CreateTime: testNow.Unix()}
		if engine.IsMessageType(typ) {
			m.MsgType, m.MsgID, m.Content = typ, strconv.Itoa(len(want)+1), "x"
		} else {
			m.MsgType, m.Event = "event", wechatName(typ)
		}
		if w := serve(h, signedRequest(testToken, testNow, nil, m)); w.Code != 200 {
			t.Fatalf("%s: status %d %q", typ, w.Code, w.Body.String())
		}
		want = append(want, typ+"/success")
	}
	unknown := &wechat.Message{ToUserName: "gh_test", FromUserName: "oUser", CreateTime: testNow.Unix(), MsgType: "event", Event: "brand_new_event"}
	serve(h, signedRequest(testToken, testNow, nil, unknown))
	want = append(want, "other/success")
	if got := strings.Join(obs.pushes, " "); got != strings.Join(want, " ") {
		t.Errorf("labels\n got %s\nwant %s", got, strings.Join(want, " "))
	}
}

// TestHandlerEncryptionEdges covers key rotation, a forged envelope and an
// encrypted push to a bot without a key.
func TestHandlerEncryptionEdges(t *testing.T) {
	const newKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	current, err := wechat.NewCipher(newKey, testAppID)
	if err != nil {
		t.Fatal(err)
	}
	previous, _ := wechat.NewCipher(testAESKey, testAppID)
	rotating := newTestBot(t, Config{Cipher: current, PreviousCipher: previous})
	obs := &labels{}
	keyless := NewHandler(engine.New(engine.Options{Now: func() time.Time { return testNow }, Observer: obs}), Config{Token: testToken})

	t.Run("previous key still decrypts, and the reply uses it", func(t *testing.T) {
		w := serve(rotating.h, signedRequest(testToken, testNow, previous, textPush("echo old", "901")))
		if w.Code != 200 {
			t.Fatalf("status %d %q", w.Code, w.Body.String())
		}
		enc, err := wechat.ParseReplyEnvelope(w.Body.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		plain, err := previous.Decrypt(enc.Encrypt)
		if err != nil {
			t.Fatalf("reply not encrypted with the key that decrypted the push: %v", err)
		}
		if got := replyContent(t, plain); got != "you said: echo old" {
			t.Errorf("reply %q", got)
		}
	})
	t.Run("current key", func(t *testing.T) {
		w := serve(rotating.h, signedRequest(testToken, testNow, current, textPush("echo new", "902")))
		if w.Code != 200 {
			t.Fatalf("status %d %q", w.Code, w.Body.String())
		}
	})
	t.Run("envelope ToUserName differs from the message's", func(t *testing.T) {
		push := func(envelopeTo, msgID string) *http.Request {
			enc := current.Encrypt(nil, wechat.EncodeMessage(textPush("echo hi", msgID)))
			ts := strconv.FormatInt(testNow.Unix(), 10)
			q := url.Values{"timestamp": {ts}, "nonce": {"1"}, "signature": {wechat.Signature(testToken, ts, "1")},
				"encrypt_type": {"aes"}, "msg_signature": {wechat.Signature(testToken, ts, "1", enc)}}
			body := wechat.AppendEncryptedPush(nil, envelopeTo, enc)
			return httptest.NewRequest(http.MethodPost, "/wechat?"+q.Encode(), strings.NewReader(string(body)))
		}
		if w := serve(rotating.h, push("gh_test", "906")); w.Code != 200 {
			t.Fatalf("matching envelope: got %d %q, want 200", w.Code, w.Body.String())
		}
		if w := serve(rotating.h, push("gh_someone_else", "903")); w.Code != 400 || w.Body.String() != "bad request: the envelope's and the message's accounts differ\n" {
			t.Errorf("got %d %q, want 400 bad request", w.Code, w.Body.String())
		}
	})
	t.Run("encrypt_type=aes without a key: compatible mode answers in plaintext", func(t *testing.T) {
		// Compatible mode carries the plaintext fields beside Encrypt.
		m := textPush("hello", "904")
		body := wechat.EncodeMessage(m)
		ts := strconv.FormatInt(testNow.Unix(), 10)
		q := url.Values{"timestamp": {ts}, "nonce": {"1"}, "signature": {wechat.Signature(testToken, ts, "1")}, "encrypt_type": {"aes"}}
		r := httptest.NewRequest(http.MethodPost, "/wechat?"+q.Encode(), strings.NewReader(string(body)))
		if w := serve(keyless, r); w.Code != 200 || w.Body.String() != "success" {
			t.Errorf("got %d %q, want 200 success", w.Code, w.Body.String())
		}
	})
	t.Run("encrypt_type=aes without a key: safe mode is refused", func(t *testing.T) {
		r := signedRequest(testToken, testNow, previous, textPush("hello", "905"))
		if w := serve(keyless, r); w.Code != 400 {
			t.Errorf("got %d %q, want 400", w.Code, w.Body.String())
		}
		if got := fmt.Sprint(obs.refused); got != "[bad_body]" {
			t.Errorf("refusals %s, want [bad_body]", got)
		}
	})
}

// countingCache counts the copies that found a claim already made, and
// tells found of each (when set; it must have room for every copy).
type countingCache struct {
	dedup.Cache
	waiting atomic.Int32
	found   chan struct{}
}

func (c *countingCache) Claim(ctx context.Context, key string) (dedup.Answer, bool, error) {
	a, first, err := c.Cache.Claim(ctx, key)
	if !first {
		c.waiting.Add(1)
		if c.found != nil {
			c.found <- struct{}{}
		}
	}
	return a, first, err
}

// TestRefusalFloodLogsBounded: 5,000 forged pushes write a line for the
// first of each kind and one summary line, while the metric counts all.
func TestRefusalFloodLogsBounded(t *testing.T) {
	var logs syncBuffer
	obs := &labels{}
	e := engine.New(engine.Options{Now: func() time.Time { return testNow }, Observer: obs})
	defer e.Close(context.Background())
	h := NewHandler(e, Config{Token: testToken, RefusalLogEvery: time.Hour, // the interval ends below, not by the clock
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for i := 0; i < 5000; i++ {
		serve(h, signedRequest("forged", testNow, nil, textPush("x", strconv.Itoa(i+1))))
	}
	serve(h, httptest.NewRequest(http.MethodPost, "/wechat", strings.NewReader("<xml/>"))) // same kind, no signature
	h.refusals.flush()                                                                     // the interval ends
	lines := strings.Count(logs.String(), "\n")
	if lines != 2 || !strings.Contains(logs.String(), "bad_signature=5000 total=5000") {
		t.Errorf("%d log lines for 5,001 refusals, want 2 (the first, then the sum):\n%s", lines, logs.String())
	}
	if len(obs.refused) != 5001 {
		t.Errorf("the metric counted %d refusals, want 5001", len(obs.refused))
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestReplayedQueryString: a signed query string reused with another body
// is refused (the signature does not cover the body); with the same body,
// however late within the skew window, nothing runs twice.
func TestReplayedQueryString(t *testing.T) {
	dedupNow := testNow
	obs := &labels{}
	b := newTestBot(t, Config{MaxSkew: 5 * time.Minute,
		Dedup: dedup.NewLocal(time.Second, func() time.Time { return dedupNow })})
	b.h.obs = obs
	orig := signedRequest(testToken, testNow, nil, textPush("echo hi", "301"))
	query := orig.URL.RawQuery
	if w := serve(b.h, orig); w.Code != 200 || b.runs.Load() != 1 {
		t.Fatalf("first push: %d, %d runs", w.Code, b.runs.Load())
	}
	forged := httptest.NewRequest(http.MethodPost, "/wechat?"+query,
		strings.NewReader(string(wechat.EncodeMessage(textPush("echo forged", "302")))))
	if w := serve(b.h, forged); w.Code != 401 {
		t.Errorf("the query string with another body: %d %q, want 401", w.Code, w.Body.String())
	}
	dedupNow = dedupNow.Add(time.Hour) // the retry cache has long forgotten the answer
	again := httptest.NewRequest(http.MethodPost, "/wechat?"+query,
		strings.NewReader(string(wechat.EncodeMessage(textPush("echo hi", "301")))))
	if w := serve(b.h, again); w.Code != 200 || w.Body.String() != "success" {
		t.Errorf("the same push again: %d %q, want success", w.Code, w.Body.String())
	}
	if n := b.runs.Load(); n != 1 {
		t.Errorf("rules ran %d times, want 1", n)
	}
	if fmt.Sprint(obs.refused) != "[replay]" {
		t.Errorf("refusals %v, want [replay]", obs.refused)
	}
}

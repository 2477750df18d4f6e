package callback

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/engine/wechatpay"
)

const payAPIv3Key = "0123456789abcdefABCDEF0123456789"

var payKeys struct {
	once             sync.Once
	wechat, impostor *rsa.PrivateKey
}

func payTestKeys(t *testing.T) (wechatKey, impostor *rsa.PrivateKey) {
	t.Helper()
	payKeys.once.Do(func() {
		var err error
		if payKeys.wechat, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if payKeys.impostor, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return payKeys.wechat, payKeys.impostor
}

// failingClaims is a store whose ClaimOnce fails while fail is set, and
// which counts the sends queued in it.
type failingClaims struct {
	*memory.Memory
	fail     atomic.Bool
	enqueued atomic.Int32
}

func (s *failingClaims) Enqueue(ctx context.Context, sends ...*outbox.Send) error {
	s.enqueued.Add(int32(len(sends)))
	return s.Memory.Enqueue(ctx, sends...)
}

func (s *failingClaims) ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if s.fail.Load() {
		return false, errors.New("disk full")
	}
	return s.Memory.ClaimOnce(ctx, key, ttl)
}

// payBot is an engine with one payment rule whose action counts its runs
// and offers a reply (which must go nowhere), and the notify handler.
type payBot struct {
	e      *engine.Engine
	h      *PayHandler
	store  *failingClaims
	runs   atomic.Int32
	got    atomic.Pointer[engine.Event]
	kefu   atomic.Int32 // kefu sends delivered
	signer *wechatpay.Signer
}

func newPayBot(t *testing.T) *payBot {
	t.Helper()
	key, _ := payTestKeys(t)
	b := &payBot{store: &failingClaims{Memory: memory.New(func() time.Time { return testNow })}}
	ob := outbox.New(b.store, outbox.Options{Poll: time.Millisecond})
	ob.Register(outbox.KindKefu, outbox.DelivererFunc(func(context.Context, *outbox.Send) error { b.kefu.Add(1); return nil }))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ob.Run(ctx); close(done) }()
	b.e = engine.New(engine.Options{Now: func() time.Time { return testNow }, State: b.store, Outbox: ob})
	paid := rule("paid", []string{"payment"})
	paid.Steps = []engine.Step{{Name: "count", Action: engine.ActionFunc(func(_ context.Context, c *engine.Call) error {
		b.runs.Add(1)
		b.got.Store(c.Event)
		if c.Reply(textReply("thanks")) {
			t.Errorf("a payment event took a reply")
		}
		return nil
	})}}
	b.e.SetRules(engine.NewRuleSet([]*engine.Rule{paid}, nil))
	v, err := wechatpay.NewVerifier(payAPIv3Key, []wechatpay.PublicKey{{Serial: "SERIAL1", Key: &key.PublicKey}})
	if err != nil {
		t.Fatal(err)
	}
	b.h = NewPayHandler(b.e, PayConfig{Verifier: v, Claims: b.store})
	b.signer = &wechatpay.Signer{Key: key, Serial: "SERIAL1", APIv3Key: payAPIv3Key, Now: func() time.Time { return testNow }}
	t.Cleanup(func() {
		b.e.Close(context.Background())
		cancel()
		<-done
	})
	return b
}

func payTransaction(id string) *wechatpay.Transaction {
	return &wechatpay.Transaction{
		AppID: "wxd678efh567hg6787", MchID: "1230000109", OutTradeNo: "ORDER-" + id, TransactionID: id,
		TradeType: "JSAPI", TradeState: "SUCCESS", Attach: "coupon=0", SuccessTime: "2023-11-15T06:13:18+08:00",
		Payer: wechatpay.Payer{OpenID: "oPayer"}, Amount: wechatpay.Amount{Total: 12800, PayerTotal: 12800, Currency: "CNY", PayerCurrency: "CNY"},
	}
}

func payRequest(t *testing.T, h http.Header, body []byte) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, PayNotifyPath, bytes.NewReader(body))
	for k, v := range h {
		r.Header[k] = v
	}
	return r
}

func TestPayNotifyRunsRulesOnce(t *testing.T) {
	b := newPayBot(t)
	for i := range 3 { // WeChat Pay delivers again when it missed the answer
		h, body, err := b.signer.Notify(wechatpay.EventTransactionSuccess, payTransaction("4200001"))
		if err != nil {
			t.Fatal(err)
		}
		w := serve(b.h, payRequest(t, h, body))
		if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
			t.Fatalf("delivery %d: %d %q, want 204 and no body", i+1, w.Code, w.Body.String())
		}
	}
	if n := b.runs.Load(); n != 1 {
		t.Fatalf("the rule ran %d times, want 1", n)
	}
	ev := b.got.Load()
	want := engine.Payment{OutTradeNo: "ORDER-4200001", TransactionID: "4200001", Total: 12800, Currency: "CNY", State: "SUCCESS", Attach: "coupon=0"}
	if ev.Type != "payment" || ev.From != "oPayer" || ev.Payment != want || ev.ID != "pay/4200001" {
		t.Errorf("event %+v", ev)
	}
	if ev.Raw["trade_type"] != "JSAPI" || ev.Raw["amount.payer_total"] != "12800" || ev.Raw["id"] == "" {
		t.Errorf("event.raw %v", ev.Raw)
	}
	if !ev.Time.Equal(time.Date(2023, 11, 14, 22, 13, 18, 0, time.UTC)) {
		t.Errorf("event.time %v, want success_time", ev.Time)
	}
	if ok, _ := b.store.ClaimOnce(context.Background(), "pay/4200001", time.Hour); ok {
		t.Errorf("the transaction was not claimed in the store")
	}
	// Another transaction runs its rules.
	h, body, _ := b.signer.Notify(wechatpay.EventTransactionSuccess, payTransaction("4200002"))
	serve(b.h, payRequest(t, h, body))
	if n := b.runs.Load(); n != 2 {
		t.Errorf("the rule ran %d times after a second transaction, want 2", n)
	}
	// A late reply goes to the outbox inside the action's Reply, so once
	// every action has returned (Close waits for them) a kefu fallback of
	// the offered reply would be queued: none queued means none will go
	// out, without guessing how long a delivery takes.
	b.e.Close(context.Background())
	if n, k := b.store.enqueued.Load(), b.kefu.Load(); n != 0 || k != 0 {
		t.Errorf("%d kefu sends queued, %d delivered for a payment's reply; want none", n, k)
	}
}

func TestPayNotifyRefusals(t *testing.T) {
	b := newPayBot(t)
	_, impostor := payTestKeys(t)
	good := func() (http.Header, []byte) {
		h, body, err := b.signer.Notify(wechatpay.EventTransactionSuccess, payTransaction("4200009"))
		if err != nil {
			t.Fatal(err)
		}
		return h, body
	}
	tests := []struct {
		name   string
		req    func() (http.Header, []byte)
		status int
	}{
		{"no headers", func() (http.Header, []byte) { _, b := good(); return http.Header{}, b }, 400},
		{"bad signature", func() (http.Header, []byte) {
			s := *b.signer
			s.Key = impostor
			h, body, _ := s.Notify(wechatpay.EventTransactionSuccess, payTransaction("4200009"))
			return h, body
		}, 401},
		{"wrong serial", func() (http.Header, []byte) {
			h, body := good()
			h.Set(wechatpay.HeaderSerial, "SERIAL2")
			return h, body
		}, 401},
		{"stale timestamp", func() (http.Header, []byte) {
			_, body := good()
			h, _ := b.signer.Headers(body, testNow.Add(-6*time.Minute))
			return h, body
		}, 403},
		{"wrong APIv3 key", func() (http.Header, []byte) {
			s := *b.signer
			s.APIv3Key = strings.Repeat("x", 32)
			h, body, _ := s.Notify(wechatpay.EventTransactionSuccess, payTransaction("4200009"))
			return h, body
		}, 500},
		{"broken ciphertext", func() (http.Header, []byte) {
			_, body := good()
			body = bytes.Replace(body, []byte(`"ciphertext":"`), []byte(`"ciphertext":"AAAA`), 1)
			h, _ := b.signer.Headers(body, testNow)
			return h, body
		}, 500},
		{"signed garbage", func() (http.Header, []byte) {
			h, _ := b.signer.Headers([]byte("{"), testNow)
			return h, []byte("{")
		}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, body := tt.req()
			w := serve(b.h, payRequest(t, h, body))
			if w.Code != tt.status || w.Body.String() != `{"code":"FAIL","message":"失败"}` {
				t.Errorf("got %d %s, want %d and the FAIL answer", w.Code, w.Body.String(), tt.status)
			}
		})
	}
	if n := b.runs.Load(); n != 0 {
		t.Errorf("the rule ran %d times on refused notifications", n)
	}
	// None of the refusals claimed the transaction: the genuine one runs.
	h, body := good()
	if w := serve(b.h, payRequest(t, h, body)); w.Code != 204 || b.runs.Load() != 1 {
		t.Errorf("the genuine notification after the refusals: %d, %d runs", w.Code, b.runs.Load())
	}
}

func TestPayNotifyOtherCases(t *testing.T) {
	b := newPayBot(t)
	// A refund is valid, answered 204, and runs nothing.
	h, body, _ := b.signer.Notify("REFUND.SUCCESS", payTransaction("4200100"))
	if w := serve(b.h, payRequest(t, h, body)); w.Code != 204 || b.runs.Load() != 0 {
		t.Errorf("refund: %d, %d runs; want 204 and nothing run", w.Code, b.runs.Load())
	}
	// GET is not WeChat Pay.
	if w := serve(b.h, httptest.NewRequest(http.MethodGet, PayNotifyPath, nil)); w.Code != 405 {
		t.Errorf("GET: %d, want 405", w.Code)
	}
	// A store failure answers 500 before anything runs; the redelivery runs.
	b.store.fail.Store(true)
	h, body, _ = b.signer.Notify(wechatpay.EventTransactionSuccess, payTransaction("4200101"))
	if w := serve(b.h, payRequest(t, h, body)); w.Code != 500 || b.runs.Load() != 0 {
		t.Errorf("claim failed: %d, %d runs; want 500 and nothing run", w.Code, b.runs.Load())
	}
	b.store.fail.Store(false)
	h, body, _ = b.signer.Notify(wechatpay.EventTransactionSuccess, payTransaction("4200101"))
	if w := serve(b.h, payRequest(t, h, body)); w.Code != 204 || b.runs.Load() != 1 {
		t.Errorf("redelivery after the store failure: %d, %d runs; want 204 and 1 run", w.Code, b.runs.Load())
	}
	// Too big a body.
	big := make([]byte, MaxBodyBytes+1)
	if w := serve(b.h, httptest.NewRequest(http.MethodPost, PayNotifyPath, bytes.NewReader(big))); w.Code != 413 {
		t.Errorf("big body: %d, want 413", w.Code)
	}
	// Shutting down: 503, nothing claimed.
	b.e.Close(context.Background())
	h, body, _ = b.signer.Notify(wechatpay.EventTransactionSuccess, payTransaction("4200102"))
	if w := serve(b.h, payRequest(t, h, body)); w.Code != 503 {
		t.Errorf("closed engine: %d, want 503", w.Code)
	}
	if ok, _ := b.store.ClaimOnce(context.Background(), "pay/4200102", time.Hour); !ok {
		t.Errorf("a refused notification was claimed")
	}
}

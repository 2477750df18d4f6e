package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/wechat"
)

// TestWebhookRetryReply: a reply a webhook answers its outbox retry with
// comes too late for its push, so it goes where late replies go: by kefu,
// or, on an account without the kefu API, held for the user's next push;
// nowhere for a push that takes none, or one kefu cannot carry.
func TestWebhookRetryReply(t *testing.T) {
	const rulesFmt = `version: 1
rules:
  - name: crm
    on: [text, payment]
    actions:
      - webhook: {url: %q}
`
	tests := []struct {
		name     string
		event    *engine.Event
		answer   string
		holdLate bool
		want     string // the kefu send's text, "held: …" for a held reply's, "" for nothing
	}{
		{"by kefu", textEvent("q"), `{"reply": {"text": "shipped"}}`, false, "shipped"},
		{"held without the kefu API", textEvent("q"), `{"reply": {"text": "shipped"}}`, true, "held: shipped"},
		{"a payment takes none", &engine.Event{Type: "payment", From: "oPayer"}, `{"reply": {"text": "thanks"}}`, false, ""},
		{"a transfer has no kefu equivalent", textEvent("q"), `{"reply": {"transfer": {}}}`, false, ""},
		{"an answer without a reply", textEvent("q"), `{"ok": true}`, false, ""},
		{"a reply wxbot cannot send", textEvent("q"), `{"reply": {"txt": "typo"}}`, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := newRecorder(t, func(n int, w http.ResponseWriter) {
					if n == 1 {
						w.WriteHeader(http.StatusBadGateway)
						return
					}
					io.WriteString(w, tt.answer)
				})
				b := newHookBot(t, fmt.Sprintf(rulesFmt, rec.URL), rec, false)
				b.hook.HoldLate = tt.holdLate
				b.e.Dispatch(tt.event).Finish(context.Background())
				// The retry's reply is queued (or held) before the retry is
				// done, and a kefu send is pending until delivered: once
				// nothing is pending, whatever was sent is in b.kefu.
				waitFor(t, "the retry", func() bool {
					n, _ := b.store.Pending(context.Background())
					return rec.count() == 2 && n == 0
				})
				var got []string
				for len(b.kefu) > 0 {
					s := <-b.kefu
					var m wechat.KefuMessage
					json.Unmarshal(s.Payload, &m)
					if m.Text == nil || s.OrderKey != tt.event.From || !strings.HasSuffix(s.ID, "/reply") {
						t.Errorf("kefu send %+v %s", s, s.Payload)
						continue
					}
					got = append(got, m.Text.Content)
				}
				held, _ := b.store.TakeHeldReply(context.Background(), tt.event.From)
				if held != nil {
					r, err := engine.UnmarshalReply(held)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, "held: "+r.Content)
				}
				if strings.Join(got, ", ") != tt.want {
					t.Errorf("got %q, want %q", got, tt.want)
				}
				if d, _ := b.store.DeadLetters(context.Background(), 10); len(d) != 0 {
					t.Errorf("dead letters %+v", d)
				}
			})
		})
	}
}

// TestWebhookRetryReplyOnce: a retry that runs again after its reply was
// queued (a crash before it was marked done) queues the reply once.
func TestWebhookRetryReplyOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t, func(_ int, w http.ResponseWriter) { io.WriteString(w, `{"reply": {"text": "once"}}`) })
		b := newHookBot(t, "version: 1\nrules: []\n", rec, false)
		payload, _ := outbox.Encode(&WebhookRequest{URL: rec.URL, Method: http.MethodPost, Key: "k", ReplyTo: "oUser"})
		s := &outbox.Send{ID: "p/crm/0/1", Kind: KindWebhook, OrderKey: "webhook:k", Rule: "crm", Payload: payload}
		for range 2 {
			if err := b.hook.Deliver(context.Background(), s); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "the reply delivered", func() bool { n, _ := b.store.Pending(context.Background()); return n == 0 && len(b.kefu) > 0 })
		synctest.Wait()
		if n := len(b.kefu); n != 1 {
			t.Errorf("%d kefu sends, want 1", n)
		}
	})
}

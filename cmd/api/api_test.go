package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store/memory"
)

const (
	crmToken  = "crm-secret-token-0123456789"
	deskToken = "desk-secret-token-0123456789"
)

// fixture is an API over two accounts (shop, news) and a third that has
// no API credentials (mute), on memory stores, with a settable clock.
type fixture struct {
	h      *Handler
	now    time.Time
	stores map[string]*memory.Memory
	tokens string
	logs   *bytes.Buffer
}

func newFixture(t *testing.T, rate float64, accounts ...string) *fixture {
	t.Helper()
	f := &fixture{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), stores: map[string]*memory.Memory{}, logs: new(bytes.Buffer)}
	f.tokens = filepath.Join(t.TempDir(), "api-tokens")
	writeFile(t, f.tokens, "# systems that send\ncrm: "+HashToken(crmToken)+"\ndesk: "+HashToken(deskToken)+" accounts=news\nnobody: "+HashToken("")+"\n")
	if len(accounts) == 0 {
		accounts = []string{"shop", "news", "mute"}
	}
	byName := map[string]Account{}
	for _, name := range accounts {
		st := memory.New(func() time.Time { return f.now })
		ob := outbox.New(st, outbox.Options{Now: func() time.Time { return f.now }})
		if name != "mute" {
			ob.Register(outbox.KindKefu, outbox.DelivererFunc(func(context.Context, *outbox.Send) error { return nil }))
		}
		f.stores[name] = st
		byName[name] = Account{Name: name, Store: st, Outbox: ob}
	}
	h, err := New(Config{Tokens: f.tokens, Rate: rate, Now: func() time.Time { return f.now },
		Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Lookup: func(n string) (Account, bool) { a, ok := byName[n]; return a, ok },
		Names: func() []string {
			return slices.Sorted(func(y func(string) bool) {
				for n := range byName {
					y(n)
				}
			})
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// do makes a request with the token (none when "") and returns the status,
// the decoded JSON answer and the response.
func (f *fixture) do(method, path, token, body string) (int, map[string]string, *http.Response) {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	var out map[string]string
	json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, out, w.Result()
}

func (f *fixture) pending(t *testing.T, account string) []*outbox.Send {
	t.Helper()
	sends, _, err := f.stores[account].PendingSends(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return sends
}

// TestPostRefusals: each bad request gets its status and says what is
// wrong, and none of them stores anything.
func TestPostRefusals(t *testing.T) {
	big := `{"to": "oU", "kefu": {"text": "` + strings.Repeat("x", MaxBody) + `"}}`
	tests := []struct {
		name, token, body string
		status            int
		want              string
	}{
		{"no token", "", `{"to": "oU", "kefu": {"text": "hi"}}`, 401, "Authorization: Bearer TOKEN"},
		{"wrong token", "nope", `{"to": "oU", "kefu": {"text": "hi"}}`, 401, "Authorization: Bearer TOKEN"},
		{"the hash as token", HashToken(crmToken), `{"to": "oU", "kefu": {"text": "hi"}}`, 401, "Bearer"},
		{"an empty token", " ", `{"to": "oU", "kefu": {"text": "hi"}}`, 401, "Bearer"},
		{"not JSON", crmToken, `to=oU`, 400, "want a JSON object"},
		{"two objects", crmToken, `{"to": "oU", "kefu": {"text": "hi"}, "account": "shop"} {}`, 400, "nothing after it"},
		{"null", crmToken, `null`, 400, "got null"},
		{"no to", crmToken, `{"account": "shop", "kefu": {"text": "hi"}}`, 400, "to: required"},
		{"bad to", crmToken, `{"account": "shop", "to": "o U!", "kefu": {"text": "hi"}}`, 400, `to: "o U!" is not an OpenID`},
		{"to a number", crmToken, `{"account": "shop", "to": 12, "kefu": {"text": "hi"}}`, 400, "to: want a string, got a number"},
		{"no kefu", crmToken, `{"account": "shop", "to": "oU"}`, 400, "kefu: required"},
		{"empty kefu", crmToken, `{"account": "shop", "to": "oU", "kefu": {}}`, 400, "kefu: want one of text, image"},
		{"bad kefu field", crmToken, `{"account": "shop", "to": "oU", "kefu": {"image": {"mediaid": "M"}}}`, 400, `kefu.image: unknown field "mediaid" (known: media_id)`},
		{"kefu delay", crmToken, `{"account": "shop", "to": "oU", "kefu": {"text": "hi", "delay": "1h"}}`, 400, "kefu.delay: not taken by the send API"},
		{"unknown field", crmToken, `{"account": "shop", "to": "oU", "kefu": {"text": "hi"}, "msg": 1}`, 400, `unknown field "msg" (known: account, to, kefu, idempotency_key)`},
		{"long key", crmToken, `{"account": "shop", "to": "oU", "kefu": {"text": "hi"}, "idempotency_key": "` + strings.Repeat("k", 256) + `"}`, 400, "idempotency_key: 256 bytes, at most 255"},
		{"control in key", crmToken, `{"account": "shop", "to": "oU", "kefu": {"text": "hi"}, "idempotency_key": "a\nb"}`, 400, "idempotency_key: want printable text"},
		{"every problem", crmToken, `{"account": "shop", "to": "", "kefu": {"voice": {}}}`, 400, "to: required: the user's OpenID; kefu: voice.media_id: required"},
		{"unknown account", crmToken, `{"account": "shp", "to": "oU", "kefu": {"text": "hi"}}`, 400, `account: unknown account "shp" (known: mute, news, shop)`},
		{"account needed", crmToken, `{"to": "oU", "kefu": {"text": "hi"}}`, 400, "account: required: this bot serves 3 accounts (mute, news, shop)"},
		{"not the token's account", deskToken, `{"account": "shop", "to": "oU", "kefu": {"text": "hi"}}`, 403, "token desk may not send for account \"shop\""},
		{"account without API", crmToken, `{"account": "mute", "to": "oU", "kefu": {"text": "hi"}}`, 503, `account "mute" cannot send kefu messages: it has no AppID and AppSecret`},
		{"too large", crmToken, big, 413, "over 65536 bytes"},
	}
	f := newFixture(t, 0)
	for _, tc := range tests {
		status, out, resp := f.do("POST", "/v1/messages", tc.token, tc.body)
		if status != tc.status || !strings.Contains(out["error"], tc.want) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, status, out["error"], tc.status, tc.want)
		}
		if status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
	}
	for name := range f.stores {
		if p := f.pending(t, name); len(p) != 0 {
			t.Errorf("%s: %d sends stored by refused requests", name, len(p))
		}
	}
	// A refused request consumed no key: corrected, it is taken.
	status, _, _ := f.do("POST", "/v1/messages", crmToken, `{"account": "shop", "to": "oU", "kefu": {"voice": {}}, "idempotency_key": "k1"}`)
	if status != 400 {
		t.Fatalf("bad voice: %d", status)
	}
	if status, out, _ := f.do("POST", "/v1/messages", crmToken, `{"account": "shop", "to": "oU", "kefu": {"voice": {"media_id": "V"}}, "idempotency_key": "k1"}`); status != 202 {
		t.Errorf("the corrected request under the same key: %d %v", status, out)
	}
}

// TestTooLargeWithoutLength: a body over the limit sent without a
// Content-Length (chunked) is refused too.
func TestTooLargeWithoutLength(t *testing.T) {
	f := newFixture(t, 0)
	r := httptest.NewRequest("POST", "/v1/messages", io.MultiReader(strings.NewReader(`{"to": "oU", "kefu": {"text": "`), strings.NewReader(strings.Repeat("x", 2*MaxBody))))
	r.ContentLength = -1
	r.Header.Set("Authorization", "Bearer "+crmToken)
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	if w.Code != 413 {
		t.Errorf("%d %s, want 413", w.Code, w.Body)
	}
}

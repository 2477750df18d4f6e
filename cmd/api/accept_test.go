package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
)

// TestPostAndReplay: a post is one pending send; the same key posted again
// (spelled differently) is the same send, answered as a replay; another
// message under the key is 409; without a key every post is a send.
func TestPostAndReplay(t *testing.T) {
	f := newFixture(t, 0)
	body := `{"account": "shop", "to": "oU1", "kefu": {"text": "您的工单已处理 ${not a template}", "kf_account": "agent1@shop"}, "idempotency_key": "ticket-42/reply-1"}`
	status, out, resp := f.do("POST", "/v1/messages", crmToken, body)
	if status != 202 || !strings.HasPrefix(out["id"], "api:shop:crm:") || resp.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("post: %d %v %v", status, out, resp.Header)
	}
	id := out["id"]
	p := f.pending(t, "shop")
	if len(p) != 1 || p[0].ID != id || p[0].OrderKey != "oU1" || p[0].Rule != "api:crm" || p[0].Kind != outbox.KindKefu {
		t.Fatalf("stored: %+v", p)
	}
	want := `{"touser":"oU1","msgtype":"text","text":{"content":"您的工单已处理 ${not a template}"},"customservice":{"kf_account":"agent1@shop"}}`
	if string(p[0].Payload) != want {
		t.Errorf("payload %s\nwant %s", p[0].Payload, want)
	}

	again := `{"idempotency_key": "ticket-42/reply-1", "kefu": {"kf_account": "agent1@shop", "text": "您的工单已处理 ${not a template}"}, "to": "oU1", "account": "shop"}`
	status, out, resp = f.do("POST", "/v1/messages", crmToken, again)
	if status != 202 || out["id"] != id || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: %d %v %v, want 202 with %s", status, out, resp.Header, id)
	}
	if p := f.pending(t, "shop"); len(p) != 1 {
		t.Errorf("%d sends after the replay, want 1", len(p))
	}

	other := strings.Replace(body, "已处理", "已关闭", 1)
	status, out, _ = f.do("POST", "/v1/messages", crmToken, other)
	if status != 409 || !strings.Contains(out["error"], `idempotency_key "ticket-42/reply-1" was posted before with another message`) {
		t.Errorf("another message under the key: %d %v", status, out)
	}
	elsewhere := strings.Replace(body, `"oU1"`, `"oU2"`, 1)
	if status, out, _ := f.do("POST", "/v1/messages", crmToken, elsewhere); status != 409 {
		t.Errorf("the key to another user: %d %v", status, out)
	}
	// Keys are the token's own: another system's same key is its own send.
	if status, out, _ := f.do("POST", "/v1/messages", deskToken, strings.Replace(body, `"shop"`, `"news"`, 1)); status != 202 || !strings.HasPrefix(out["id"], "api:news:desk:") {
		t.Errorf("desk's post under the same key: %d %v", status, out)
	}

	noKey := `{"account": "shop", "to": "oU3", "kefu": {"image": {"media_id": "M"}}}`
	_, a, _ := f.do("POST", "/v1/messages", crmToken, noKey)
	_, b, _ := f.do("POST", "/v1/messages", crmToken, noKey)
	if a["id"] == "" || a["id"] == b["id"] {
		t.Errorf("two posts without a key: %v %v, want two sends", a, b)
	}
	if p := f.pending(t, "shop"); len(p) != 3 {
		t.Errorf("%d sends, want 3", len(p))
	}
	if strings.Contains(f.logs.String(), crmToken) || strings.Contains(f.logs.String(), deskToken) {
		t.Errorf("a token is in the logs:\n%s", f.logs)
	}
}

// TestGetStatus: GET follows a send from pending to sent or dead, for its
// own token only.
func TestGetStatus(t *testing.T) {
	f := newFixture(t, 0)
	post := func(to string) string {
		t.Helper()
		status, out, _ := f.do("POST", "/v1/messages", crmToken, `{"account": "shop", "to": "`+to+`", "kefu": {"text": "hi"}, "idempotency_key": "`+to+`"}`)
		if status != 202 {
			t.Fatalf("post: %d %v", status, out)
		}
		return out["id"]
	}
	sent, dead := post("oSent"), post("oDead")
	get := func(id, token string) (int, map[string]string) {
		status, out, _ := f.do("GET", "/v1/messages/"+id, token, "")
		return status, out
	}
	if status, out := get(sent, crmToken); status != 200 || out["status"] != "pending" || out["id"] != sent {
		t.Errorf("just posted: %d %v", status, out)
	}
	ctx := context.Background()
	st := f.stores["shop"]
	due, _ := st.Due(ctx, f.now, 10, nil)
	for _, s := range due {
		if s.OrderKey == "oSent" {
			st.Done(ctx, s)
		} else {
			st.Dead(ctx, s, "api 45015: response out of time limit or subscription is canceled")
		}
	}
	if status, out := get(sent, crmToken); status != 200 || out["status"] != "sent" || out["reason"] != "" {
		t.Errorf("delivered: %d %v", status, out)
	}
	if status, out := get(dead, crmToken); status != 200 || out["status"] != "dead" || !strings.Contains(out["reason"], "45015") {
		t.Errorf("dead-lettered: %d %v", status, out)
	}
	for _, tc := range []struct{ id, token string }{
		{sent, deskToken}, // another token's send
		{"api:shop:crm:" + strings.Repeat("0", 32), crmToken},
		{"api:gone:crm:" + strings.Repeat("0", 32), crmToken},
		{"nonsense", crmToken},
	} {
		if status, out := get(tc.id, tc.token); status != 404 || out["error"] == "" {
			t.Errorf("GET %s: %d %v, want 404", tc.id, status, out)
		}
	}
	if status, _ := get(sent, ""); status != 401 {
		t.Errorf("GET without a token: %d", status)
	}
}

// TestRate: a token past its rate gets 429 with Retry-After, and again
// its share as time passes; another token is not held back.
func TestRate(t *testing.T) {
	f := newFixture(t, 2)
	body := `{"account": "news", "to": "oU", "kefu": {"text": "hi"}}`
	for i := range 2 {
		if status, out, _ := f.do("POST", "/v1/messages", crmToken, body); status != 202 {
			t.Fatalf("post %d: %d %v", i, status, out)
		}
	}
	status, out, resp := f.do("POST", "/v1/messages", crmToken, body)
	if status != 429 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(out["error"], "token crm is over --api-rate (2 requests a second)") {
		t.Errorf("third post in a second: %d %v %v", status, out, resp.Header)
	}
	if status, _, _ := f.do("GET", "/v1/messages/x", crmToken, ""); status != 429 {
		t.Errorf("a GET over the rate: %d", status)
	}
	if status, _, _ := f.do("POST", "/v1/messages", deskToken, body); status != 202 {
		t.Errorf("another token: %d", status)
	}
	f.now = f.now.Add(500 * time.Millisecond)
	if status, _, _ := f.do("POST", "/v1/messages", crmToken, body); status != 202 {
		t.Errorf("half a second later: %d", status)
	}
	if status, _, _ := f.do("POST", "/v1/messages", crmToken, body); status != 429 {
		t.Errorf("and one more: %d", status)
	}
}

// TestOneAccount: with one account, a body may leave it out.
func TestOneAccount(t *testing.T) {
	f := newFixture(t, 0, "default")
	status, out, _ := f.do("POST", "/v1/messages", crmToken, `{"to": "oU", "kefu": {"text": "hi"}}`)
	if status != 202 || !strings.HasPrefix(out["id"], "api:default:crm:") {
		t.Errorf("%d %v", status, out)
	}
}

// TestTokensReread: the tokens file is read again when it changes; a
// broken one keeps the tokens read before.
func TestTokensReread(t *testing.T) {
	f := newFixture(t, 0)
	body := `{"account": "shop", "to": "oU", "kefu": {"text": "hi"}}`
	writeFile(t, f.tokens, "crm2: "+HashToken("new-token")+"\n")
	if status, _, _ := f.do("POST", "/v1/messages", "new-token", body); status != 202 {
		t.Errorf("a token added: %d", status)
	}
	if status, _, _ := f.do("POST", "/v1/messages", crmToken, body); status != 401 {
		t.Errorf("a token removed: %d", status)
	}
	writeFile(t, f.tokens, "crm2 "+HashToken("new-token")+"\nbroken\n")
	if status, _, _ := f.do("POST", "/v1/messages", "new-token", body); status != 202 {
		t.Errorf("after a broken edit: %d, want the last good tokens", status)
	}
	if !strings.Contains(f.logs.String(), "the API tokens file changed but does not load") {
		t.Errorf("no log line for the broken file:\n%s", f.logs)
	}
}

// TestParseTokens: each bad line is named.
func TestParseTokens(t *testing.T) {
	h := HashToken("x")
	for in, want := range map[string]string{
		"crm " + h:                               "line 1: want `name: sha256-hex-of-token`",
		"crm: " + h + "\ncrm: " + HashToken("y"): `line 2: token "crm" given twice`,
		"crm: plaintext":                         `line 1: token "crm": the hash is not 64 hex digits`,
		"a: " + h + "\nb: " + h:                  `line 2: token "b" has the hash of token "a"`,
		"crm: " + h + " only=shop":               `line 1: token "crm": after the hash, want nothing or accounts=NAME,NAME`,
		"c/rm: " + h:                             "line 1: want `name: sha256-hex-of-token`",
	} {
		if _, err := ParseTokens([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	toks, err := ParseTokens([]byte("# c\n\ncrm: " + h + " accounts=shop,news\n"))
	if err != nil || len(toks) != 1 || !toks[0].mayUse("news") || toks[0].mayUse("other") {
		t.Errorf("%+v %v", toks, err)
	}
}

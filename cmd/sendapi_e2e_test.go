package cmd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// apiToken makes a tokens file in dir with one token named name, through
// `wxbot api addtoken`, and returns the file and the token.
func apiToken(t *testing.T, dir, name string) (file, tok string) {
	t.Helper()
	file = filepath.Join(dir, "api-tokens")
	out, errOut, code := wxbot(t, nil, "api", "addtoken", name, "--api-tokens", file)
	tok = strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(tok, "wxbot_") || !strings.Contains(errOut, "added "+name) {
		t.Fatalf("api addtoken: %d %q %q", code, out, errOut)
	}
	data, _ := os.ReadFile(file)
	if strings.Contains(string(data), tok) || !strings.HasPrefix(string(data), name+": ") {
		t.Fatalf("the tokens file holds %q, want the token's hash only", data)
	}
	return file, tok
}

// apiCall makes a send API request and returns the status, the JSON answer
// and the headers.
func apiCall(t *testing.T, method, url, tok, body string) (int, map[string]string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e2eHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

// apiStatus is GET /v1/messages/ID's status ("" with the error when not
// 200).
func apiStatus(t *testing.T, api, tok, id string) string {
	t.Helper()
	code, out, _ := apiCall(t, "GET", api+"/v1/messages/"+id, tok, "")
	if code != 200 {
		return fmt.Sprintf("%d %s", code, out["error"])
	}
	return out["status"]
}

const apiBody = `{"to": "oAPI", "kefu": {"text": "工单 42 已处理: ${ticket}"}, "idempotency_key": "ticket-42/reply-1"}`

// TestSendAPIOnBolt: a post reaches the user once; posted again, before
// and after a restart on the same bbolt file, it is the same send and
// nothing more goes out; its status is sent; a key reused for another
// message is 409 and an unknown account 400, with nothing stored.
func TestSendAPIOnBolt(t *testing.T) {
	fake := wechattest.New("wxsendapi00000001", "outbox-secret")
	defer fake.Close()
	dir := t.TempDir()
	tokens, tok := apiToken(t, dir, "crm")
	rulesPath := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesPath, []byte(outboxRules), 0o644)
	env := outboxEnv("wxsendapi00000001", fake)
	apiAddr := freeAddr(t)
	args := []string{"--rules", rulesPath, "--store", "bolt:" + filepath.Join(dir, "wxbot.db"),
		"--api-listen", apiAddr, "--api-tokens", tokens}
	b := startBot(t, env, args...)
	api := "http://" + apiAddr
	wxbot(t, env, "simulate", "--url", b.url, "--from", "oAPI", "text", "hello") // the user writes: a window opens

	code, out, _ := apiCall(t, "POST", api+"/v1/messages", tok, apiBody)
	id := out["id"]
	if code != 202 || !strings.HasPrefix(id, "api:default:crm:") {
		t.Fatalf("post: %d %v", code, out)
	}
	if got := waitDelivered(t, b, fake, 1); got[0] != "工单 42 已处理: ${ticket}" {
		t.Errorf("delivered %q", got)
	}
	eventually(t, b, "status sent", func() bool { return apiStatus(t, api, tok, id) == "sent" })
	code, out, hdr := apiCall(t, "POST", api+"/v1/messages", tok, apiBody)
	if code != 202 || out["id"] != id || hdr.Get("Idempotent-Replayed") != "true" {
		t.Errorf("posted again: %d %v %v", code, out, hdr)
	}
	code, out, _ = apiCall(t, "POST", api+"/v1/messages", tok, strings.Replace(apiBody, "已处理", "已关闭", 1))
	if code != 409 || !strings.Contains(out["error"], "posted before with another message") {
		t.Errorf("another message under the key: %d %v", code, out)
	}
	code, out, _ = apiCall(t, "POST", api+"/v1/messages", tok, `{"account": "shop", "to": "oAPI", "kefu": {"text": "x"}, "idempotency_key": "k2"}`)
	if code != 400 || out["error"] != `account: unknown account "shop" (known: default)` {
		t.Errorf("unknown account: %d %v", code, out)
	}
	waitIdle(t, b)

	b.cmd.Process.Signal(os.Interrupt)
	b.waitExit(t)
	b2 := startBot(t, env, args...)
	code, out, _ = apiCall(t, "POST", api+"/v1/messages", tok, apiBody)
	if code != 202 || out["id"] != id {
		t.Errorf("posted again after the restart: %d %v, want 202 with %s", code, out, id)
	}
	if st := apiStatus(t, api, tok, id); st != "sent" {
		t.Errorf("status after the restart: %s", st)
	}
	// A send the store had taken would be pending until delivered: an idle
	// outbox means none was.
	waitIdle(t, b2)
	if got := kefuTexts(fake); len(got) != 1 {
		t.Errorf("delivered %q, want the message once", got)
	}
	for _, p := range []*botProc{b, b2} {
		if strings.Contains(p.stderr.String(), tok) {
			t.Error("the token is in the log")
		}
	}
}

// TestSendAPIOnRedis: two replicas on one Redis, the same key posted to
// both at once: one send, one ID, delivered once; the other replica knows
// its status and refuses another message under the key.
func TestSendAPIOnRedis(t *testing.T) {
	rc := needRedis(t)
	defer rc.Close()
	prefix := redisPrefix(t, rc, "sendapi")
	fake := wechattest.New("wxsendapi00000002", "outbox-secret")
	defer fake.Close()
	dir := t.TempDir()
	tokens, tok := apiToken(t, dir, "crm")
	rulesPath := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesPath, []byte(outboxRules), 0o644)
	env := outboxEnv("wxsendapi00000002", fake)
	replica := func(consumer string) (*botProc, string) {
		addr := freeAddr(t)
		return startBot(t, env, "--rules", rulesPath, "--api-listen", addr, "--api-tokens", tokens,
			"--store", "redis://127.0.0.1:6379/0?claim_idle=2s&prefix="+prefix+"&consumer="+consumer), "http://" + addr
	}
	a, apiA := replica("a")
	b, apiB := replica("b")

	var wg sync.WaitGroup
	ids := make([]string, 2)
	for i, api := range []string{apiA, apiB} {
		wg.Go(func() {
			code, out, _ := apiCall(t, "POST", api+"/v1/messages", tok, apiBody)
			if code != 202 {
				t.Errorf("post to replica %d: %d %v", i, code, out)
			}
			ids[i] = out["id"]
		})
	}
	wg.Wait()
	if ids[0] == "" || ids[0] != ids[1] {
		t.Fatalf("ids %q, want one", ids)
	}
	waitDelivered(t, a, fake, 1)
	waitIdle(t, b)
	if got := kefuTexts(fake); len(got) != 1 {
		t.Errorf("delivered %q, want the message once", got)
	}
	eventually(t, b, "status sent on the other replica", func() bool { return apiStatus(t, apiB, tok, ids[0]) == "sent" })
	code, out, _ := apiCall(t, "POST", apiA+"/v1/messages", tok, strings.Replace(apiBody, "已处理", "已关闭", 1))
	if code != 409 {
		t.Errorf("another message under the key on the other replica: %d %v", code, out)
	}
}

// TestSendAPIAccounts: with --accounts a body names its account, and the
// send goes out through that account's API; an account without API
// credentials, an unknown one and a missing one are refused with reasons.
func TestSendAPIAccounts(t *testing.T) {
	fake := wechattest.New(shopAppID, "shop-secret")
	defer fake.Close()
	dir := t.TempDir()
	tokens, tok := apiToken(t, dir, "desk")
	path := writeAccounts(t, dir, "shop", "news")
	data, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(data), "token_env: SHOP_TOKEN,", "token_env: SHOP_TOKEN, secret_env: SHOP_SECRET,", 1)), 0o644)
	env := []string{"SHOP_TOKEN=shop-token", "SHOP_SECRET=shop-secret", "NEWS_TOKEN=news-token", "NEWS_AES_KEY=" + e2eKey,
		"WXBOT_API_BASE=" + fake.URL, "WXBOT_TOKEN_API=classic"}
	addr := freeAddr(t)
	b := startBot(t, env, "--accounts", path, "--api-listen", addr, "--api-tokens", tokens)
	api := "http://" + addr

	for _, tc := range []struct {
		body string
		code int
		want string
	}{
		{`{"to": "oU", "kefu": {"text": "x"}}`, 400, "account: required: this bot serves 2 accounts (news, shop)"},
		{`{"account": "blog", "to": "oU", "kefu": {"text": "x"}}`, 400, `account: unknown account "blog" (known: news, shop)`},
		{`{"account": "news", "to": "oU", "kefu": {"text": "x"}}`, 503, `account "news" cannot send kefu messages`},
	} {
		if code, out, _ := apiCall(t, "POST", api+"/v1/messages", tok, tc.body); code != tc.code || !strings.Contains(out["error"], tc.want) {
			t.Errorf("%s: %d %v, want %d with %q", tc.body, code, out, tc.code, tc.want)
		}
	}
	code, out, _ := apiCall(t, "POST", api+"/v1/messages", tok, `{"account": "shop", "to": "oShop", "kefu": {"text": "来自 shop"}}`)
	if code != 202 || !strings.HasPrefix(out["id"], "api:shop:desk:") {
		t.Fatalf("post for shop: %d %v", code, out)
	}
	eventually(t, b, "shop's send delivered", func() bool { return apiStatus(t, api, tok, out["id"]) == "sent" })
	if got := kefuTexts(fake); len(got) != 1 || got[0] != "来自 shop" {
		t.Errorf("shop's API got %q", got)
	}
}

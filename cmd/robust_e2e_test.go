package cmd

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// TestSpooledKefuSendsAttemptedAfterRestart: kefu sends spooled while
// Redis refuses, kept through a restart that loses the windows their
// pushes opened (those lived in the process's memory only), are attempted
// once Redis is back: a window nobody knows is not a closed one, and
// WeChat decides. They used to be dead-lettered without an API call.
func TestSpooledKefuSendsAttemptedAfterRestart(t *testing.T) {
	rc := needRedis(t)
	defer rc.Close()
	prefix := redisPrefix(t, rc, "spool-restart")
	proxy := newFaultProxy(t, "127.0.0.1:6379")
	fake := wechattest.New("wxspool0000000001", "spool-secret")
	defer fake.Close()
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesPath, []byte(faultRules), 0o644)
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=wxspool0000000001", "WXBOT_SECRET=spool-secret",
		"WXBOT_API_BASE=" + fake.URL, "WXBOT_TOKEN_API=classic"}
	args := []string{"--rules", rulesPath, "--store", "redis://" + proxy.addr() + "/0?prefix=" + prefix,
		"--spool", filepath.Join(dir, "spool.db")}
	b := startBot(t, env, args...)

	proxy.set(refuse)
	for _, id := range []string{"6001", "6002"} {
		out, errOut, code := wxbot(t, env, "simulate", "--url", b.url, "--from", "oSpooled", "--msg-id", id, "text", "order")
		if code != 0 || !strings.Contains(out, "order "+id+" received") {
			t.Fatalf("push %s while Redis refuses: exit %d\n%s%s", id, code, out, errOut)
		}
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.waitExit(t)

	proxy.set(forward)
	b = startBot(t, env, args...)
	waitIdle(t, b) // the spool moved to Redis and every send settled
	if got := kefuTexts(fake); strings.Join(got, ",") != "k 6001,k 6002" {
		t.Errorf("delivered %q, want both spooled sends, in order", got)
	}
	if st := getOutbox(t, b.admin); len(st.DeadLetters) != 0 {
		t.Errorf("dead letters %+v: a window lost with the restart was taken as closed", st.DeadLetters)
	}
}

// TestDelayedSendHoldsNoOneBack: a send waiting out its `delay:` does not
// hold back the user's later sends; it waits on its own, the user's next
// message is answered at once.
func TestDelayedSendHoldsNoOneBack(t *testing.T) {
	stores := []struct {
		name  string
		store func(t *testing.T) string
	}{
		{"bolt", func(t *testing.T) string { return "bolt:" + filepath.Join(t.TempDir(), "wxbot.db") }},
		{"redis", func(t *testing.T) string {
			rc := needRedis(t)
			t.Cleanup(func() { rc.Close() })
			return "redis://127.0.0.1:6379/0?prefix=" + redisPrefix(t, rc, "delay")
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			fake := wechattest.New("wxdelay0000000001", "outbox-secret")
			defer fake.Close()
			rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
			os.WriteFile(rulesPath, []byte(`version: 1
rules:
  - name: later
    on: text
    text: later
    actions:
      - kefu: {text: "in an hour", delay: 1h}
  - name: now
    on: text
    text: now
    actions:
      - kefu: {text: "right away"}
`), 0o644)
			env := outboxEnv("wxdelay0000000001", fake)
			b := startBot(t, env, "--rules", rulesPath, "--store", st.store(t))
			for _, text := range []string{"later", "now"} {
				if _, errOut, code := wxbot(t, env, "simulate", "--url", b.url, "--from", "oDelay", "text", text); code != 0 {
					t.Fatalf("simulate %s: %s", text, errOut)
				}
			}
			got := waitOutbox(t, b.admin, "the later push's send delivered, the delayed one waiting",
				func(st outboxState) bool { return st.Pending == 1 && len(kefuTexts(fake)) == 1 })
			if texts := kefuTexts(fake); texts[0] != "right away" {
				t.Errorf("delivered %q, want the undelayed send", texts)
			}
			if p := got.PendingSends; len(p) != 1 || p[0].Rule != "later" {
				t.Errorf("pending %+v, want the delayed send", p)
			}
		})
	}
}

// TestWebhookReplyOnRetryGoesByKefu: a webhook that fails inline and
// answers its outbox retry with a reply has that reply delivered by kefu,
// as any reply too late for the push is (it used to be dropped).
func TestWebhookReplyOnRetryGoesByKefu(t *testing.T) {
	var calls atomic.Int32
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if calls.Add(1) == 1 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"reply": {"text": "your order ships today"}}`)
	}))
	defer crm.Close()
	fake := wechattest.New("wxhook00000000001", "outbox-secret")
	defer fake.Close()
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rulesPath, []byte(fmt.Sprintf(`version: 1
rules:
  - name: crm
    on: text
    actions:
      - webhook: {url: %q, body: "{}"}
`, crm.URL)), 0o644)
	env := outboxEnv("wxhook00000000001", fake)
	b := startBot(t, env, "--rules", rulesPath)
	if _, errOut, code := wxbot(t, env, "simulate", "--url", b.url, "--from", "oHook", "text", "where is my order"); code != 0 {
		t.Fatalf("simulate: %s", errOut)
	}
	eventually(t, b, "the webhook's retry", func() bool { return calls.Load() >= 2 })
	waitIdle(t, b)
	if got := kefuTexts(fake); strings.Join(got, ",") != "your order ships today" {
		t.Errorf("delivered %q, want the retry's reply once", got)
	}
	for _, c := range fake.Delivered("/cgi-bin/message/custom/send") {
		if !strings.Contains(string(c.Body), `"touser":"oHook"`) {
			t.Errorf("sent to another user: %s", c.Body)
		}
	}
}

package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

const outboxRules = `version: 1
rules:
  - name: order
    on: text
    text: order
    actions:
      - kefu: {text: "one"}
      - kefu: {text: "two"}
      - kefu: {text: "three"}
  - name: single
    on: text
    text: single
    actions:
      - kefu: {text: "only"}
`

// outboxState is GET /outbox as the tests read it.
type outboxState struct {
	Pending      int `json:"pending"`
	PendingSends []struct {
		ID        string `json:"id"`
		User      string `json:"user"`
		Rule      string `json:"rule"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
	} `json:"pending_sends"`
	DeadLetters []struct {
		Reason string `json:"reason"`
		Send   struct {
			ID     string `json:"id"`
			OpenID string `json:"openid"`
		} `json:"send"`
	} `json:"dead_letters"`
}

func getOutbox(t *testing.T, admin string) outboxState {
	t.Helper()
	resp, err := e2eHTTP.Get(admin + "/outbox")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st outboxState
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// waitOutbox polls GET /outbox until ok.
func waitOutbox(t *testing.T, admin string, what string, ok func(outboxState) bool) outboxState {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := getOutbox(t, admin)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: outbox %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitIdle waits until the bot's outbox holds nothing: every accepted send
// delivered or dead-lettered and none in flight (a send stays pending until
// its delivery ends; on Redis the queue is the replicas' shared one, spool
// included). A duplicate could only come from a pending send, so from then
// on what was delivered is final: no "a duplicate would show by now" wait.
func waitIdle(t *testing.T, b *botProc) {
	t.Helper()
	waitOutbox(t, b.admin, "an idle outbox", func(st outboxState) bool { return st.Pending == 0 })
}

// waitDelivered waits for n kefu sends, then for an idle outbox (see
// waitIdle).
func waitDelivered(t *testing.T, b *botProc, fake *wechattest.Server, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(kefuTexts(fake)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("delivered %q, want %d sends", kefuTexts(fake), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitIdle(t, b)
	return kefuTexts(fake)
}

func outboxEnv(appID string, fake *wechattest.Server) []string {
	return []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=" + appID, "WXBOT_SECRET=outbox-secret",
		"WXBOT_API_BASE=" + fake.URL, "WXBOT_TOKEN_API=classic"}
}

// TestOutboxRetryDeadLetter: a send dead-lettered (45015) and retried with
// `wxbot outbox retry ID`, once the user has written again, is delivered
// once; a second retry of it says there is nothing to retry.
func TestOutboxRetryDeadLetter(t *testing.T) {
	fake := wechattest.New("wxoutbox000000001", "outbox-secret")
	defer fake.Close()
	fake.FailNext("/cgi-bin/message/custom/send", 45015)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rulesPath, []byte(outboxRules), 0o644)
	env := outboxEnv("wxoutbox000000001", fake)
	b := startBot(t, env, "--rules", rulesPath)
	wxbot(t, env, "simulate", "--url", b.url, "--from", "oRetry", "text", "single")
	st := waitOutbox(t, b.admin, "the dead letter", func(st outboxState) bool { return len(st.DeadLetters) == 1 && st.Pending == 0 })
	id := st.DeadLetters[0].Send.ID
	if !strings.Contains(st.DeadLetters[0].Reason, "45015") {
		t.Errorf("reason %q", st.DeadLetters[0].Reason)
	}
	out, errOut, code := wxbot(t, nil, "outbox", "list", "--admin", b.admin)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "45015") || !strings.Contains(out, "DEAD LETTERS: 1") {
		t.Errorf("outbox list: %d\n%s\n%s", code, out, errOut)
	}

	// 45015 closed the user's window: they write again.
	wxbot(t, env, "simulate", "--url", b.url, "--from", "oRetry", "text", "hello")
	out, errOut, code = wxbot(t, []string{"WXBOT_ADMIN_LISTEN=" + strings.TrimPrefix(b.admin, "http://")}, "outbox", "retry", id)
	if code != 0 || !strings.Contains(out, "retried "+id) {
		t.Fatalf("outbox retry: %d\n%s\n%s", code, out, errOut)
	}
	if got := waitDelivered(t, b, fake, 1); strings.Join(got, ",") != "only" {
		t.Errorf("delivered %q, want the retried send once", got)
	}
	_, errOut, code = wxbot(t, nil, "outbox", "retry", id, "--admin", b.admin)
	if code != 1 || !strings.Contains(errOut, "no dead letter") {
		t.Errorf("a second retry: %d %s", code, errOut)
	}
	if st := getOutbox(t, b.admin); len(st.DeadLetters) != 0 || st.Pending != 0 {
		t.Errorf("outbox after the retry: %+v", st)
	}
	if got := kefuTexts(fake); len(got) != 1 {
		t.Errorf("delivered %q after a second retry", got)
	}
}

// TestOutboxDropPending: `wxbot outbox drop ID` removes a pending send;
// the user's other sends go out, in order, when the API answers again.
func TestOutboxDropPending(t *testing.T) {
	fake := wechattest.New("wxoutbox000000002", "outbox-secret")
	defer fake.Close()
	fake.FailUntilCleared("/cgi-bin/message/custom/send", -1)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rulesPath, []byte(outboxRules), 0o644)
	env := outboxEnv("wxoutbox000000002", fake)
	b := startBot(t, env, "--rules", rulesPath)
	wxbot(t, env, "simulate", "--url", b.url, "--from", "oDrop", "text", "order")
	st := waitOutbox(t, b.admin, "three pending sends, the first failing", func(st outboxState) bool {
		return len(st.PendingSends) == 3 && st.PendingSends[0].Attempts > 0
	})
	if s := st.PendingSends[0]; s.User != "oDrop" || s.Rule != "order" || s.LastError == "" {
		t.Errorf("pending send %+v, want its user, rule and last error", s)
	}
	second := st.PendingSends[1].ID
	out, errOut, code := wxbot(t, nil, "outbox", "drop", second, "--admin", b.admin, "--yes")
	if code != 0 || !strings.Contains(out, "dropped "+second) {
		t.Fatalf("outbox drop: %d\n%s\n%s", code, out, errOut)
	}
	out, _, _ = wxbot(t, nil, "outbox", "list", "--admin-listen", strings.TrimPrefix(b.admin, "http://"))
	if strings.Contains(out, second) || !strings.Contains(out, "PENDING: 2") {
		t.Errorf("outbox list after the drop:\n%s", out)
	}
	_, errOut, code = wxbot(t, nil, "outbox", "drop", second, "--admin", b.admin, "--yes")
	if code != 1 || !strings.Contains(errOut, "no pending send or dead letter") {
		t.Errorf("dropping it again: %d %s", code, errOut)
	}
	fake.ClearFailures()
	if got := waitDelivered(t, b, fake, 2); strings.Join(got, ",") != "one,three" {
		t.Errorf("delivered %q, want one, three", got)
	}
}

// TestOutboxCommandErrors: without a bot, the command says what to check.
func TestOutboxCommandErrors(t *testing.T) {
	_, errOut, code := wxbot(t, nil, "outbox", "list", "--admin", "http://"+freeAddr(t))
	if code != 1 || !strings.Contains(errOut, "is `wxbot serve` running") || !strings.Contains(errOut, "--admin-listen") {
		t.Errorf("no bot: %d %s", code, errOut)
	}
	_, errOut, code = wxbot(t, nil, "outbox", "resend")
	if code != 2 || !strings.Contains(errOut, "want list, retry ID, retry --dead or drop ID") {
		t.Errorf("bad usage: %d %s", code, errOut)
	}
}

// TestOutboxRetryTwoReplicasOnRedis: two replicas on one Redis both get
// the retry of the same dead letter (an operator's loop over replicas, a
// load balancer's retry): it is enqueued once and delivered once; retry
// --dead retries the rest.
func TestOutboxRetryTwoReplicasOnRedis(t *testing.T) {
	rc := needRedis(t)
	defer rc.Close()
	prefix := redisPrefix(t, rc, "e2e-outbox")
	fake := wechattest.New("wxoutbox000000003", "outbox-secret")
	defer fake.Close()
	fake.FailNext("/cgi-bin/message/custom/send", 45015)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rulesPath, []byte(outboxRules), 0o644)
	env := outboxEnv("wxoutbox000000003", fake)
	storeURL := func(consumer string) string {
		return "redis://127.0.0.1:6379/0?claim_idle=2s&prefix=" + prefix + "&consumer=" + consumer
	}
	a := startBot(t, env, "--rules", rulesPath, "--store", storeURL("a"))
	b := startBot(t, env, "--rules", rulesPath, "--store", storeURL("b"))
	wxbot(t, env, "simulate", "--url", a.url, "--from", "oTwo", "text", "single")
	st := waitOutbox(t, b.admin, "the dead letter, seen by both replicas", func(st outboxState) bool { return len(st.DeadLetters) == 1 && st.Pending == 0 })
	id := st.DeadLetters[0].Send.ID
	wxbot(t, env, "simulate", "--url", b.url, "--from", "oTwo", "text", "hello") // the window again

	type result struct {
		out, errOut string
		code        int
		err         error
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i, admin := range []string{a.admin, b.admin} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			r.out, r.errOut, r.code, r.err = runWxbot(wxbotBinary(t), nil, "outbox", "retry", id, "--admin", admin)
		}()
	}
	wg.Wait()
	won := 0
	for _, r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		switch {
		case r.code == 0 && strings.Contains(r.out, "retried "+id):
			won++
		case r.code == 1 && strings.Contains(r.errOut, "no dead letter"):
		default:
			t.Errorf("outbox retry: %d\n%s\n%s", r.code, r.out, r.errOut)
		}
	}
	if won != 1 {
		t.Errorf("%d replicas enqueued the dead letter again, want 1: %+v", won, results)
	}
	if got := waitDelivered(t, b, fake, 1); strings.Join(got, ",") != "only" {
		t.Errorf("delivered %q, want the retried send once", got)
	}
	out, errOut, code := wxbot(t, nil, "outbox", "retry", "--dead", "--admin", a.admin)
	if code != 0 || !strings.Contains(out, "retried 0 dead letter(s)") {
		t.Errorf("retry --dead with none left: %d\n%s\n%s", code, out, errOut)
	}
}

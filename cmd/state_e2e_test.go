package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// push sends one simulated push to b from user and returns what simulate
// printed (the reply).
func push(t *testing.T, b *botProc, env []string, from string, kind ...string) string {
	t.Helper()
	out, errOut, code := wxbot(t, env, append([]string{"simulate", "--url", b.url, "--from", from}, kind...)...)
	if code != 0 {
		t.Fatalf("simulate %v from %s: exit %d\n%s%s", kind, from, code, out, errOut)
	}
	return out
}

// userState is GET /state/OPENID: the status and the state.
func userState(t *testing.T, b *botProc, openID string) (int, map[string]any) {
	t.Helper()
	resp, err := e2eHTTP.Get(b.admin + "/state/" + openID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ State map[string]any }
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("GET /state/%s: %v: %s", openID, err, raw)
	}
	return resp.StatusCode, body.State
}

func wantReply(t *testing.T, step, out, want string) {
	t.Helper()
	if !strings.Contains(out, want) {
		t.Fatalf("%s: reply lacks %q:\n%s", step, want, out)
	}
}

// walkBooking walks examples/booking's dialog, each step on the next bot of
// bots in turn (one bot restarted, or replicas).
func walkBooking(t *testing.T, env []string, user string, bots func(step int) *botProc) {
	t.Helper()
	wantReply(t, "click BOOK", push(t, bots(0), env, user, "click", "BOOK"), "请输入手机号")
	wantReply(t, "the phone", push(t, bots(1), env, user, "text", "13800001234"), "好的, 尾号 1234: 回复 1 今天, 2 明天")
	wantReply(t, "the day", push(t, bots(2), env, user, "text", "2"), "已为尾号 1234 预约明天, 这是您的第 1 次预约")
	code, st := userState(t, bots(2), user)
	if code != 200 || st["step"] != "done" || st["phone"] != "13800001234" || st["day"] != "明天" || st["bookings"] != 1.0 {
		t.Fatalf("GET /state/%s after the dialog: %d %v", user, code, st)
	}
}

// TestDialogOnBoltAcrossRestart: a three-step dialog over HTTP whose bot
// restarts between the first and the second step; then the admin
// endpoints, the metrics, and an unsubscribe that deletes the state.
func TestDialogOnBoltAcrossRestart(t *testing.T) {
	rulesPath, _ := filepath.Abs("../examples/booking/rules.yaml")
	env := []string{"WXBOT_TOKEN=" + e2eToken}
	storeArg := "bolt:" + filepath.Join(t.TempDir(), "wxbot.db")
	first := startBot(t, env, "--rules", rulesPath, "--store", storeArg)
	var second *botProc
	walkBooking(t, env, "oAlice", func(step int) *botProc {
		if step == 0 {
			return first
		}
		if second == nil {
			first.cmd.Process.Signal(os.Interrupt)
			first.waitExit(t)
			second = startBot(t, env, "--rules", rulesPath, "--store", storeArg)
		}
		return second
	})
	b := second
	if v := scrape(t, b, `wxbot_state_writes_total{result="written"}`); v != 2 {
		t.Errorf(`wxbot_state_writes_total{result="written"} = %v after two writes, want 2`, v)
	}
	if v := scrape(t, b, "wxbot_state_users"); v != 1 {
		t.Errorf("wxbot_state_users = %v, want 1", v)
	}

	req, _ := http.NewRequest(http.MethodDelete, b.admin+"/state/oAlice", nil)
	resp, err := e2eHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, st := userState(t, b, "oAlice"); resp.StatusCode != 200 || code != 404 || len(st) != 0 {
		t.Errorf("DELETE /state/oAlice: %d, then GET: %d %v; want 200, then 404 and no state", resp.StatusCode, code, st)
	}
	// A step after the reset starts nowhere: no rule answers "1".
	wantReply(t, "after DELETE", push(t, b, env, "oAlice", "text", "1"), "success")

	// Unsubscribing deletes the state.
	push(t, b, env, "oBob", "click", "BOOK")
	if code, _ := userState(t, b, "oBob"); code != 200 {
		t.Fatalf("oBob has no state after BOOK: %d", code)
	}
	push(t, b, env, "oBob", "unsubscribe")
	if code, st := userState(t, b, "oBob"); code != 404 {
		t.Errorf("after unsubscribe: GET /state/oBob = %d %v, want 404", code, st)
	}
	if v := scrape(t, b, `wxbot_state_writes_total{result="deleted"}`); v != 1 {
		t.Errorf(`wxbot_state_writes_total{result="deleted"} = %v, want 1`, v)
	}
}

// patchRules: each of k0…k7 stores itself under its own key.
func patchRules(n int) string {
	var b strings.Builder
	b.WriteString("version: 1\nrules:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: k%d, on: text, text: {exact: [k%d]}, actions: [{state: {set: {k%d: \"${event.content}\"}}}, {reply: {text: ok%d}}]}\n", i, i, i, i)
	}
	return b.String()
}

// TestDialogAcrossRedisReplicas: a dialog started on one replica goes on
// on another; pushes of one user on two replicas at once keep each
// other's keys.
func TestDialogAcrossRedisReplicas(t *testing.T) {
	rc := needRedis(t)
	defer rc.Close()
	prefix := redisPrefix(t, rc, "state")
	dir := t.TempDir()
	example, err := os.ReadFile("../examples/booking/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "booking.yaml"), example, 0o644)
	const keys = 8
	os.WriteFile(filepath.Join(dir, "keys.yaml"), []byte(patchRules(keys)), 0o644)
	env := []string{"WXBOT_TOKEN=" + e2eToken}
	storeURL := "redis://127.0.0.1:6379/0?prefix=" + prefix
	a := startBot(t, env, "--rules", dir, "--store", storeURL+"&consumer=a")
	b := startBot(t, env, "--rules", dir, "--store", storeURL+"&consumer=b")
	walkBooking(t, env, "oCarol", func(step int) *botProc { return []*botProc{a, b, a}[step] })

	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			target := []*botProc{a, b}[i%2]
			out, _, code, err := runWxbot(wxbotBinary(t), env, "simulate", "--url", target.url, "--from", "oDave", "text", fmt.Sprintf("k%d", i))
			if err != nil || code != 0 || !strings.Contains(out, fmt.Sprintf("ok%d", i)) {
				t.Errorf("push k%d: %v exit %d\n%s", i, err, code, out)
			}
		})
	}
	wg.Wait()
	code, st := userState(t, b, "oDave")
	if code != 200 || len(st) != keys {
		t.Errorf("after %d concurrent pushes on two replicas: %d keys (%v), want %d", keys, len(st), st, keys)
	}
}

// TestStateExpiresEndToEnd: a state with ttl 2s is there before 2 s and
// gone after, on bbolt and on Redis.
func TestStateExpiresEndToEnd(t *testing.T) {
	const rules = `version: 1
rules:
  - name: wait
    on: click
    key: WAIT
    actions:
      - state: {set: {step: waiting}, ttl: 2s}
      - reply: {text: waiting}
  - name: still
    on: text
    when: user.step == "waiting"
    actions:
      - reply: {text: "still here"}
`
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesPath, []byte(rules), 0o644)
	env := []string{"WXBOT_TOKEN=" + e2eToken}
	stores := map[string]func(t *testing.T) string{
		"bolt": func(t *testing.T) string { return "bolt:" + filepath.Join(t.TempDir(), "wxbot.db") },
		"redis": func(t *testing.T) string {
			rc := needRedis(t)
			t.Cleanup(func() { rc.Close() })
			return "redis://127.0.0.1:6379/0?prefix=" + redisPrefix(t, rc, "ttl")
		},
	}
	for name, storeArg := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := startBot(t, env, "--rules", rulesPath, "--store", storeArg(t))
			wantReply(t, "click", push(t, b, env, "oEve", "click", "WAIT"), "waiting")
			set := time.Now()
			wantReply(t, "within the ttl", push(t, b, env, "oEve", "text", "hi"), "still here")
			time.Sleep(time.Until(set.Add(2100 * time.Millisecond)))
			if code, st := userState(t, b, "oEve"); code != 404 {
				t.Errorf("2.1 s after a 2 s ttl: GET /state = %d %v, want 404", code, st)
			}
			wantReply(t, "past the ttl", push(t, b, env, "oEve", "text", "hi"), "success")
		})
	}
}

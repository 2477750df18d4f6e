package cmd

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

const kefuRules = `version: 1
rules:
  - name: order
    on: text
    text: order
    actions:
      - kefu: {text: "one"}
      - kefu: {text: "two"}
      - kefu: {text: "three ${event.from}"}
`

// TestKefuSendsSurviveKill9: sends accepted while the API fails survive a
// kill -9 and are delivered exactly once, in order, after the restart.
func TestKefuSendsSurviveKill9(t *testing.T) {
	fake := wechattest.New("wxkefu00000000001", "kefu-secret")
	defer fake.Close()
	fake.FailUntilCleared("/cgi-bin/message/custom/send", -1)

	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesPath, []byte(kefuRules), 0o644)
	storePath := "bolt:" + filepath.Join(dir, "wxbot.db")
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=wxkefu00000000001", "WXBOT_SECRET=kefu-secret",
		"WXBOT_API_BASE=" + fake.URL}
	b := startBot(t, env, "--rules", rulesPath, "--store", storePath)
	out, errOut, code := wxbot(t, env, "simulate", "--url", b.url, "--from", "oCrash", "text", "order")
	if code != 0 || !strings.Contains(out, "no reply") {
		t.Fatalf("simulate: %d %s %s", code, out, errOut)
	}
	// The first send is being retried against the failing API.
	deadline := time.Now().Add(15 * time.Second)
	for len(fake.Calls("/cgi-bin/message/custom/send")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no send attempted:\n%s", b.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.cmd.Process.Kill(); err != nil { // kill -9: no shutdown, no flush
		t.Fatal(err)
	}
	b.waitExit(t)
	if n := len(fake.Delivered("/cgi-bin/message/custom/send")); n != 0 {
		t.Fatalf("%d sends delivered while the API failed", n)
	}

	fake.ClearFailures()
	b2 := startBot(t, env, "--rules", rulesPath, "--store", storePath)
	deadline = time.Now().Add(30 * time.Second)
	for len(fake.Delivered("/cgi-bin/message/custom/send")) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("after the restart only %d of 3 sends arrived:\n%s", len(fake.Delivered("/cgi-bin/message/custom/send")), b2.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitIdle(t, b2)
	var got []string
	for _, c := range fake.Delivered("/cgi-bin/message/custom/send") {
		var m struct {
			ToUser string `json:"touser"`
			Text   struct{ Content string }
		}
		json.Unmarshal(c.Body, &m)
		if m.ToUser != "oCrash" {
			t.Errorf("sent to %q", m.ToUser)
		}
		got = append(got, m.Text.Content)
	}
	if strings.Join(got, ",") != "one,two,three oCrash" {
		t.Errorf("delivered %q, want one, two, three exactly once and in order", got)
	}
}

// TestShutdownKeepsPendingSends: SIGTERM while the API is down keeps the
// pending sends, and the next start delivers them.
func TestShutdownKeepsPendingSends(t *testing.T) {
	fake := wechattest.New("wxkefu00000000002", "kefu-secret")
	defer fake.Close()
	fake.Down(1000) // HTTP 503: retryable
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesPath, []byte(kefuRules), 0o644)
	storePath := "bolt:" + filepath.Join(dir, "wxbot.db")
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=wxkefu00000000002", "WXBOT_SECRET=kefu-secret",
		"WXBOT_API_BASE=" + fake.URL}
	b := startBot(t, env, "--rules", rulesPath, "--store", storePath)
	wxbot(t, env, "simulate", "--url", b.url, "--from", "oTerm", "text", "order")
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	b.waitExit(t)
	if !strings.Contains(b.stderr.String(), `"msg":"outbox sends kept for the next start","pending":3`) {
		t.Errorf("shutdown did not report the 3 kept sends:\n%s", b.stderr.String())
	}
	fake.Down(0)
	startBot(t, env, "--rules", rulesPath, "--store", storePath)
	deadline := time.Now().Add(30 * time.Second)
	for len(fake.Delivered("/cgi-bin/message/custom/send")) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the kept sends were not delivered after the restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDeadLettersShown: a send refused for good (45015) is listed by GET
// /outbox with its reason; it closes the user's window, so the user's next
// sends never reach the API. A send to a user whose window the bot never
// saw (after a view, which opens none) is no certain refusal: it is
// attempted, and WeChat decides (the fake accepts it).
func TestDeadLettersShown(t *testing.T) {
	fake := wechattest.New("wxkefu00000000003", "kefu-secret")
	defer fake.Close()
	fake.FailNext("/cgi-bin/message/custom/send", 45015)
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesPath, []byte(kefuRules+`  - name: view
    on: view
    actions:
      - kefu: {text: "never sent"}
`), 0o644)
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=wxkefu00000000003", "WXBOT_SECRET=kefu-secret",
		"WXBOT_API_BASE=" + fake.URL}
	b := startBot(t, env, "--rules", rulesPath)
	wxbot(t, env, "simulate", "--url", b.url, "--from", "oDead", "text", "order")
	wxbot(t, env, "simulate", "--url", b.url, "--from", "oView", "view", "https://example.com")
	var got struct {
		Pending     int `json:"pending"`
		DeadLetters []struct {
			Reason string `json:"reason"`
			Send   struct {
				OpenID string `json:"openid"`
			} `json:"send"`
		} `json:"dead_letters"`
	}
	eventually(t, b, "3 dead letters and the view's send attempted", func() bool {
		resp, err := e2eHTTP.Get(b.admin + "/outbox")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		return len(got.DeadLetters) == 3 && got.Pending == 0 && len(fake.Delivered("/cgi-bin/message/custom/send")) == 1
	})
	var reasons []string
	for _, d := range got.DeadLetters {
		why := "window"
		if strings.Contains(d.Reason, "errcode 45015") {
			why = "45015"
		}
		reasons = append(reasons, d.Send.OpenID+":"+why)
	}
	slices.Sort(reasons)
	if want := "[oDead:45015 oDead:window oDead:window]"; fmt.Sprint(reasons) != want {
		t.Errorf("dead letters %v, want %s", reasons, want)
	}
	if calls := fake.Calls("/cgi-bin/message/custom/send"); len(calls) != 2 {
		t.Errorf("%d API calls, want 2 (the one answered 45015, and oView's)", len(calls))
	}
}

// TestKefuWindowsWeChatDecides: a user who sends 12 messages while their
// answers wait gets 12 answers. Whether WeChat stacks window openings is
// undocumented, so the bot attempts every send whose window's time runs
// (it used to refuse 6 of them as "window closed").
func TestKefuWindowsWeChatDecides(t *testing.T) {
	fake := wechattest.New("wxkefu00000000004", "kefu-secret")
	defer fake.Close()
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rulesPath, []byte(`version: 1
rules:
  - name: later
    on: text
    actions:
      - kefu: {text: "answer to ${event.content}", delay: 2s}
`), 0o644)
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=wxkefu00000000004", "WXBOT_SECRET=kefu-secret",
		"WXBOT_API_BASE=" + fake.URL}
	b := startBot(t, env, "--rules", rulesPath)
	for i := 1; i <= 12; i++ {
		if _, errOut, code := wxbot(t, env, "simulate", "--url", b.url, "--from", "oBusy", "text", fmt.Sprint("q", i)); code != 0 {
			t.Fatalf("simulate: %s", errOut)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(fake.Delivered("/cgi-bin/message/custom/send")) < 12 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 12 answers delivered:\n%s", len(fake.Delivered("/cgi-bin/message/custom/send")), b.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(b.stderr.String(), "dead-lettered") {
		t.Errorf("a send was dead-lettered:\n%s", b.stderr.String())
	}
}

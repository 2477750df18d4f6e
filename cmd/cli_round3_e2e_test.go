package cmd

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxbot/wxbot/cmd/admin"
	"github.com/wxbot/wxbot/engine/outbox"
)

// The operators' command line, round 3, through the built binary.

// TestTopLevelCommandLine: --version works, unknown commands list the
// operators' commands only, and the command table is one summary a command.
func TestTopLevelCommandLine(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		want, deny string
	}{
		{[]string{"--version"}, 0, "wxbot ", ""},
		{[]string{"-version"}, 0, "commit ", ""},
		{[]string{"nope"}, 2, `unknown command "nope"`, "bench-baseline"},
		{[]string{"--verbose"}, 2, "flags go after the command", "unknown command"},
		{[]string{"-h"}, 0, "  init ", "KIND:"},
		{[]string{"help", "state"}, 0, "Usage: wxbot state", ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, code := wxbot(t, nil, tt.args...)
			if code != tt.code || !strings.Contains(out+errOut, tt.want) || (tt.deny != "" && strings.Contains(out+errOut, tt.deny)) {
				t.Errorf("exit %d (want %d), want %q and no %q:\n%s%s", code, tt.code, tt.want, tt.deny, out, errOut)
			}
		})
	}
}

// TestInitWritesRulesCheckPasses: wxbot init DIR writes rules with tests
// and a menu that check and menu push --strict pass, and never overwrites.
func TestInitWritesRulesCheckPasses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bot")
	out, errOut, code := wxbot(t, nil, "init", dir)
	if code != 0 || !strings.Contains(out, "wxbot check "+dir) {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = wxbot(t, nil, "check", dir)
	if code != 0 || !strings.Contains(out, "0 errors, 0 warnings") || !strings.Contains(out, "5 of 5 tests passed") {
		t.Errorf("check: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = wxbot(t, nil, "menu", "push", filepath.Join(dir, "menu.yaml"), "--rules", dir, "--dry-run", "--strict")
	if code != 0 {
		t.Errorf("menu push --dry-run --strict: exit %d\n%s%s", code, out, errOut)
	}
	schema, _, _ := wxbot(t, nil, "schema")
	if b, _ := os.ReadFile(filepath.Join(dir, "rules.schema.json")); string(b) != schema {
		t.Error("rules.schema.json is not what wxbot schema prints")
	}
	_, errOut, code = wxbot(t, nil, "init", dir)
	if code != 1 || !strings.Contains(errOut, "--force") {
		t.Errorf("init over existing files: exit %d %s", code, errOut)
	}
	if _, _, code = wxbot(t, nil, "init", dir, "--force"); code != 0 {
		t.Errorf("init --force: exit %d", code)
	}
}

// TestDestructiveCommandsNeedYes: without a terminal, menu delete, kf
// delete, outbox drop and state delete exit 2 naming --yes, and call
// nothing.
func TestDestructiveCommandsNeedYes(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "no call was expected", http.StatusTeapot)
	}))
	defer srv.Close()
	api := []string{"WXBOT_APPID=wx49f0ab532d5d035a", "WXBOT_SECRET=s", "WXBOT_API_BASE=" + srv.URL, "WXBOT_ADMIN_LISTEN=" + srv.URL}
	for _, args := range [][]string{
		{"menu", "delete"},
		{"kf", "delete", "test1@kftest"},
		{"outbox", "drop", "some-id"},
		{"state", "delete", "oAlice"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, errOut, code := wxbot(t, api, args...)
			if code != 2 || !strings.Contains(errOut, "--yes") || out != "" {
				t.Errorf("exit %d (want 2), want --yes named:\n%s%s", code, out, errOut)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d calls made without --yes", n)
	}
}

// TestStateCommand: state get and delete against a running bot, as an
// operator resets a user stuck in a dialog.
func TestStateCommand(t *testing.T) {
	booking, _ := filepath.Abs("../examples/booking/rules.yaml")
	env := []string{"WXBOT_TOKEN=" + e2eToken}
	b := startBot(t, env, "--rules", booking)
	if out, errOut, code := wxbot(t, env, "simulate", "--url", b.url, "--from", "oAlice", "click", "BOOK"); code != 0 {
		t.Fatalf("simulate: exit %d\n%s%s", code, out, errOut)
	}
	admin := []string{"--admin", b.admin}
	out, errOut, code := wxbot(t, nil, append([]string{"state", "get", "oAlice"}, admin...)...)
	var state map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &state) != nil || state["step"] == nil {
		t.Fatalf("state get: exit %d\n%s%s", code, out, errOut)
	}
	if _, _, code = wxbot(t, nil, append([]string{"state", "delete", "oAlice"}, admin...)...); code != 2 {
		t.Errorf("state delete without --yes: exit %d", code)
	}
	if _, _, code = wxbot(t, nil, append([]string{"state", "get", "oAlice"}, admin...)...); code != 0 {
		t.Errorf("the state went without --yes: exit %d", code)
	}
	out, _, code = wxbot(t, nil, append([]string{"state", "delete", "oAlice", "--yes"}, admin...)...)
	if code != 0 || out != "deleted the state of oAlice\n" {
		t.Errorf("state delete --yes: exit %d %q", code, out)
	}
	_, errOut, code = wxbot(t, nil, append([]string{"state", "get", "oAlice"}, admin...)...)
	if code != 1 || !strings.Contains(errOut, "oAlice: no state") {
		t.Errorf("state get after delete: exit %d %s", code, errOut)
	}
}

// TestOutboxListWholeReasonsZonesAndJSON: reasons are not cut off, times
// are in --timezone with the zone, and --json prints the report.
func TestOutboxListWholeReasonsZonesAndJSON(t *testing.T) {
	at := time.Date(2026, 3, 1, 1, 30, 0, 0, time.UTC)
	reason := "45015: " + strings.Repeat("the user has not written for 48 hours ", 4) + "END"
	rep := admin.OutboxReport{Pending: 0, PendingSends: []admin.PendingSend{},
		DeadLetters: []outbox.DeadLetter{{Send: &outbox.Send{ID: "s1", OrderKey: "oA", Rule: "r", Attempts: 3, Created: at}, Reason: reason, At: at}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(rep)
	}))
	defer srv.Close()
	tests := []struct {
		args []string
		want []string
	}{
		{nil, []string{"2026-03-01 09:30:00 CST", "END"}},
		{[]string{"--timezone", "UTC"}, []string{"2026-03-01 01:30:00 UTC", "END"}},
		{[]string{"--json"}, []string{`"at": "2026-03-01T09:30:00+08:00"`, `"reason": "` + reason + `"`}},
	}
	for _, tt := range tests {
		out, errOut, code := wxbot(t, nil, append([]string{"outbox", "list", "--admin", srv.URL}, tt.args...)...)
		for _, w := range tt.want {
			if code != 0 || !strings.Contains(out, w) {
				t.Errorf("outbox list %v: exit %d, want %q:\n%s%s", tt.args, code, w, out, errOut)
			}
		}
	}
}

// slowBot stands for a bot that does not answer the first attempts of a
// push within WeChat's wait: it holds them until the sender gives up, and
// answers the third at once.
// Which attempt a request is comes from simulate's own header, not from
// the order the requests reach the handler in: on a busy machine an
// abandoned attempt may be handled after the next one.
type slowBot struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []string
	nonces   []string
	seen     chan struct{} // a request recorded
	answerAt int           // the attempt answered; 0: none
}

func newSlowBot(t *testing.T, answerAt int) *slowBot {
	b := &slowBot{answerAt: answerAt, seen: make(chan struct{}, 16)}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := make([]byte, 4096)
		n, _ := r.Body.Read(body)
		b.mu.Lock()
		b.bodies = append(b.bodies, string(body[:n]))
		b.nonces = append(b.nonces, r.URL.Query().Get("nonce"))
		attempt := len(b.bodies)
		if h := r.Header.Get(simulateAttemptHeader); h != "" {
			attempt, _ = strconv.Atoi(h)
		}
		b.mu.Unlock()
		b.seen <- struct{}{}
		if attempt != b.answerAt {
			<-r.Context().Done() // the sender gave up on this attempt
			return
		}
		w.Write([]byte("success"))
	}))
	t.Cleanup(b.Close)
	return b
}

// TestSimulateRetries: --retries plays WeChat's three attempts with the
// same MsgId, printing each attempt's time; a slow bot is called slow, not
// absent. The retry interval is shortened (hidden --retry-interval): the
// held attempts end when simulate gives up on them, whatever the speed of
// the machine.
func TestSimulateRetries(t *testing.T) {
	env := []string{"WXBOT_TOKEN=" + e2eToken}
	b := newSlowBot(t, 3)
	out, errOut, code := wxbot(t, env, "simulate", "--url", b.URL+"/wechat", "--retries", "--retry-interval", "50ms", "text", "你好")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, re := range []string{
		`(?m)^attempt 1 at 0s: no answer within 50ms; WeChat sends the push again$`,
		`(?m)^attempt 2 at [0-9.]+m?s: no answer within 50ms; WeChat sends the push again$`,
		`(?m)^attempt 3 at [0-9.]+m?s: answered in [0-9.]+[µm]?s`,
		`no reply`,
	} {
		if !regexp.MustCompile(re).MatchString(errOut + out) {
			t.Errorf("want %s in:\n%s%s", re, errOut, out)
		}
	}
	for range 3 { // an abandoned attempt may be recorded after the answer
		<-b.seen
	}
	b.mu.Lock()
	if len(b.bodies) != 3 || b.bodies[0] != b.bodies[1] || b.bodies[1] != b.bodies[2] || !strings.Contains(b.bodies[0], "<MsgId>") {
		t.Errorf("want the same push three times, got %q", b.bodies)
	}
	if b.nonces[0] == b.nonces[1] || b.nonces[1] == b.nonces[2] {
		t.Errorf("each attempt is signed anew: nonces %q", b.nonces)
	}
	b.mu.Unlock()

	never := newSlowBot(t, 0)
	_, errOut, code = wxbot(t, env, "simulate", "--url", never.URL+"/wechat", "--timeout", "50ms", "text", "你好")
	if code != 1 || !strings.Contains(errOut, "did not answer in time") || strings.Contains(errOut, "running") {
		t.Errorf("a slow bot: exit %d %s", code, errOut)
	}
	_, errOut, code = wxbot(t, env, "simulate", "--url", "http://"+freeAddr(t)+"/wechat", "text", "你好")
	if code != 1 || !strings.Contains(errOut, "is `wxbot serve` running") {
		t.Errorf("no bot: exit %d %s", code, errOut)
	}
}

// TestSimulatePrintsElapsedAndPayPath: one push prints how long the bot
// took; simulate pay at the callback path blames the path, not the key.
func TestSimulatePrintsElapsedAndPayPath(t *testing.T) {
	dir := t.TempDir()
	if _, _, code := wxbot(t, nil, "init", dir); code != 0 {
		t.Fatal("init failed")
	}
	keyPEM, certPEM, _, _ := payFiles(t)
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_PAY_APIV3_KEY=" + e2ePayKey, "WXBOT_PAY_PLATFORM_CERT=" + certPEM}
	b := startBot(t, env, "--rules", dir)
	out, errOut, code := wxbot(t, env, "simulate", "--url", b.url, "text", "1")
	if code != 0 || !regexp.MustCompile(`(?m)^answered in [0-9.]+[µm]?s$`).MatchString(errOut) || !strings.Contains(out, "400-000-0000") {
		t.Errorf("simulate: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = wxbot(t, env, "simulate", "--url", b.url, "--retries", "text", "1")
	if code != 0 || !regexp.MustCompile(`(?m)^attempt 1 at 0s: answered in `).MatchString(errOut) {
		t.Errorf("simulate --retries, answered at once: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = wxbot(t, env, "simulate", "pay", "--url", b.url, "--pay-private-key", keyPEM, "100")
	if code != 1 || !strings.Contains(errOut, "/wechatpay/notify") || strings.Contains(errOut, "signature not verified") {
		t.Errorf("simulate pay at /wechat: exit %d %s", code, errOut)
	}
}

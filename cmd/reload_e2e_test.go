package cmd

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func rulesSaying(text string) string {
	return fmt.Sprintf("version: 1\nrules:\n  - name: hi\n    on: text\n    text: hi\n    actions:\n      - reply: {text: %q}\n", text)
}

// rulesStatus fetches GET /rules.
func rulesStatus(t *testing.T, b *botProc) map[string]any {
	t.Helper()
	resp, err := e2eHTTP.Get(b.admin + "/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestServeReloads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	os.WriteFile(path, []byte(rulesSaying("one")), 0o644)
	env := []string{"WXBOT_TOKEN=" + e2eToken}
	b := startBot(t, env, "--rules", path)
	say := func() string {
		out, errOut, code := wxbot(t, env, "simulate", "--url", b.url, "text", "hi")
		if code != 0 {
			t.Fatalf("simulate: %s", errOut)
		}
		return out
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !strings.Contains(say(), "content: "+want) {
			if time.Now().After(deadline) {
				t.Fatalf("the bot never said %q", want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("one")

	// The watcher picks up an edit.
	os.WriteFile(path, []byte(rulesSaying("two")), 0o644)
	waitFor("two")

	// A broken edit is kept out and shown by GET /rules; POST /reload says so.
	os.WriteFile(path, []byte(strings.Replace(rulesSaying("three"), "on: text", "on: txt", 1)), 0o644)
	resp, err := e2eHTTP.Post(b.admin+"/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("POST /reload of a broken file: %d, want 422", resp.StatusCode)
	}
	st := rulesStatus(t, b)
	if msg, _ := st["last_error"].(string); !strings.Contains(msg, `on: unknown event type "txt"`) {
		t.Errorf("GET /rules last_error %q", msg)
	}
	if !strings.Contains(say(), "content: two") {
		t.Error("a broken edit replaced the running rules")
	}
	rl, _ := st["rules"].([]any)
	if len(rl) != 1 || rl[0].(map[string]any)["hits"].(float64) < 1 {
		t.Errorf("GET /rules rules %v, want one rule with hits", st["rules"])
	}

	// SIGHUP forces a reload even of unchanged rules: the count moves.
	os.WriteFile(path, []byte(rulesSaying("four")), 0o644)
	waitFor("four")
	before := rulesStatus(t, b)["reloads"].(float64)
	if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for rulesStatus(t, b)["reloads"].(float64) == before {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err = e2eHTTP.Post(b.admin+"/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("POST /reload of a good file: %d", resp.StatusCode)
	}
}

// rulesWithTest is a rule and a test of it: the test matches the rule, so
// if tests counted as traffic, hits would move without any push.
func rulesWithTest(text string) string {
	return rulesSaying(text) + "tests:\n  - name: says hi\n    event: {type: text, content: hi}\n    expect: {rules: [hi]}\n"
}

// TestServeStatusIsTrue: what /rules and /metrics say about reloads
// describes the traffic and the file on disk.
func TestServeStatusIsTrue(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	good := rulesWithTest("one")
	os.WriteFile(path, []byte(good), 0o644)
	env := []string{"WXBOT_TOKEN=" + e2eToken}
	b := startBot(t, env, "--rules", path)
	hits := func() float64 {
		rl, _ := rulesStatus(t, b)["rules"].([]any)
		return rl[0].(map[string]any)["hits"].(float64)
	}
	until := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s; GET /rules: %v", what, rulesStatus(t, b))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i := 0; i < 3; i++ {
		if _, errOut, code := wxbot(t, env, "simulate", "--url", b.url, "text", "hi"); code != 0 {
			t.Fatalf("simulate: %s", errOut)
		}
	}
	if h := hits(); h != 3 {
		t.Errorf("hits after 3 pushes: %v (the start-up tests must not count)", h)
	}

	// A reload keeps the count of a rule that keeps its name; its tests add
	// nothing.
	os.WriteFile(path, []byte(rulesWithTest("two")), 0o644)
	until("the edit is loaded", func() bool { return rulesStatus(t, b)["reloads"].(float64) == 1 })
	if h := hits(); h != 3 {
		t.Errorf("hits after a reload: %v, want the 3 real pushes", h)
	}
	if got := scrape(t, b, `wxbot_rules_reloads_total{result="success"}`); got != 1 {
		t.Errorf(`wxbot_rules_reloads_total{result="success"} = %v, GET /rules says 1`, got)
	}

	// A broken edit fails; putting the good file back clears the failure,
	// with no POST /reload.
	good = rulesWithTest("two")
	os.WriteFile(path, []byte(strings.Replace(good, "on: text", "on: txt", 1)), 0o644)
	until("the broken edit is refused", func() bool { return rulesStatus(t, b)["last_reload_ok"] == false })
	if got := scrape(t, b, "wxbot_rules_last_reload_successful"); got != 0 {
		t.Errorf("wxbot_rules_last_reload_successful = %v after a refused edit", got)
	}
	os.WriteFile(path+".tmp", []byte(good), 0o644)
	os.Rename(path+".tmp", path) // as mv or an editor's save would
	until("the failure clears", func() bool { return rulesStatus(t, b)["last_reload_ok"] == true })
	st := rulesStatus(t, b)
	if st["last_error"] != nil || st["reloads"].(float64) != 1 || st["reload_failures"].(float64) < 1 {
		t.Errorf("GET /rules after the good file is back: %v", st)
	}
	if got := scrape(t, b, "wxbot_rules_last_reload_successful"); got != 1 {
		t.Errorf("wxbot_rules_last_reload_successful = %v once the file is good again", got)
	}
	if !strings.Contains(b.stderr.String(), "the earlier reload failure is cleared") {
		t.Error("no log line says the failure cleared")
	}
}

// TestServeRefusesRulesWhoseTestsFail: start-up applies the reload's gate.
func TestServeRefusesRulesWhoseTestsFail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(path, []byte(rulesSaying("one")+"tests:\n  - name: wrong\n    event: {type: text, content: hi}\n    expect: {reply: {text: two}}\n"), 0o644)
	_, errOut, code := wxbot(t, []string{"WXBOT_TOKEN=" + e2eToken}, "serve", "--rules", path,
		"--listen", freeAddr(t), "--admin-listen", "", "--store", "bolt:"+filepath.Join(t.TempDir(), "w.db"))
	if code == 0 {
		t.Fatal("serve started on rules whose test fails")
	}
	if !strings.Contains(errOut, `rules.yaml:9:5: test "wrong" failed`) || !strings.Contains(errOut, "wxbot test") {
		t.Errorf("stderr does not name the failing test and its line:\n%s", errOut)
	}
}

// TestIdleBotWithManyRulesCostsLittle: the change poll compares bytes, and
// parses nothing while the rules do not change: 10,000 rules polled ten
// times a second cost a small fraction of a CPU (it was a CPU-second per
// poll).
func TestIdleBotWithManyRulesCostsLittle(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	var src strings.Builder
	src.WriteString("version: 1\nrules:\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&src, "  - name: r%d\n    on: text\n    text: {prefix: [\"kw%d\"]}\n    when: 'event.from != \"x%d\"'\n    actions:\n      - reply: {text: \"answer %d\"}\n", i, i, i, i)
	}
	path := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(path, []byte(src.String()), 0o644)
	b := startBot(t, []string{"WXBOT_TOKEN=" + e2eToken}, "--rules", path, "--rules-poll", "100ms")
	pid := b.cmd.Process.Pid
	time.Sleep(500 * time.Millisecond) // past the start-up
	cpu0, ok := processCPU(pid)
	if !ok {
		t.Skip("no CPU figures for the bot")
	}
	time.Sleep(2 * time.Second) // 20 polls
	cpu1, _ := processCPU(pid)
	if used := cpu1 - cpu0; used > 600*time.Millisecond {
		t.Errorf("the idle bot used %v of CPU in 2 s of polls (a parse per poll costs about a second)", used)
	}
}

// TestReloadOutlivesItsRequest: POST /reload of a fixed file succeeds even
// when the client gives up before it is done.
func TestReloadOutlivesItsRequest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(path, []byte(rulesSaying("one")), 0o644)
	b := startBot(t, []string{"WXBOT_TOKEN=" + e2eToken}, "--rules", path, "--rules-poll", "0")
	// A client that sends the request and hangs up at once.
	c, err := net.Dial("tcp", strings.TrimPrefix(b.admin, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "POST /reload HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n")
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := rulesStatus(t, b)
		if st["reloads"].(float64) >= 1 {
			if st["last_reload_ok"] != true {
				t.Errorf("the reload failed when its client gave up: %v", st)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reload happened: %v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package cmd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func rulesSaying(text string) string {
	return fmt.Sprintf("version: 1\nrules:\n  - name: hi\n    on: text\n    text: hi\n    actions:\n      - reply: {text: %q}\n", text)
}

// rulesStatus fetches GET /rules.
func rulesStatus(t *testing.T, b *bot) map[string]any {
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

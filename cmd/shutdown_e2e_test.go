package cmd

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMAnswersPushesInFlight: a push whose webhook is still being
// answered when SIGTERM comes is answered before the bot exits.
func TestSIGTERMAnswersPushesInFlight(t *testing.T) {
	entered := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		time.Sleep(800 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"reply": {"text": "answered after the signal"}}`))
	}))
	defer slow.Close()
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesPath, []byte(`version: 1
rules:
  - name: slow
    on: text
    actions:
      - webhook: {url: "`+slow.URL+`", body: "{}", timeout: 3s}
`), 0o644)
	env := []string{"WXBOT_TOKEN=" + e2eToken}
	b := startBot(t, env, "--rules", rulesPath)
	type result struct {
		out  string
		code int
		err  error
	}
	done := make(chan result, 1)
	bin := wxbotBinary(t)
	go func() {
		out, _, code, err := runWxbot(bin, env, "simulate", "--url", b.url, "text", "hi")
		done <- result{out, code, err}
	}()
	select {
	case <-entered: // the push is in flight
	case r := <-done:
		t.Fatalf("simulate ended before the webhook was called: exit %d, %v\n%s", r.code, r.err, r.out)
	case <-time.After(30 * time.Second):
		t.Fatal("the webhook was not called within 30s")
	}
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(70 * time.Second): // past runWxbot's own 60s timeout
		t.Fatal("simulate did not return")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.code != 0 || !strings.Contains(r.out, "content: answered after the signal") {
		t.Errorf("the push in flight at SIGTERM got exit %d:\n%s", r.code, r.out)
	}
	b.waitExit(t)
	if !strings.Contains(b.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", b.stderr.String())
	}
}

package cmd

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
	}
	done := make(chan result, 1)
	go func() {
		out, _, code := wxbot(t, env, "simulate", "--url", b.url, "text", "hi")
		done <- result{out, code}
	}()
	<-entered // the push is in flight
	b.cmd.Process.Signal(os.Interrupt)
	r := <-done
	if r.code != 0 || !strings.Contains(r.out, "content: answered after the signal") {
		t.Errorf("the push in flight at SIGTERM got exit %d:\n%s", r.code, r.out)
	}
	select {
	case <-b.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("the bot did not exit after SIGTERM")
	}
	if !strings.Contains(b.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", b.stderr.String())
	}
}

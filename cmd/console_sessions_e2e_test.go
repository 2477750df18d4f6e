package cmd

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleSessionSurvivesRestart: the console's sessions are kept in
// --store, so a marketer logged in before a restart is still logged in
// after it, with the same cookie and CSRF token.
func TestConsoleSessionSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	os.Mkdir(rulesDir, 0o755)
	ruleText, err := os.ReadFile("../examples/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(rulesDir, "rules.yaml"), ruleText, 0o644)
	users := filepath.Join(dir, "console-users")
	if _, errOut, code := adduser(t, "mia-password\n", "mia", "--console-users", users); code != 0 {
		t.Fatal(errOut)
	}
	consoleAddr := freeAddr(t)
	env := []string{"WXBOT_TOKEN=" + e2eToken}
	args := []string{"--rules", rulesDir, "--store", "bolt:" + filepath.Join(dir, "wxbot.db"),
		"--console-listen", consoleAddr, "--console-users", users, "--console-lang", "en"}

	first := startBot(t, env, args...)
	first.waitLog(t, "console listening")
	mia := consoleLogin(t, "http://"+consoleAddr, "mia", "mia-password")
	if err := first.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	first.waitExit(t)

	second := startBot(t, env, args...)
	second.waitLog(t, "console listening")
	if code, body := mia.do("GET", "/menu", nil); code != http.StatusOK || !strings.Contains(body, `class="user">mia<`) {
		t.Fatalf("the menu page after a restart, with the cookie of before: %d\n%s", code, body)
	}
	if code, body := mia.do("POST", "/try", url.Values{"text": {"价格"}}); code != http.StatusOK || !strings.Contains(body, "价目表") {
		t.Fatalf("a form after a restart, with the CSRF token of before: %d\n%s", code, body)
	}
}

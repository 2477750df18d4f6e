package cmd

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The console's Unanswered and Analytics pages read daily counters kept
// in --store: a restart keeps them (the bot adds its last counts as it
// stops), and replicas on one Redis add up.

const statsRules = `version: 1
rules:
  - name: price
    on: text
    text: {exact: ["价格"]}
    actions:
      - reply: {text: 见价目表}
  - name: sorry
    on: text
    actions:
      - reply: {text: 抱歉，没听懂}
`

// statsBot starts a bot with a console on store, in English.
func statsBot(t *testing.T, store string) (*botProc, *consoleClient) {
	t.Helper()
	_, rulesDir, users := consoleFiles(t, statsRules, "mia-password")
	addr := freeAddr(t)
	bot := startBot(t, []string{"WXBOT_TOKEN=" + e2eToken}, "--rules", rulesDir, "--store", store,
		"--console-listen", addr, "--console-users", users, "--console-lang", "en")
	bot.waitLog(t, "console listening")
	return bot, consoleLogin(t, "http://"+addr, "mia", "mia-password")
}

func sayTo(t *testing.T, bot *botProc, texts ...string) {
	t.Helper()
	for _, text := range texts {
		if out, errOut, code := wxbot(t, []string{"WXBOT_TOKEN=" + e2eToken}, "simulate", "--url", bot.url, "text", text); code != 0 {
			t.Fatalf("simulate text %s: %d %s %s", text, code, out, errOut)
		}
	}
}

func stopBot(t *testing.T, bot *botProc) {
	t.Helper()
	if err := bot.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	bot.waitExit(t)
}

// wantStats checks the Unanswered and Analytics pages.
func wantStats(t *testing.T, c *consoleClient, what string, unanswered, analytics []string) {
	t.Helper()
	for path, want := range map[string][]string{"/unanswered": unanswered, "/analytics": analytics} {
		code, body := c.do("GET", path, nil)
		if code != http.StatusOK {
			t.Fatalf("%s: GET %s: %d\n%s", what, path, code, body)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: no %q on %s:\n%s", what, w, path, body)
			}
		}
	}
}

func TestConsoleCountsSurviveRestart(t *testing.T) {
	store := "bolt:" + filepath.Join(t.TempDir(), "wxbot.db")
	first, _ := statsBot(t, store)
	sayTo(t, first, "发票", "价格", "发票")
	stopBot(t, first)

	second, mia := statsBot(t, store)
	sayTo(t, second, "发票")
	wantStats(t, mia, "after a restart",
		[]string{`<td class="said">发票</td><td class="num">3</td>`, "3 unanswered messages"},
		[]string{`id="push-total">4 in all`, "<title>price: 1</title>", "<title>sorry: 3</title>"})
}

func TestConsoleCountsAddUpOnRedis(t *testing.T) {
	rc := needRedis(t)
	defer rc.Close()
	store := "redis://127.0.0.1:6379/0?prefix=" + redisPrefix(t, rc, "stats")
	a, _ := statsBot(t, store+"&consumer=a")
	b, mia := statsBot(t, store+"&consumer=b")
	sayTo(t, a, "发票", "发票")
	sayTo(t, b, "发票", "营业时间")
	stopBot(t, a) // its counts reach Redis as it stops; b's are still its own
	wantStats(t, mia, "two replicas",
		[]string{`<td class="said">发票</td><td class="num">3</td>`, `<td class="said">营业时间</td><td class="num">1</td>`},
		[]string{`id="push-total">4 in all`, "<title>sorry: 4</title>"})
}

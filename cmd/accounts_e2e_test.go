package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store/redis/redistest"
)

const (
	shopAppID = "wx00000000000000a1"
	newsAppID = "wx00000000000000b2"
	blogAppID = "wx00000000000000c3"
)

// accountRules answers 你好 with the account's name, keeps a user's step,
// and tests itself.
func accountRules(name string) string {
	return fmt.Sprintf(`version: 1
rules:
  - name: hello
    on: text
    text: {exact: ["你好"]}
    actions:
      - state: {set: {seen: "%[1]s"}}
      - reply: {text: "这里是 %[1]s"}
tests:
  - name: hello
    event: {type: text, from: oT, content: "你好"}
    expect: {reply: {text: "这里是 %[1]s"}}
`, name)
}

// writeAccounts writes the accounts file (and each named account's rules
// file) into dir.
func writeAccounts(t *testing.T, dir string, accounts ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("accounts:\n")
	for _, a := range accounts {
		os.WriteFile(filepath.Join(dir, a+".yaml"), []byte(accountRules(a)), 0o644)
		switch a {
		case "shop":
			fmt.Fprintf(&b, "  - {name: shop, appid: %s, token_env: SHOP_TOKEN, rules: shop.yaml}\n", shopAppID)
		case "news":
			fmt.Fprintf(&b, "  - {name: news, appid: %s, gh_id: gh_0123456789ab, token_env: NEWS_TOKEN, aes_key_env: NEWS_AES_KEY, require_encryption: true, rules: news.yaml}\n", newsAppID)
		case "blog":
			fmt.Fprintf(&b, "  - {name: blog, appid: %s, token_file: blog.token, rules: blog.yaml}\n", blogAppID)
			os.WriteFile(filepath.Join(dir, "blog.token"), []byte("blog-token\n"), 0o600)
		}
	}
	path := filepath.Join(dir, "accounts.yaml")
	if err := os.WriteFile(path+".tmp", []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Rename(path+".tmp", path) // as an editor or a deploy replaces it
	return path
}

// accountsStatus is GET /accounts.
func accountsStatus(t *testing.T, b *botProc) (rep struct {
	LastReloadOK bool   `json:"last_reload_ok"`
	LastError    string `json:"last_error"`
	Accounts     []struct {
		Name  string `json:"name"`
		Path  string `json:"path"`
		Rules struct {
			Hash string `json:"hash"`
		} `json:"rules"`
	} `json:"accounts"`
}) {
	t.Helper()
	resp, err := e2eHTTP.Get(b.admin + "/accounts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func accountNames(t *testing.T, b *botProc) string {
	var names []string
	for _, a := range accountsStatus(t, b).Accounts {
		names = append(names, a.Name)
	}
	return strings.Join(names, ",")
}

// TestSeveralAccounts: one process serves two accounts (one in safe mode
// with a gh_id check) at their own paths, each with its own secrets, rules
// and state; a push signed for one is refused on the other's path; the
// accounts file is watched: an account added, one removed, a broken file
// that keeps the running ones.
func TestSeveralAccounts(t *testing.T) {
	dir := t.TempDir()
	path := writeAccounts(t, dir, "shop", "news")
	env := []string{"SHOP_TOKEN=shop-token", "NEWS_TOKEN=news-token", "NEWS_AES_KEY=" + e2eKey}
	b := startBot(t, env, "--accounts", path)
	base := strings.TrimSuffix(b.url, "/wechat")
	sim := func(account, token string, extra ...string) (string, string, int) {
		args := append([]string{"simulate", "--url", base + "/wechat/" + account, "--token", token}, extra...)
		return wxbot(t, nil, append(args, "text", "你好")...)
	}

	out, errOut, code := sim("shop", "shop-token")
	if code != 0 || !strings.Contains(out, "这里是 shop") {
		t.Errorf("shop: %d %s %s", code, out, errOut)
	}
	out, errOut, code = sim("news", "news-token", "--aes-key", e2eKey, "--appid", newsAppID, "--to", "gh_0123456789ab")
	if code != 0 || !strings.Contains(out, "这里是 news") {
		t.Errorf("news in safe mode: %d %s %s", code, out, errOut)
	}
	if _, errOut, code = sim("news", "shop-token", "--aes-key", e2eKey, "--appid", newsAppID, "--to", "gh_0123456789ab"); code == 0 || !strings.Contains(errOut, "401") {
		t.Errorf("a push signed with shop's token on news's path: %d %s", code, errOut)
	}
	if _, errOut, code = sim("news", "news-token", "--aes-key", e2eKey, "--appid", newsAppID, "--to", "gh_ffffffffffff"); code == 0 || !strings.Contains(errOut, "403") {
		t.Errorf("a push for another gh_id: %d %s", code, errOut)
	}
	if _, errOut, code = sim("news", "news-token"); code == 0 || !strings.Contains(errOut, "403") {
		t.Errorf("plaintext on news (require_encryption): %d %s", code, errOut)
	}
	if _, errOut, code = sim("nope", "shop-token"); code == 0 || !strings.Contains(errOut, "404") {
		t.Errorf("an unknown account: %d %s", code, errOut)
	}

	// --account NAME: simulate signs with the account's secrets (safe mode
	// and gh_id included) and sends to its path; outbox talks to its API.
	out, errOut, code = wxbot(t, env, "simulate", "--url", b.url, "--accounts", path, "--account", "news", "text", "你好")
	if code != 0 || !strings.Contains(out, "这里是 news") {
		t.Errorf("simulate --account news: %d %s %s", code, out, errOut)
	}
	out, errOut, code = wxbot(t, env, "outbox", "list", "--admin", b.admin, "--accounts", path, "--account", "shop")
	if code != 0 || !strings.Contains(out, "PENDING: 0") {
		t.Errorf("outbox list --account shop: %d %s %s", code, out, errOut)
	}
	if _, errOut, code = wxbot(t, env, "simulate", "--accounts", path, "--account", "nope", "text", "你好"); code != 2 || !strings.Contains(errOut, `no account "nope"`) {
		t.Errorf("simulate --account nope: %d %s", code, errOut)
	}

	// Each account's state is its own, under /accounts/NAME/ on the admin.
	for _, c := range []struct {
		path string
		code int
	}{{"/accounts/shop/state/oSimulatedUser000000000000000", 200}, {"/accounts/news/state/oSimulatedUser000000000000000", 200}, {"/accounts/shop/rules", 200}, {"/accounts/nope/rules", 404}} {
		resp, err := e2eHTTP.Get(b.admin + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("GET %s: %d %s, want %d", c.path, resp.StatusCode, body, c.code)
		}
		if c.code == 200 && strings.Contains(c.path, "/state/") {
			want := strings.Split(c.path, "/")[2]
			if !strings.Contains(string(body), `"seen": "`+want+`"`) {
				t.Errorf("GET %s: %s, want the account's own state", c.path, body)
			}
		}
	}
	if got := accountNames(t, b); got != "news,shop" {
		t.Errorf("GET /accounts lists %q", got)
	}
	if v := scrape(t, b, `wxbot_pushes_total{account="shop",outcome="replied",type="text"}`); v != 1 {
		t.Errorf("shop's pushes in /metrics: %v", v)
	}
	if v := scrape(t, b, "go_goroutines"); v <= 0 {
		t.Errorf("the process's own metrics (go_goroutines %v) are not in /metrics", v)
	}

	// Hot: blog added, news removed.
	writeAccounts(t, dir, "shop", "blog")
	eventually(t, b, "blog added and news removed", func() bool { return accountNames(t, b) == "blog,shop" })
	if out, errOut, code = sim("blog", "blog-token"); code != 0 || !strings.Contains(out, "这里是 blog") {
		t.Errorf("blog after the reload: %d %s %s", code, out, errOut)
	}
	if _, errOut, code = sim("news", "news-token", "--aes-key", e2eKey, "--appid", newsAppID, "--to", "gh_0123456789ab"); code == 0 || !strings.Contains(errOut, "404") {
		t.Errorf("news after its removal: %d %s", code, errOut)
	}

	// A changed account (blog's token rotated in its file) is rebuilt: the
	// old token is refused, the new one answers, shop is untouched.
	os.WriteFile(filepath.Join(dir, "blog.token"), []byte("blog-token-2\n"), 0o600)
	resp, err := e2eHTTP.Post(b.admin+"/accounts/reload", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /accounts/reload: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, errOut, code = sim("blog", "blog-token"); code == 0 || !strings.Contains(errOut, "401") {
		t.Errorf("blog's old token after the rotation: %d %s", code, errOut)
	}
	if out, errOut, code = sim("blog", "blog-token-2"); code != 0 || !strings.Contains(out, "这里是 blog") {
		t.Errorf("blog's new token: %d %s %s", code, out, errOut)
	}

	// A broken file keeps the running accounts and says why.
	os.WriteFile(path, []byte("accounts:\n  - {name: BAD, appid: nope}\n"), 0o644)
	eventually(t, b, "the broken file reported", func() bool { return !accountsStatus(t, b).LastReloadOK })
	if st := accountsStatus(t, b); !strings.Contains(st.LastError, "accounts.yaml:2") {
		t.Errorf("last_error %q names no line", st.LastError)
	}
	if out, _, code = sim("shop", "shop-token"); code != 0 || !strings.Contains(out, "这里是 shop") {
		t.Errorf("shop after a broken edit: %d %s", code, out)
	}
}

// TestSeveralAccountsOnRedis: two replicas of a two-account process on one
// Redis, and on a three-node Redis Cluster: a user's state set through one
// replica is read through the other, per account; on the single Redis each
// account's keys carry its hash tag.
func TestSeveralAccountsOnRedis(t *testing.T) {
	rc := needRedis(t)
	defer rc.Close()
	t.Run("redis", func(t *testing.T) {
		prefix := redisPrefix(t, rc, "accounts")
		twoReplicasTwoAccounts(t, "redis://127.0.0.1:6379/0?prefix="+prefix)
		for _, appID := range []string{shopAppID, blogAppID} {
			keys, _ := rc.Keys(context.Background(), prefix+"{"+appID+"}:*").Result()
			if len(keys) == 0 {
				t.Errorf("no key under %s's hash tag", appID)
			}
		}
	})
	t.Run("cluster", func(t *testing.T) {
		twoReplicasTwoAccounts(t, redistest.URL(redistest.StartCluster(t), "prefix=wxbot-e2e:"))
	})
}

func twoReplicasTwoAccounts(t *testing.T, storeURL string) {
	dir := t.TempDir()
	path := writeAccounts(t, dir, "shop", "blog")
	env := []string{"SHOP_TOKEN=shop-token"}
	a := startBot(t, env, "--accounts", path, "--store", storeURL+"&consumer=a")
	b := startBot(t, env, "--accounts", path, "--store", storeURL+"&consumer=b")
	for _, acct := range []struct{ name, token string }{{"shop", "shop-token"}, {"blog", "blog-token"}} {
		url := strings.TrimSuffix(a.url, "/wechat") + "/wechat/" + acct.name
		out, errOut, code := wxbot(t, nil, "simulate", "--url", url, "--token", acct.token, "--from", "oShared", "text", "你好")
		if code != 0 || !strings.Contains(out, "这里是 "+acct.name) {
			t.Fatalf("%s on replica a: %d %s %s", acct.name, code, out, errOut)
		}
		resp, err := e2eHTTP.Get(b.admin + "/accounts/" + acct.name + "/state/oShared")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"seen": "`+acct.name+`"`) {
			t.Errorf("%s's state read through replica b: %d %s", acct.name, resp.StatusCode, body)
		}
	}
}

func TestPollShare(t *testing.T) {
	for _, c := range []struct {
		poll time.Duration
		n    int
		want time.Duration
	}{{30 * time.Second, 1, 30 * time.Second}, {30 * time.Second, 30, 30 * time.Second}, {30 * time.Second, 60, time.Minute},
		{30 * time.Second, 1000, 1000 * time.Second}, {0, 1000, 0}} {
		if got := pollShare(c.poll, c.n); got != c.want {
			t.Errorf("pollShare(%v, %d) = %v, want %v", c.poll, c.n, got, c.want)
		}
	}
}

// TestSeveralAccountsRefusedAtStart: a bad accounts file stops serve with
// every problem and its line; a single account's flag beside --accounts is
// a usage error naming it.
func TestSeveralAccountsRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	path := writeAccounts(t, dir, "shop")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("accounts:\n  - {name: shop, appid: "+shopAppID+", token_env: SHOP_TOKEN, rules: shop.yaml}\n  - {name: shop, appid: wx00000000000000d4, token_env: NOPE, rules: missing.yaml}\n"), 0o644)
	_, errOut, code := wxbot(t, []string{"SHOP_TOKEN=x"}, "serve", "--accounts", bad, "--listen", "127.0.0.1:0", "--admin-listen", "")
	for _, want := range []string{"bad.yaml:3", `"shop"`, "NOPE", "missing.yaml"} {
		if code != 1 && code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("serve on a bad accounts file: exit %d, and the error does not say %q:\n%s", code, want, errOut)
		}
	}
	_, errOut, code = wxbot(t, []string{"SHOP_TOKEN=x", "WXBOT_TOKEN=y"}, "serve", "--accounts", path, "--rules", "shop.yaml", "--listen", "127.0.0.1:0", "--admin-listen", "")
	if code != 2 || !strings.Contains(errOut, "--token, --rules: not with --accounts") && !strings.Contains(errOut, "--rules, --token: not with --accounts") {
		t.Errorf("--token and --rules beside --accounts: exit %d\n%s", code, errOut)
	}
}

// TestAccountPreviousToken: during a Token change in the console, an
// account's pushes signed with its previous token are still accepted;
// another account's token is not.
func TestAccountPreviousToken(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte(accountRules("shop")), 0o644)
	path := filepath.Join(dir, "accounts.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf("accounts:\n  - {name: shop, appid: %s, token_env: SHOP_TOKEN, previous_token_env: SHOP_OLD_TOKEN, rules: shop.yaml}\n", shopAppID)), 0o644)
	b := startBot(t, []string{"SHOP_TOKEN=shop-new", "SHOP_OLD_TOKEN=shop-old"}, "--accounts", path)
	url := strings.TrimSuffix(b.url, "/wechat") + "/wechat/shop"
	for token, ok := range map[string]bool{"shop-new": true, "shop-old": true, "blog-token": false} {
		out, errOut, code := wxbot(t, nil, "simulate", "--url", url, "--token", token, "text", "你好")
		if ok != (code == 0 && strings.Contains(out, "这里是 shop")) {
			t.Errorf("signed with %s: exit %d %s %s", token, code, out, errOut)
		}
	}
}

// TestAccountRemovedAndAddedBack: an account removed from the file stops
// (its store view closed) and, added back, finds its users' state where it
// left it, in the same store.
func TestAccountRemovedAndAddedBack(t *testing.T) {
	dir := t.TempDir()
	path := writeAccounts(t, dir, "shop", "blog")
	b := startBot(t, []string{"SHOP_TOKEN=shop-token"}, "--accounts", path)
	url := strings.TrimSuffix(b.url, "/wechat") + "/wechat/shop"
	if out, errOut, code := wxbot(t, nil, "simulate", "--url", url, "--token", "shop-token", "--from", "oBack", "text", "你好"); code != 0 {
		t.Fatalf("shop: %d %s %s", code, out, errOut)
	}
	writeAccounts(t, dir, "blog")
	eventually(t, b, "shop removed", func() bool { return accountNames(t, b) == "blog" })
	writeAccounts(t, dir, "shop", "blog")
	eventually(t, b, "shop added back", func() bool { return accountNames(t, b) == "blog,shop" })
	resp, err := e2eHTTP.Get(b.admin + "/accounts/shop/state/oBack")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"seen": "shop"`) {
		t.Errorf("shop's user state after its removal and return: %d %s", resp.StatusCode, body)
	}
}

// TestAccountsReloadFailsMidway: a reload that rebuilds one account (its
// token rotated) and adds a broken one changes nothing: the changed account
// keeps its old token, and its metrics still read its running bot.
func TestAccountsReloadFailsMidway(t *testing.T) {
	dir := t.TempDir()
	path := writeAccounts(t, dir, "shop", "blog")
	b := startBot(t, []string{"SHOP_TOKEN=shop-token"}, "--accounts", path)
	os.WriteFile(filepath.Join(dir, "blog.token"), []byte("blog-token-2\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("version: 1\nrules:\n  - name: x\n    on: text\n    when: 'nope('\n    actions: [{reply: {text: a}}]\n"), 0o644)
	data, _ := os.ReadFile(path)
	os.WriteFile(path, append(data, []byte("  - {name: broken, appid: wx00000000000000e5, token_env: SHOP_TOKEN, rules: broken.yaml}\n")...), 0o644)
	resp, err := e2eHTTP.Post(b.admin+"/accounts/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 422 {
		t.Errorf("POST /accounts/reload with a broken account: %d, want 422", resp.StatusCode)
	}
	url := strings.TrimSuffix(b.url, "/wechat") + "/wechat/blog"
	if out, errOut, code := wxbot(t, nil, "simulate", "--url", url, "--token", "blog-token", "text", "你好"); code != 0 || !strings.Contains(out, "这里是 blog") {
		t.Errorf("blog's running token after the failed reload: %d %s %s", code, out, errOut)
	}
	if v := scrape(t, b, `wxbot_outbox_depth{account="blog"}`); v != 0 {
		t.Errorf(`wxbot_outbox_depth{account="blog"} = %v, want 0 from the running bot`, v)
	}
	// The running bot's later reload shows in the metrics: they read it,
	// not the successor the failed reload built and threw away.
	os.WriteFile(filepath.Join(dir, "blog.yaml"), []byte(`version: 1
rules:
  - name: hello
    on: text
    actions: [{reply: {text: "这里是 blog"}}]
  - name: extra
    on: click
    actions: [{reply: {text: x}}]
`), 0o644)
	eventually(t, b, "blog's running bot's reload in its metrics", func() bool {
		return scrape(t, b, `wxbot_rules_reloads_total{account="blog",result="success"}`) == 1
	})
}

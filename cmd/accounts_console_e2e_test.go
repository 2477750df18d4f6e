package cmd

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// consoleClient is a marketer's browser session on a running console.
type consoleClient struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

var (
	csrfField  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	keywordIDs = regexp.MustCompile(`name="k0\.id" value="([^"]+)"`)
)

func consoleLogin(t *testing.T, base, name, password string) *consoleClient {
	jar, _ := cookiejar.New(nil)
	c := &consoleClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: e2eHTTP.Timeout}}
	c.do("GET", "/login", nil) // the form's CSRF token, as a browser has it
	if code, body := c.do("POST", "/login", url.Values{"name": {name}, "password": {password}}); code != http.StatusOK {
		t.Fatalf("log-in of %s: %d\n%s", name, code, body)
	}
	return c
}

// do sends a request (a form with the session's CSRF token) and follows
// redirects, as a browser does.
func (c *consoleClient) do(method, path string, form url.Values) (int, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		if c.csrf != "" {
			form.Set("csrf", c.csrf)
		}
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(data); m != nil {
		c.csrf = string(m[1])
	}
	return resp.StatusCode, string(data)
}

// TestConsoleSeveralAccounts: with --accounts, the console serves each
// account under /a/NAME/; a keyword published on one answers on its path
// only, an account whose rules are a file is read-only, and a marketer
// sees only the accounts the users file lists for them.
func TestConsoleSeveralAccounts(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "shop"), 0o755)
	os.WriteFile(filepath.Join(dir, "shop", "rules.yaml"), []byte(accountRules("shop")), 0o644)
	os.WriteFile(filepath.Join(dir, "news.yaml"), []byte(accountRules("news")), 0o644)
	accountsFile := filepath.Join(dir, "accounts.yaml")
	os.WriteFile(accountsFile, []byte(fmt.Sprintf(`accounts:
  - {name: shop, appid: %s, token_env: SHOP_TOKEN, rules: shop/}
  - {name: news, appid: %s, token_env: NEWS_TOKEN, rules: news.yaml}
`, shopAppID, newsAppID)), 0o644)
	users := filepath.Join(dir, "console-users")
	for _, u := range [][]string{{"mia"}, {"nick", "--only", "news"}} {
		if _, errOut, code := adduser(t, u[0]+"-password\n", append(u, "--console-users", users)...); code != 0 {
			t.Fatal(errOut)
		}
	}
	consoleAddr := freeAddr(t)
	env := []string{"SHOP_TOKEN=shop-token", "NEWS_TOKEN=news-token"}
	b := startBot(t, env, "--accounts", accountsFile, "--console-listen", consoleAddr, "--console-users", users, "--console-lang", "en")
	b.waitLog(t, "console listening")
	base := "http://" + consoleAddr
	say := func(account, token, text string) string {
		out, errOut, code := wxbot(t, nil, "simulate", "--url", strings.TrimSuffix(b.url, "/wechat")+"/wechat/"+account, "--token", token, "text", text)
		if code != 0 {
			t.Fatalf("simulate on %s: %d %s", account, code, errOut)
		}
		return out
	}

	mia := consoleLogin(t, base, "mia", "mia-password")
	if code, body := mia.do("GET", "/keywords", nil); code != http.StatusOK || !strings.Contains(body, `action="/a/news/keywords"`) ||
		!strings.Contains(body, `href="/a/shop/keywords"`) || !strings.Contains(body, "is a file: the console only shows the rules") {
		t.Fatalf("mia's first page (news, read-only, with a switch to shop): %d\n%s", code, body)
	}
	mia.do("GET", "/a/shop/keywords", nil)
	_, body := mia.do("POST", "/a/shop/keywords", url.Values{"keywords": {"0"}, "op": {"kw-add"}})
	m := keywordIDs.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no keyword row after add:\n%s", body)
	}
	code, body := mia.do("POST", "/a/shop/keywords", url.Values{"keywords": {"1"}, "k0.id": {m[1]}, "k0.match": {"exact"},
		"k0.words": {"优惠"}, "k0.r.kind": {"text"}, "k0.r.text": {"本周八折"}, "op": {"publish"}})
	if code != http.StatusOK || !strings.Contains(body, "Published") {
		t.Fatalf("publish on shop: %d\n%s", code, body)
	}
	if out := say("shop", "shop-token", "优惠"); !strings.Contains(out, "本周八折") {
		t.Errorf("shop does not answer the published keyword:\n%s", out)
	}
	if out := say("news", "news-token", "优惠"); strings.Contains(out, "本周八折") {
		t.Errorf("news answers shop's keyword:\n%s", out)
	}

	nick := consoleLogin(t, base, "nick", "nick-password")
	if code, body := nick.do("GET", "/a/shop/activity", nil); code != http.StatusNotFound {
		t.Errorf("nick (news only) on shop's activity: %d\n%s", code, body)
	}
	if code, body := nick.do("GET", "/activity", nil); code != http.StatusOK || strings.Contains(body, "/a/shop/") || !strings.Contains(body, "hello") {
		t.Errorf("nick's activity (news only): %d\n%s", code, body)
	}
}

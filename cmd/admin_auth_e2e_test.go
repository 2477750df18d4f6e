package cmd

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// e2eAdminToken is the admin token the tests give serve (16 characters at
// least, as serve wants).
const e2eAdminToken = "e2e-admin-token-0123456789abcdef"

// adminCase is one request to the admin listener and the status it gets.
type adminCase struct {
	method, path, auth string
	status             int
	body               string // a part of the answer, when not ""
}

// checkAdmin makes each request to the admin listener at base.
func checkAdmin(t *testing.T, base string, cases []adminCase) {
	t.Helper()
	for _, c := range cases {
		req, err := http.NewRequest(c.method, base+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := e2eHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.body) {
			t.Errorf("%s %s (Authorization %q): %d %s\nwant %d with %q", c.method, c.path, c.auth, resp.StatusCode, body, c.status, c.body)
		}
		if strings.Contains(string(body), e2eAdminToken) {
			t.Errorf("%s %s: the answer holds the admin token", c.method, c.path)
		}
	}
}

// startBotAdminAt is startBot with the admin listener bound where bind puts
// a free port (":PORT", "0.0.0.0:PORT"); the test reaches it on loopback.
func startBotAdminAt(t *testing.T, env []string, bind func(port string) string, args ...string) *botProc {
	t.Helper()
	return startBotWith(t, env, bind, args...)
}

// TestAdminToken: with --admin-token, whatever changes something, the
// profiles and the users' data (state, outbox) need it, while the probes,
// the metrics and the rules' status stay open to what carries no token.
func TestAdminToken(t *testing.T) {
	examples, _ := filepath.Abs("../examples/rules.yaml")
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_ADMIN_TOKEN=" + e2eAdminToken}
	b := startBot(t, env, "--rules", examples)
	good, bad := "Bearer "+e2eAdminToken, "Bearer "+e2eAdminToken+"x"
	checkAdmin(t, b.admin, []adminCase{
		{"GET", "/healthz", "", 200, "ok"},
		{"GET", "/readyz", "", 200, "ready"},
		{"GET", "/metrics", "", 200, "wxbot_"},
		{"GET", "/rules", "", 200, "last_reload_ok"},
		{"HEAD", "/healthz", "", 200, ""},
		{"POST", "/reload", "", 401, "Authorization: Bearer"},
		{"POST", "/reload", bad, 401, "does not match"},
		{"POST", "/reload", "bearer", 401, "Authorization: Bearer"},
		{"POST", "/reload", "Basic " + e2eAdminToken, 401, "Authorization: Bearer"},
		{"POST", "/reload", good, 200, "last_reload_ok"},
		{"POST", "/reload", "bearer " + e2eAdminToken, 200, "last_reload_ok"},
		{"DELETE", "/state/oUser", "", 401, "--admin-token"},
		{"DELETE", "/state/oUser", good, 404, "no state for this user"},
		{"GET", "/state/oUser", "", 401, "--admin-token"},
		{"GET", "/state/oUser", good, 404, "no state"},
		{"GET", "/outbox", "", 401, "--admin-token"},
		{"GET", "/outbox", good, 200, "pending"},
		{"POST", "/outbox/drop?id=nope", "", 401, "--admin-token"},
		{"POST", "/outbox/retry?dead=all", bad, 401, "does not match"},
		{"POST", "/outbox/drop?id=nope", good, 404, "nope"},
		{"PUT", "/rules", "", 401, "--admin-token"},
		{"GET", "/debug/pprof/", "", 401, "--admin-token"},
		{"GET", "/debug/pprof/heap?debug=1", "", 401, "--admin-token"},
		{"GET", "/debug/pprof//../pprof/heap", "", 401, ""},
		{"GET", "/debug/pprof/", good, 200, "heap"},
	})

	// The commands that call the admin listener send the token they are given.
	tokenFile := filepath.Join(t.TempDir(), "admin.token")
	os.WriteFile(tokenFile, []byte(e2eAdminToken+"\n"), 0o600)
	for _, c := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"no token", nil, []string{"outbox", "list"}, 1, "--admin-token"},
		{"wrong token", []string{"WXBOT_ADMIN_TOKEN=" + e2eAdminToken + "x"}, []string{"outbox", "list"}, 1, "does not match"},
		{"token from env", []string{"WXBOT_ADMIN_TOKEN=" + e2eAdminToken}, []string{"outbox", "list"}, 0, "PENDING: 0"},
		{"token flag", nil, []string{"outbox", "drop", "nope", "--yes", "--admin-token", e2eAdminToken}, 1, "nope"},
		{"token file", nil, []string{"outbox", "retry", "--dead", "--admin-token-file", tokenFile}, 0, "retried 0 dead letter(s)"},
		{"token file from env", []string{"WXBOT_ADMIN_TOKEN_FILE=" + tokenFile}, []string{"outbox", "list"}, 0, "PENDING: 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := wxbot(t, c.env, append(c.args, "--admin", b.admin)...)
			if code != c.code || !strings.Contains(out+errOut, c.want) {
				t.Errorf("wxbot %v: exit %d\n%s%s\nwant exit %d with %q", c.args, code, out, errOut, c.code, c.want)
			}
			if strings.Contains(out+errOut, e2eAdminToken) {
				t.Errorf("wxbot %v printed the admin token", c.args)
			}
		})
	}
	if logs := b.stderr.String(); strings.Contains(logs, e2eAdminToken) {
		t.Errorf("the log holds the admin token:\n%s", logs)
	}
}

// TestAdminBeyondLoopback: an admin listener reachable from other hosts
// starts (probes and scrapers need it) and warns; without --admin-token its
// other endpoints are refused and say what to do; with one, they need it.
// On loopback without a token everything stays open, as before.
func TestAdminBeyondLoopback(t *testing.T) {
	examples, _ := filepath.Abs("../examples/rules.yaml")
	const warning = "the admin listener is reachable beyond loopback without --admin-token"
	refused := func(path string) adminCase {
		return adminCase{"POST", path, "", 403, "bind --admin-listen to 127.0.0.1"}
	}
	good := "Bearer " + e2eAdminToken
	tests := []struct {
		name  string
		bind  func(port string) string
		token bool
		warns bool
		cases []adminCase
	}{
		{"wildcard port only", func(p string) string { return ":" + p }, false, true, []adminCase{
			{"GET", "/healthz", "", 200, "ok"}, {"GET", "/metrics", "", 200, "wxbot_"}, {"GET", "/rules", "", 200, "rules"},
			refused("/reload"), refused("/outbox/drop?id=x"),
			{"DELETE", "/state/oUser", "", 403, "--admin-token"},
			{"GET", "/state/oUser", "", 403, "--admin-token"},
			{"GET", "/outbox", "", 403, "--admin-token"},
			{"GET", "/debug/pprof/", "", 403, "--admin-token"},
			{"POST", "/reload", good, 403, "--admin-token"}, // no token to match
		}},
		{"wildcard IPv4", func(p string) string { return "0.0.0.0:" + p }, false, true, []adminCase{
			{"GET", "/readyz", "", 200, "ready"}, refused("/reload"),
		}},
		{"wildcard with a token", func(p string) string { return ":" + p }, true, false, []adminCase{
			{"GET", "/healthz", "", 200, "ok"},
			{"POST", "/reload", "", 401, "Authorization: Bearer"},
			{"POST", "/reload", good, 200, "last_reload_ok"},
			{"GET", "/debug/pprof/", good, 200, "heap"},
		}},
		{"loopback without a token", func(p string) string { return "127.0.0.1:" + p }, false, false, []adminCase{
			{"POST", "/reload", "", 200, "last_reload_ok"},
			{"GET", "/outbox", "", 200, "pending"},
			{"GET", "/debug/pprof/", "", 200, "heap"},
		}},
		{"localhost without a token", func(p string) string { return "localhost:" + p }, false, false, []adminCase{
			{"POST", "/reload", "", 200, "last_reload_ok"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := []string{"WXBOT_TOKEN=" + e2eToken}
			if tt.token {
				env = append(env, "WXBOT_ADMIN_TOKEN="+e2eAdminToken)
			}
			b := startBotAdminAt(t, env, tt.bind, "--rules", examples)
			logs := b.waitLog(t, `"msg":"admin listening"`)
			if got := strings.Contains(logs, warning); got != tt.warns {
				t.Errorf("warned %v, want %v:\n%s", got, tt.warns, logs)
			}
			checkAdmin(t, b.admin, tt.cases)
		})
	}
}

// TestSeveralAccountsAdminToken: the admin listener of --accounts guards
// its own endpoints and each account's alike.
func TestSeveralAccountsAdminToken(t *testing.T) {
	dir := t.TempDir()
	path := writeAccounts(t, dir, "shop")
	b := startBot(t, []string{"SHOP_TOKEN=shop-token", "WXBOT_ADMIN_TOKEN=" + e2eAdminToken}, "--accounts", path)
	good := "Bearer " + e2eAdminToken
	checkAdmin(t, b.admin, []adminCase{
		{"GET", "/accounts", "", 200, "shop"},
		{"GET", "/readyz", "", 200, "ready"},
		{"GET", "/accounts/shop/rules", "", 200, "hello"},
		{"POST", "/accounts/reload", "", 401, "--admin-token"},
		{"POST", "/accounts/reload", good, 200, "shop"},
		{"POST", "/accounts/shop/reload", "", 401, "--admin-token"},
		{"POST", "/accounts/shop/reload", good, 200, "hello"},
		{"DELETE", "/accounts/shop/state/oX", "", 401, "--admin-token"},
		{"GET", "/accounts/shop/outbox", "", 401, "--admin-token"},
		{"GET", "/accounts/shop/debug/pprof/", "", 401, "--admin-token"},
		{"GET", "/accounts/shop/debug/pprof/", good, 200, "heap"},
	})
	out, errOut, code := wxbot(t, []string{"SHOP_TOKEN=shop-token", "WXBOT_ADMIN_TOKEN=" + e2eAdminToken},
		"outbox", "list", "--admin", b.admin, "--accounts", path, "--account", "shop")
	if code != 0 || !strings.Contains(out, "PENDING: 0") {
		t.Errorf("outbox list --account shop: exit %d\n%s%s", code, out, errOut)
	}
}

// TestAdminTokenSettings: a token that cannot be right is refused before
// anything listens, without printing it.
func TestAdminTokenSettings(t *testing.T) {
	examples, _ := filepath.Abs("../examples/rules.yaml")
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		return p
	}
	good := file("good", e2eAdminToken+"\n")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"short", nil, []string{"--admin-token", "short-token"}, "at least 16 characters"},
		{"short from env", map[string]string{"WXBOT_ADMIN_TOKEN": "short-token"}, nil, "WXBOT_ADMIN_TOKEN"},
		{"white space", nil, []string{"--admin-token", "e2e-admin token 0123456789"}, "white space"},
		{"both", nil, []string{"--admin-token", e2eAdminToken, "--admin-token-file", good}, "--admin-token and --admin-token-file"},
		{"both from env", map[string]string{"WXBOT_ADMIN_TOKEN": e2eAdminToken, "WXBOT_ADMIN_TOKEN_FILE": good}, nil, "keep one"},
		{"missing file", nil, []string{"--admin-token-file", filepath.Join(dir, "absent")}, "does not exist"},
		{"empty file", nil, []string{"--admin-token-file", file("empty", "")}, "is empty"},
		{"two lines", nil, []string{"--admin-token-file", file("two", e2eAdminToken+"\n\n")}, "white space"},
		{"a directory", nil, []string{"--admin-token-file", dir}, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := []string{"WXBOT_TOKEN=" + e2eToken}
			for k, v := range tt.env {
				env = append(env, k+"="+v)
			}
			// The binary, not runCmd: a serve that starts is stopped by
			// wxbot's timeout instead of hanging the test.
			args := append([]string{"serve", "--rules", examples, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
				"--store", "bolt:" + filepath.Join(t.TempDir(), "db")}, tt.args...)
			_, errOut, code := wxbot(t, env, args...)
			if code != exitUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, %q; want a usage error with %q", code, errOut, tt.want)
			}
			if strings.Contains(errOut, "0123456789") {
				t.Errorf("the error holds the token: %q", errOut)
			}
		})
	}
}

// TestConsoleWildcardWarns: the console has its own log-in, so a wildcard
// bind only warns, and says to put it behind HTTPS.
func TestConsoleWildcardWarns(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	os.Mkdir(rulesDir, 0o755)
	os.WriteFile(filepath.Join(rulesDir, "rules.yaml"), []byte(accountRules("shop")), 0o644)
	hash, err := bcrypt.GenerateFromPassword([]byte("a-long-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users")
	os.WriteFile(users, []byte("mia: "+string(hash)+"\n"), 0o600)
	for _, tt := range []struct {
		bind  string
		warns bool
	}{{":0", true}, {"0.0.0.0:0", true}, {"127.0.0.1:0", false}} {
		t.Run(tt.bind, func(t *testing.T) {
			b := startBot(t, []string{"WXBOT_TOKEN=" + e2eToken}, "--rules", rulesDir,
				"--console-listen", tt.bind, "--console-users", users)
			logs := b.waitLog(t, `"msg":"console listening"`)
			warned := strings.Contains(logs, "the console is reachable from every network") && strings.Contains(logs, "HTTPS")
			if warned != tt.warns {
				t.Errorf("warned %v, want %v:\n%s", warned, tt.warns, logs)
			}
		})
	}
}

// TestBenchProfileIgnoresTheOperatorsAdminToken: bench's own bot reads
// its profile on loopback; an admin token in the operator's environment
// (meant for their bots) must not lock the bench out of it.
func TestBenchProfileIgnoresTheOperatorsAdminToken(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a bench")
	}
	profile := filepath.Join(t.TempDir(), "cpu.pprof")
	for _, env := range [][]string{
		{"WXBOT_ADMIN_TOKEN=" + e2eAdminToken},
		{"WXBOT_ADMIN_TOKEN_FILE=" + filepath.Join(t.TempDir(), "absent")},
	} {
		out, errOut, code := wxbot(t, env, "bench", "--duration", "1s", "--warmup", "100ms", "--concurrency", "2", "--cpuprofile", profile)
		if st, err := os.Stat(profile); code != 0 || err != nil || st.Size() == 0 {
			t.Errorf("bench --cpuprofile with %s: exit %d, profile %v\n%s%s", env, code, err, out, errOut)
		}
		os.Remove(profile)
	}
}

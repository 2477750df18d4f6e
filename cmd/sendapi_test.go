package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxbot/wxbot/cmd/api"
)

// TestAPIAddToken: addtoken prints a new token once and keeps only its
// hash; a second one for the same name replaces the first (keeping its
// accounts unless --only gives others); bad names and lists are usage
// errors that write nothing.
func TestAPIAddToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "api-tokens")
	os.WriteFile(file, []byte("# tokens\nother: "+api.HashToken("x")+"\n"), 0o600)
	out, errOut, code := runCmd(nil, "api", "addtoken", "crm", "--api-tokens", file, "--only", "shop,news")
	first := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(first, "wxbot_") || !strings.Contains(errOut, "added crm in "+file) {
		t.Fatalf("addtoken: %d %q %q", code, out, errOut)
	}
	out, errOut, code = runCmd(nil, "api", "addtoken", "crm", "--api-tokens", file)
	second := strings.TrimSpace(out)
	if code != 0 || second == first || !strings.Contains(errOut, "replaced the token of crm") {
		t.Fatalf("addtoken again: %d %q %q", code, out, errOut)
	}
	data, _ := os.ReadFile(file)
	want := "# tokens\nother: " + api.HashToken("x") + "\ncrm: " + api.HashToken(second) + " accounts=shop,news\n"
	if string(data) != want {
		t.Errorf("file:\n%s\nwant:\n%s", data, want)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if toks, err := api.ParseTokens(data); err != nil || len(toks) != 2 {
		t.Errorf("serve would read %d tokens: %v", len(toks), err)
	}
	for _, args := range [][]string{
		{"api", "addtoken", "c:rm", "--api-tokens", file},
		{"api", "addtoken", "crm", "--api-tokens", file, "--only", "Shop"},
		{"api", "addtoken", "crm"},
		{"api", "list"},
	} {
		if _, errOut, code := runCmd(nil, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d %q, want a usage error", args, code, errOut)
		}
	}
	if after, _ := os.ReadFile(file); string(after) != string(data) {
		t.Error("a refused addtoken changed the file")
	}
}

// TestServeAPIFlags: --api-listen needs --api-tokens; the rate cannot be
// negative; a tokens file without a token stops the start.
func TestServeAPIFlags(t *testing.T) {
	env := map[string]string{"WXBOT_TOKEN": "t"}
	if _, errOut, code := runCmd(env, "serve", "--api-listen", "127.0.0.1:0"); code != 2 || !strings.Contains(errOut, "--api-listen needs --api-tokens FILE") {
		t.Errorf("no tokens: %d %q", code, errOut)
	}
	if _, errOut, code := runCmd(env, "serve", "--api-rate", "-1"); code != 2 || !strings.Contains(errOut, "--api-rate -1: want 0 (no limit) or more") {
		t.Errorf("negative rate: %d %q", code, errOut)
	}
	dir := t.TempDir()
	empty := filepath.Join(dir, "api-tokens")
	os.WriteFile(empty, []byte("# nobody yet\n"), 0o600)
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte("version: 1\nrules: []\n"), 0o644)
	env["WXBOT_API_TOKENS"] = empty
	_, errOut, code := runCmd(env, "serve", "--rules", rules, "--store", "bolt:"+filepath.Join(dir, "wxbot.db"),
		"--listen", "127.0.0.1:0", "--admin-listen", "", "--api-listen", "127.0.0.1:0")
	if code != 2 || !strings.Contains(errOut, "no token (add one with: wxbot api addtoken NAME --api-tokens "+empty) {
		t.Errorf("empty tokens file: %d %q", code, errOut)
	}
}

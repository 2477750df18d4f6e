package cmd

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wxbot/wxbot/cmd/console"
)

// adduser runs `wxbot console adduser` with stdin as its standard input
// (a pipe: no terminal, so no prompt).
func adduser(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, wxbotBinary(t), append([]string{"console", "adduser"}, args...)...)
	c.Env = subprocessEnv(nil)
	c.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestConsoleAddUser(t *testing.T) {
	users := filepath.Join(t.TempDir(), "console-users")
	tests := []struct {
		name, stdin string
		args        []string
		wantCode    int
		wantOut     string
	}{
		{"adds a user", "first-password\n", []string{"alice", "--console-users", users}, 0, "added alice in " + users},
		{"adds another", "bob-password\n", []string{"bob", "--console-users", users}, 0, "added bob"},
		{"changes a password", "second-password\n", []string{"alice", "--console-users", users}, 0, "changed the password of alice"},
		{"a short password", "tiny\n", []string{"carol", "--console-users", users}, 1, "shorter than 8 characters: nothing written"},
		{"a bad name", "long-enough\n", []string{"car ol", "--console-users", users}, 2, `name "car ol"`},
		{"no users file", "long-enough\n", []string{"carol"}, 2, "--console-users FILE is required"},
		{"for some accounts", "carol-password\n", []string{"carol", "--only", "shop,news", "--console-users", users}, 0, "added carol"},
		{"a password change keeps them", "carol-password-2\n", []string{"carol", "--console-users", users}, 0, "changed the password of carol"},
		{"a bad account", "long-enough\n", []string{"dave", "--only", "Shop", "--console-users", users}, 2, `"Shop" is not an account name`},
	}
	for _, tt := range tests {
		out, errOut, code := adduser(t, tt.stdin, tt.args...)
		if code != tt.wantCode || !strings.Contains(out+errOut, tt.wantOut) {
			t.Errorf("%s: exit %d, want %d with %q\n%s%s", tt.name, code, tt.wantCode, tt.wantOut, out, errOut)
		}
		if strings.Contains(out+errOut, strings.TrimSpace(tt.stdin)) {
			t.Errorf("%s: the password was printed", tt.name)
		}
	}
	got, err := console.ReadUsers(users)
	if err != nil || len(got) != 3 || !slices.Equal(got["carol"].Accounts, []string{"shop", "news"}) || got["alice"].Accounts != nil {
		t.Fatalf("users %v, err %v", got, err)
	}
	if bcrypt.CompareHashAndPassword(got["alice"].Hash, []byte("second-password")) != nil {
		t.Error("alice's new password does not match")
	}
	if st, _ := os.Stat(users); st.Mode().Perm() != 0o600 {
		t.Errorf("users file mode %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(users)
	if strings.Count(string(data), "alice:") != 1 {
		t.Errorf("users file:\n%s", data)
	}
}

func TestServeConsoleFlags(t *testing.T) {
	rules, _ := filepath.Abs("../examples/rules.yaml")
	_, errOut, code := wxbot(t, []string{"WXBOT_TOKEN=" + e2eToken}, "serve", "--rules", rules, "--console-listen", "127.0.0.1:0")
	if code != 2 || !strings.Contains(errOut, "--console-listen needs --console-users FILE") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
	_, errOut, code = wxbot(t, []string{"WXBOT_TOKEN=" + e2eToken}, "serve", "--rules", rules, "--listen", "127.0.0.1:0",
		"--admin-listen", "", "--store", "bolt:"+filepath.Join(t.TempDir(), "db"), "--console-listen", "127.0.0.1:0",
		"--console-users", filepath.Join(t.TempDir(), "absent"))
	if code == 0 || !strings.Contains(errOut, "wxbot console adduser NAME") {
		t.Errorf("absent users file: exit %d\n%s", code, errOut)
	}
	_, errOut, code = wxbot(t, []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_CONSOLE_LANG=fr"}, "serve", "--rules", rules)
	if code != 2 || !strings.Contains(errOut, `--console-lang "fr": want zh-CN or en`) {
		t.Errorf("--console-lang fr: exit %d\n%s", code, errOut)
	}
}

package accounts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// testSecrets are every secret value the tests' environment and files
// hold, the broken ones included.
var testSecrets = []string{
	shopToken, teaToken, fileToken, crlfToken, shopSecret, shopAESKey,
	testEnv["SHORT_KEY"], testEnv["BANG_KEY"], testEnv["SPACE_TOKEN"],
}

func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range testSecrets {
		if strings.Contains(text, s) {
			t.Errorf("%s shows the secret %q:\n%s", what, s, text)
		}
	}
}

// TestSecretsNeverShow prints, logs and marshals a loaded file every way
// a caller might by mistake, and reads every problem message of the
// tests, secrets pasted into the wrong fields included.
func TestSecretsNeverShow(t *testing.T) {
	dir := setup(t)
	src := example + `  - name: crlf
    appid: wx00000000000000aa
    token_file: secrets/crlf
    aes_key_file: secrets/aes
    rules: rules/shop
`
	f, err := Parse(filepath.Join(dir, "accounts.yaml"), []byte(src), getenv)
	if err != nil {
		t.Fatal(err)
	}
	// The file holds every secret, or this test proves nothing.
	for _, s := range []string{shopToken, shopSecret, shopAESKey, fileToken, crlfToken} {
		found := false
		for _, a := range f.Accounts {
			found = found || a.Token.Reveal() == s || a.Secret.Reveal() == s || a.AESKey.Reveal() == s
		}
		if !found {
			t.Fatalf("no account holds %q", s)
		}
	}

	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		assertNoSecret(t, "Printf("+verb+", file)", fmt.Sprintf(verb, f))
		assertNoSecret(t, "Printf("+verb+", *file)", fmt.Sprintf(verb, *f))
		assertNoSecret(t, "Printf("+verb+", accounts)", fmt.Sprintf(verb, f.Accounts))
		for _, a := range f.Accounts {
			assertNoSecret(t, "Printf("+verb+", account)", fmt.Sprintf(verb, a))
			assertNoSecret(t, "Printf("+verb+", &account)", fmt.Sprintf(verb, &a))
		}
	}
	assertNoSecret(t, "Sprint", fmt.Sprint(f, *f, f.Accounts, f.Accounts[0]))

	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(h(&buf))
		log.Info("loaded", "file", f, "accounts", f.Accounts, "account", f.Accounts[0], "value", *f)
		for _, a := range f.Accounts {
			log.Info("account", "account", a, "ptr", &a)
		}
		assertNoSecret(t, "log", buf.String())
		if !strings.Contains(buf.String(), "wx1234567890abcdef") {
			t.Errorf("the log lost the accounts:\n%s", buf.String())
		}
	}

	for _, v := range []any{f, f.Accounts, f.Accounts[0]} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		assertNoSecret(t, "json", string(b))
	}

	for _, tc := range problemCases {
		_, err := Parse(filepath.Join(dir, "accounts.yaml"), []byte(tc.src), getenv)
		if err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		assertNoSecret(t, tc.name, err.Error())
		assertNoSecret(t, tc.name+" %+v", fmt.Sprintf("%+v", err))
	}
}

// TestAccountLogValue: what a log shows of an account, for operators.
func TestAccountLogValue(t *testing.T) {
	dir := setup(t)
	f, err := Parse(filepath.Join(dir, "accounts.yaml"), []byte(example), getenv)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})).Info("account", "account", f.Accounts[0], "file", f)
	want := `level=INFO msg=account account.name=shop account.appid=wx1234567890abcdef account.gh_id=gh_0123456789ab ` +
		`account.rules=DIR/rules/shop account.kefu=true account.require_encryption=true account.token_from="env SHOP_TOKEN" ` +
		`account.aes_key_from="env SHOP_AES_KEY" account.secret_from="env SHOP_SECRET" ` +
		`file.path=DIR/accounts.yaml file.hash=` + f.Hash + ` file.accounts="[shop tea]"` + "\n"
	if got := strings.ReplaceAll(buf.String(), dir, "DIR"); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got, want := f.Accounts[0].String(), `account "shop" (wx1234567890abcdef)`; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
}

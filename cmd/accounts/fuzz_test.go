package accounts

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: no input panics, every error is an *Error of positioned
// problems without a secret, and an accepted file keeps the promises of
// File: valid, unique names and AppIDs, a token, a key where encryption
// is required, rules that exist.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		example,
		"",
		"accounts: []\n",
		"accounts:\n  - name: shop\n    appid: wx1234567890abcdef\n    token_env: SHOP_TOKEN\n    rules: rules/shop\n",
		"accounts:\n  - name: shop\n    appid: wx1234567890abcdef\n    token_env: SHOP_TOKEN\n   rules: rules/shop\n",
		"accounts:\n  - &a {name: shop, appid: wx1234567890abcdef, token_env: SHOP_TOKEN, rules: rules/shop}\n  - *a\n",
		"accounts:\n  - name: Shop\n    appid: wx1\n    token: x\n    token_file: secrets/empty\n    kefu: yes\n",
		"accounts:\n  - name: tea\n    appid: wxfedcba0987654321\n    token_file: secrets/crlf\n    aes_key_file: secrets/aes\n    require_encryption: true\n    rules: rules/tea.yaml\n---\nx: 1\n",
		"x: &x [*x]\naccounts: *x\n",
	} {
		f.Add(seed)
	}
	dir := setup(f)
	name := filepath.Join(dir, "accounts.yaml")
	f.Fuzz(func(t *testing.T, src string) {
		file, err := Parse(name, []byte(src), getenv)
		if err != nil {
			e, ok := errors.AsType[*Error](err)
			if !ok || len(e.Problems) == 0 {
				t.Fatalf("error %T without problems: %v", err, err)
			}
			for _, p := range e.Problems {
				if p.File != name || p.Line < 0 || p.Msg == "" {
					t.Errorf("badly positioned: %#v", p)
				}
			}
			// A secret written into the file itself may be quoted back
			// (as a name, say); one read from elsewhere never is.
			for _, s := range testSecrets {
				if !strings.Contains(src, s) && strings.Contains(err.Error(), s) {
					t.Errorf("the error shows the secret %q: %v", s, err)
				}
			}
			return
		}
		if len(file.Accounts) == 0 {
			t.Fatal("accepted a file without accounts")
		}
		names, appIDs := map[string]bool{}, map[string]bool{}
		for _, a := range file.Accounts {
			if !nameRE.MatchString(a.Name) || names[a.Name] {
				t.Errorf("name %q: invalid or a duplicate", a.Name)
			}
			if !appIDRE.MatchString(a.AppID) || appIDs[a.AppID] {
				t.Errorf("appid %q: invalid or a duplicate", a.AppID)
			}
			names[a.Name], appIDs[a.AppID] = true, true
			if a.GhID != "" && !ghIDRE.MatchString(a.GhID) {
				t.Errorf("gh_id %q invalid", a.GhID)
			}
			if a.Token == "" || hasSpace(a.Token.Reveal()) {
				t.Errorf("account %s: bad token", a.Name)
			}
			if a.RequireEncryption && len(a.AESKey) != 43 || a.AESKey != "" && len(a.AESKey) != 43 {
				t.Errorf("account %s: require_encryption %v with a key of %d", a.Name, a.RequireEncryption, len(a.AESKey))
			}
			if !filepath.IsAbs(a.Rules) || filepath.Clean(a.Rules) != a.Rules {
				t.Errorf("account %s: rules %q not absolute and clean", a.Name, a.Rules)
			}
			if a.Line < 1 {
				t.Errorf("account %s: line %d", a.Name, a.Line)
			}
		}
	})
}

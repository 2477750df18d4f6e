package accounts

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wxbot/wxbot/engine/wechat"
)

// The secrets of the tests are distinctive, so that TestSecretsNeverShow
// can look for them in every message.
const (
	shopToken  = "tokShopS3cretQ7"
	teaToken   = "tokTeaS3cretZ9"
	fileToken  = "tokFileS3cretW4"
	crlfToken  = "tokCrlfS3cretV2"
	shopSecret = "0123456789abcdef0123456789abcdef"
)

// shopAESKey is 43 characters of Base64, as the console gives them.
var shopAESKey = "AesKeyS3cretShop" + strings.Repeat("k", 27)

var testEnv = map[string]string{
	"SHOP_TOKEN":   shopToken,
	"TEA_TOKEN":    teaToken,
	"SHOP_AES_KEY": shopAESKey,
	"SHOP_SECRET":  shopSecret,
	"SHORT_KEY":    shopAESKey[:42],
	"BANG_KEY":     "!" + shopAESKey[1:],
	"SPACE_TOKEN":  "tok S3cret",
}

func getenv(name string) string { return testEnv[name] }

// setup makes a directory with the rules and secret files the cases
// name, relative to the accounts file there.
func setup(t testing.TB) string {
	dir := t.TempDir()
	for _, d := range []string{"rules/shop", "rules/tea", "secrets/dir"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{
		"rules/tea.yaml":    "version: 1\n",
		"secrets/token":     fileToken + "\n",
		"secrets/crlf":      crlfToken + "\r\n",
		"secrets/empty":     "",
		"secrets/newline":   "\n",
		"secrets/two_lines": fileToken + "\n\n",
		"secrets/aes":       shopAESKey + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// problems parses src in dir and returns its problems' lines, DIR for dir.
func problems(t *testing.T, dir, src string) []string {
	t.Helper()
	f, err := Parse(filepath.Join(dir, "accounts.yaml"), []byte(src), getenv)
	if err == nil {
		if f == nil || len(f.Accounts) == 0 {
			t.Fatalf("Parse accepted a file without accounts: %+v", f)
		}
		return nil
	}
	if f != nil {
		t.Errorf("Parse returned a file with an error")
	}
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("error is %T, want *Error: %v", err, err)
	}
	var lines []string
	for _, p := range e.Problems {
		lines = append(lines, strings.ReplaceAll(p.String(), dir, "DIR"))
	}
	return lines
}

const example = `accounts:
  - name: shop                  # its callback is --path + "/" + name
    appid: wx1234567890abcdef
    gh_id: gh_0123456789ab      # a push whose ToUserName differs is refused
    token_env: SHOP_TOKEN       # secrets from the environment or a file, never inline
    aes_key_env: SHOP_AES_KEY
    secret_env: SHOP_SECRET
    rules: rules/shop/
    kefu: true
    require_encryption: true
  - name: tea
    appid: wxfedcba0987654321
    token_file: secrets/token
    rules: rules/tea.yaml
    kefu: false
`

func TestParseExample(t *testing.T) {
	dir := setup(t)
	src := []byte(example)
	f, err := Parse(filepath.Join(dir, "accounts.yaml"), src, getenv)
	if err != nil {
		t.Fatal(err)
	}
	want := []Account{{
		Name: "shop", AppID: "wx1234567890abcdef", GhID: "gh_0123456789ab",
		Token: shopToken, AESKey: wechat.Secret(shopAESKey), Secret: shopSecret,
		TokenFrom: "env SHOP_TOKEN", AESKeyFrom: "env SHOP_AES_KEY", SecretFrom: "env SHOP_SECRET",
		Rules: filepath.Join(dir, "rules/shop"), Kefu: true, RequireEncryption: true, Line: 2,
	}, {
		Name: "tea", AppID: "wxfedcba0987654321",
		Token: fileToken, TokenFrom: "file " + filepath.Join(dir, "secrets/token"),
		Rules: filepath.Join(dir, "rules/tea.yaml"), Line: 11,
	}}
	if !slices.Equal(f.Accounts, want) {
		t.Errorf("accounts:\n got %#v\nwant %#v", f.Accounts, want)
	}
	if f.Path != filepath.Join(dir, "accounts.yaml") {
		t.Errorf("Path = %q", f.Path)
	}
	if len(f.Hash) != 64 {
		t.Errorf("Hash = %q, want 64 hex digits", f.Hash)
	}
	g, _ := Parse(filepath.Join(dir, "accounts.yaml"), append(src, '\n'), getenv)
	if g.Hash == f.Hash {
		t.Error("Hash did not change with the bytes")
	}
}

func TestParseAccepts(t *testing.T) {
	dir := setup(t)
	for _, tc := range []struct {
		name, src string
		check     func(t *testing.T, a Account)
	}{{
		name: "defaults",
		src: `accounts:
  - name: a-1
    appid: wx1234567890abcdef
    token_env: SHOP_TOKEN
    rules: rules/shop
`,
		check: func(t *testing.T, a Account) {
			if !a.Kefu || a.RequireEncryption || a.AESKey != "" || a.Secret != "" || a.GhID != "" {
				t.Errorf("defaults: %+v", a.LogValue())
			}
		},
	}, {
		name: "CRLF secret file, absolute paths",
		src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    token_file: DIR/secrets/crlf
    aes_key_file: secrets/aes
    rules: DIR/rules/../rules/shop/
    require_encryption: true
`,
		check: func(t *testing.T, a Account) {
			if a.Token != crlfToken || a.AESKey.Reveal() != shopAESKey {
				t.Error("the trailing line end was not trimmed")
			}
			if a.Rules != filepath.Join(dir, "rules/shop") {
				t.Errorf("Rules = %q, want it cleaned", a.Rules)
			}
		},
	}, {
		name: "anchors and null optional fields",
		src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    gh_id:
    token_env: &t SHOP_TOKEN
    secret_env: ""
    rules: &r rules/shop
  - name: tea
    appid: wxfedcba0987654321
    token_env: *t
    rules: *r
`,
		check: func(t *testing.T, a Account) {
			if a.Token != shopToken || a.Secret != "" || a.GhID != "" {
				t.Errorf("got %v", a.LogValue())
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.ReplaceAll(tc.src, "DIR", dir)
			f, err := Parse(filepath.Join(dir, "accounts.yaml"), []byte(src), getenv)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, f.Accounts[0])
		})
	}
}

// problemCases are files with problems, and the exact lines of those
// problems, DIR for the directory of the file. TestSecretsNeverShow reads
// their messages too.
var problemCases = []struct {
	name, src string
	want      []string
}{{
	name: "empty file",
	src:  "",
	want: []string{`DIR/accounts.yaml:1: no accounts: list them under "accounts:", each starting with "- name:"`},
}, {
	name: "comments only",
	src:  "# nothing yet\n",
	want: []string{`DIR/accounts.yaml:1: no accounts: list them under "accounts:", each starting with "- name:"`},
}, {
	name: "empty list",
	src:  "# the list\naccounts: []\n",
	want: []string{`DIR/accounts.yaml:2: no accounts: list them under "accounts:", each starting with "- name:"`},
}, {
	name: "null list",
	src:  "accounts:\n",
	want: []string{`DIR/accounts.yaml:1: no accounts: list them under "accounts:", each starting with "- name:"`},
}, {
	name: "top level not a mapping",
	src:  "- name: shop\n",
	want: []string{`DIR/accounts.yaml:1: want a mapping with one key, "accounts:", not a list`},
}, {
	name: "accounts not a list",
	src:  "accounts:\n  name: shop\n",
	want: []string{`DIR/accounts.yaml:1: accounts: want a list of accounts, each starting with "- name:", not a mapping`},
}, {
	name: "unknown top-level field",
	src:  "acounts:\n  - name: shop\n",
	want: []string{
		`DIR/accounts.yaml:1: acounts: unknown field (did you mean accounts?)`,
		`DIR/accounts.yaml:1: no accounts: list them under "accounts:", each starting with "- name:"`,
	},
}, {
	name: "an item not a mapping",
	src:  "accounts:\n  - shop\n",
	want: []string{`DIR/accounts.yaml:2: accounts[0]: want an account (name:, appid:, …), not "shop"`},
}, {
	name: "unknown field",
	src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    token_env: SHOP_TOKEN
    rules: rules/shop
    callback: /wechat/shop
    AppID: wx1234567890abcdef
`,
	want: []string{
		`DIR/accounts.yaml:6: account "shop": callback: unknown field (known: name, appid, gh_id, token_env, token_file, aes_key_env, aes_key_file, secret_env, secret_file, previous_token_env, previous_token_file, previous_aes_key_env, previous_aes_key_file, rules, kefu, require_encryption)`,
		`DIR/accounts.yaml:7: account "shop": AppID: unknown field (did you mean appid?)`,
	},
}, {
	name: "misspelt secret field",
	src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    tokn_env: SHOP_TOKEN
    rules: rules/shop
`,
	want: []string{
		`DIR/accounts.yaml:2: account "shop": token_env or token_file: required: the token of 服务器配置, from an environment variable (token_env) or a file (token_file)`,
		`DIR/accounts.yaml:4: account "shop": tokn_env: unknown field (did you mean token_env?)`,
	},
}, {
	name: "field given twice",
	src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    token_env: SHOP_TOKEN
    rules: rules/shop
    appid: wxfedcba0987654321
`,
	want: []string{`DIR/accounts.yaml:6: account "shop": appid: given twice (first on line 3): keep one`},
}, {
	name: "field types",
	src: `accounts:
  - name: [shop]
    appid: wx1234567890abcdef
    token_env: SHOP_TOKEN
    rules: {path: rules/shop}
    kefu: yes
    require_encryption: "true"
`,
	want: []string{
		`DIR/accounts.yaml:2: accounts[0]: name: want a string, not a list`,
		`DIR/accounts.yaml:2: accounts[0]: name: required: lower-case letters, digits and "-", 1 to 32; the account's callback path ends with it`,
		`DIR/accounts.yaml:2: accounts[0]: rules: required: a rules file or directory (a relative path starts at DIR)`,
		`DIR/accounts.yaml:5: accounts[0]: rules: want a string, not a mapping`,
		`DIR/accounts.yaml:6: accounts[0]: kefu: want true or false, not "yes"`,
		`DIR/accounts.yaml:7: accounts[0]: require_encryption: want true or false, not "true"`,
	},
}, {
	name: "name missing",
	src: `accounts:
  - appid: wx1234567890abcdef
    token_env: SHOP_TOKEN
    rules: rules/shop
`,
	want: []string{`DIR/accounts.yaml:2: accounts[0]: name: required: lower-case letters, digits and "-", 1 to 32; the account's callback path ends with it`},
}, {
	name: "bad names",
	src: `accounts:
  - name: Shop
    appid: wx1234567890abcdef
    token_env: SHOP_TOKEN
    rules: rules/shop
  - name: shop_1
    appid: wx1234567890abcde0
    token_env: SHOP_TOKEN
    rules: rules/shop
  - name: a-name-of-thirty-three-characters
    appid: wx1234567890abcde1
    token_env: SHOP_TOKEN
    rules: rules/shop
  - name: 商店
    appid: wx1234567890abcde2
    token_env: SHOP_TOKEN
    rules: rules/shop
`,
	want: []string{
		`DIR/accounts.yaml:2: accounts[0]: name: "Shop" is not a valid name: use lower case`,
		`DIR/accounts.yaml:6: accounts[1]: name: "shop_1" is not a valid name: '_' is not allowed: use lower-case letters, digits and "-"`,
		`DIR/accounts.yaml:10: accounts[2]: name: "a-name-of-thirty-three-characters" is not a valid name: 33 characters, at most 32`,
		`DIR/accounts.yaml:14: accounts[3]: name: "商店" is not a valid name: '商' is not allowed: use lower-case letters, digits and "-"`,
	},
}, {
	name: "duplicate name, appid and gh_id",
	src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    gh_id: gh_0123456789ab
    token_env: SHOP_TOKEN
    rules: rules/shop
  - name: shop
    appid: wx1234567890abcdef
    gh_id: gh_0123456789ab
    token_env: SHOP_TOKEN
    rules: rules/shop
`,
	want: []string{
		`DIR/accounts.yaml:7: account "shop": name: also the name of the account on line 2: names must be unique`,
		`DIR/accounts.yaml:8: account "shop": appid: also the AppID of account "shop" (line 2): list each Official Account once`,
		`DIR/accounts.yaml:9: account "shop": gh_id: also the original ID of account "shop" (line 2): list each Official Account once`,
	},
}, {
	name: "appid missing",
	src: `accounts:
  - name: shop
    token_env: SHOP_TOKEN
    rules: rules/shop
`,
	want: []string{`DIR/accounts.yaml:2: account "shop": appid: required: the AppID ("wx" and 16 hex digits) from 基础信息`},
}, {
	name: "bad appids",
	src: `accounts:
  - name: a
    appid: wx1234567890abcde
    token_env: SHOP_TOKEN
    rules: rules/shop
  - name: b
    appid: wx1234567890ABCDEF
    token_env: SHOP_TOKEN
    rules: rules/shop
  - name: c
    appid: 0123456789abcdef0123456789abcdef
    token_env: SHOP_TOKEN
    rules: rules/shop
  - name: d
    appid: wx1234567890abcdeg
    token_env: SHOP_TOKEN
    rules: rules/shop
  - name: e
    appid: gh_0123456789ab
    token_env: SHOP_TOKEN
    rules: rules/shop
`,
	want: []string{
		`DIR/accounts.yaml:3: account "a": appid: not an AppID: 17 characters, want 18; an AppID is "wx" and 16 lower-case hex digits, as 基础信息 shows it`,
		`DIR/accounts.yaml:7: account "b": appid: not an AppID: it has upper-case letters; an AppID is "wx" and 16 lower-case hex digits, as 基础信息 shows it`,
		`DIR/accounts.yaml:11: account "c": appid: not an AppID: 32 hex digits: is this the AppSecret? (it goes in secret_env or secret_file); an AppID is "wx" and 16 lower-case hex digits, as 基础信息 shows it`,
		`DIR/accounts.yaml:15: account "d": appid: not an AppID: it has characters other than 0-9 and a-f after "wx"; an AppID is "wx" and 16 lower-case hex digits, as 基础信息 shows it`,
		`DIR/accounts.yaml:19: account "e": appid: not an AppID: it does not start with "wx"; an AppID is "wx" and 16 lower-case hex digits, as 基础信息 shows it`,
	},
}, {
	name: "bad gh_id",
	src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    gh_id: gh_0123456789
    token_env: SHOP_TOKEN
    rules: rules/shop
  - name: tea
    appid: wxfedcba0987654321
    gh_id: wx1234567890abcdef
    token_env: SHOP_TOKEN
    rules: rules/shop
`,
	want: []string{
		`DIR/accounts.yaml:4: account "shop": gh_id: not an original ID (原始ID): 13 characters, want 15; it is "gh_" and 12 lower-case hex digits, the ToUserName of the account's pushes`,
		`DIR/accounts.yaml:9: account "tea": gh_id: not an original ID (原始ID): it does not start with "gh_"; it is "gh_" and 12 lower-case hex digits, the ToUserName of the account's pushes`,
	},
}, {
	name: "token from both or neither",
	src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    token_env: SHOP_TOKEN
    token_file: secrets/token
    rules: rules/shop
  - name: tea
    appid: wxfedcba0987654321
    rules: rules/shop
`,
	want: []string{
		`DIR/accounts.yaml:4: account "shop": token_env: token_env and token_file (line 5) both given: keep one`,
		`DIR/accounts.yaml:7: account "tea": token_env or token_file: required: the token of 服务器配置, from an environment variable (token_env) or a file (token_file)`,
	},
}, {
	name: "variables not set",
	src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    token_env: SHOP_TOKN
    aes_key_env: tokShopS3cretQ7
    secret_env: ` + shopSecret + `
    rules: rules/shop
`,
	want: []string{
		`DIR/accounts.yaml:4: account "shop": token_env: SHOP_TOKN is empty or not set (export it, or use token_file)`,
		`DIR/accounts.yaml:5: account "shop": aes_key_env: the variable named here is empty or not set (export it, or use aes_key_file); aes_key_env takes a variable's name, never the EncodingAESKey itself`,
		`DIR/accounts.yaml:6: account "shop": secret_env: the variable named here is empty or not set (export it, or use secret_file); secret_env takes a variable's name, never the AppSecret itself`,
	},
}, {
	name: "a variable with spaces",
	src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    token_env: SPACE_TOKEN
    rules: rules/shop
`,
	want: []string{`DIR/accounts.yaml:4: account "shop": token_env: SPACE_TOKEN: the token has white space or control characters; set the variable to the token alone`},
}, {
	name: "secret files",
	src: `accounts:
  - name: a
    appid: wx1234567890abcde0
    token_file: secrets/missing
    rules: rules/shop
  - name: b
    appid: wx1234567890abcde1
    token_file: secrets/dir
    rules: rules/shop
  - name: c
    appid: wx1234567890abcde2
    token_file: secrets/token/x
    rules: rules/shop
  - name: d
    appid: wx1234567890abcde3
    token_file: secrets/empty
    rules: rules/shop
  - name: e
    appid: wx1234567890abcde4
    token_file: secrets/newline
    rules: rules/shop
  - name: f
    appid: wx1234567890abcde5
    token_file: secrets/two_lines
    rules: rules/shop
  - name: g
    appid: wx1234567890abcde6
    token_file: tokFileS3cretW4
    rules: rules/shop
`,
	want: []string{
		`DIR/accounts.yaml:4: account "a": token_file: DIR/secrets/missing does not exist (create it, or use token_env)`,
		`DIR/accounts.yaml:8: account "b": token_file: DIR/secrets/dir is not a regular file: name the file that holds the secret alone`,
		`DIR/accounts.yaml:12: account "c": token_file: DIR/secrets/token/x cannot be read: not a directory`,
		`DIR/accounts.yaml:16: account "d": token_file: DIR/secrets/empty is empty (put the secret in it, or use token_env)`,
		`DIR/accounts.yaml:20: account "e": token_file: DIR/secrets/newline is empty (put the secret in it, or use token_env)`,
		`DIR/accounts.yaml:24: account "f": token_file: DIR/secrets/two_lines holds white space or control characters beside the token: the file holds the token alone (one trailing newline is fine)`,
		`DIR/accounts.yaml:28: account "g": token_file: the file named here does not exist (create it, or use token_env); token_file takes a file's path, never the token itself`,
	},
}, {
	name: "inline secrets",
	src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    token: ` + shopToken + `
    secret: ` + shopSecret + `
    encoding_aes_key: ` + shopAESKey + `
    AppSecret: ` + shopSecret + `
    rules: rules/shop
`,
	want: []string{
		`DIR/accounts.yaml:2: account "shop": token_env or token_file: required: the token of 服务器配置, from an environment variable (token_env) or a file (token_file)`,
		`DIR/accounts.yaml:4: account "shop": token: secrets never go in the accounts file: use token_env or token_file`,
		`DIR/accounts.yaml:5: account "shop": secret: secrets never go in the accounts file: use secret_env or secret_file`,
		`DIR/accounts.yaml:6: account "shop": encoding_aes_key: secrets never go in the accounts file: use aes_key_env or aes_key_file`,
		`DIR/accounts.yaml:7: account "shop": AppSecret: secrets never go in the accounts file: use secret_env or secret_file`,
	},
}, {
	name: "bad AES keys",
	src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    token_env: SHOP_TOKEN
    aes_key_env: SHORT_KEY
    rules: rules/shop
  - name: tea
    appid: wxfedcba0987654321
    token_env: TEA_TOKEN
    aes_key_env: BANG_KEY
    rules: rules/shop
    require_encryption: true
`,
	want: []string{
		`DIR/accounts.yaml:5: account "shop": aes_key_env: SHORT_KEY holds 42 characters, want 43: the EncodingAESKey of 服务器配置`,
		`DIR/accounts.yaml:10: account "tea": aes_key_env: BANG_KEY is not an EncodingAESKey: not Base64; copy the 43 characters of 服务器配置`,
	},
}, {
	name: "previous token and key: checked as the current ones, never inline",
	src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    token_env: SHOP_TOKEN
    previous_token_env: NOT_SET
    previous_aes_key_env: SHORT_KEY
    previous_token: abc
    rules: rules/shop
`,
	want: []string{
		`DIR/accounts.yaml:5: account "shop": previous_token_env: NOT_SET is empty or not set (export it, or use previous_token_file)`,
		`DIR/accounts.yaml:6: account "shop": previous_aes_key_env: SHORT_KEY holds 42 characters, want 43: the EncodingAESKey of 服务器配置`,
		`DIR/accounts.yaml:7: account "shop": previous_token: secrets never go in the accounts file: use previous_token_env or previous_token_file`,
	},
}, {
	name: "require_encryption without a key",
	src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    token_env: SHOP_TOKEN
    rules: rules/shop
    require_encryption: true
`,
	want: []string{`DIR/accounts.yaml:6: account "shop": require_encryption: true needs an AES key: add aes_key_env or aes_key_file (the EncodingAESKey of 服务器配置)`},
}, {
	name: "rules missing or not there",
	src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    token_env: SHOP_TOKEN
  - name: tea
    appid: wxfedcba0987654321
    token_env: TEA_TOKEN
    rules: rules/te/
`,
	want: []string{
		`DIR/accounts.yaml:2: account "shop": rules: required: a rules file or directory (a relative path starts at DIR)`,
		`DIR/accounts.yaml:8: account "tea": rules: DIR/rules/te does not exist (a relative path starts at the accounts file's directory)`,
	},
}, {
	// yaml.v3 says line 1, where the block began.
	name: "YAML syntax",
	src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    token_env: SHOP_TOKEN
   rules: rules/shop
`,
	want: []string{`DIR/accounts.yaml:5: YAML: did not find expected '-' indicator: check the indentation of this line against the lines above`},
}, {
	name: "YAML syntax further down",
	src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    token_env: SHOP_TOKEN
    rules: rules/shop
  - name: tea
    appid: wxfedcba0987654321
    token_env: TEA_TOKEN
      rules: rules/tea
`,
	want: []string{`DIR/accounts.yaml:9: YAML: mapping values are not allowed in this context: check the indentation of this line against the lines above`},
}, {
	name: "YAML tab",
	src:  "accounts:\n  - name: shop\n\tappid: wx1234567890abcdef\n",
	want: []string{`DIR/accounts.yaml:3: YAML: tabs are not allowed in YAML indentation: indent with spaces`},
}, {
	name: "a second document",
	src: `accounts:
  - name: shop
    appid: wx1234567890abcdef
    token_env: SHOP_TOKEN
    rules: rules/shop
---
accounts: []
`,
	want: []string{`DIR/accounts.yaml:6: a second YAML document: an accounts file has one (remove the "---" and what follows, or merge it into the first)`},
}, {
	name: "merge key",
	src: `x: &base {appid: wx1234567890abcdef}
accounts:
  - <<: *base
    name: shop
    token_env: SHOP_TOKEN
    rules: rules/shop
`,
	want: []string{
		`DIR/accounts.yaml:1: x: unknown field (known: accounts)`,
		`DIR/accounts.yaml:3: account "shop": <<: merge keys are not supported: write each account's fields out`,
		`DIR/accounts.yaml:3: account "shop": appid: required: the AppID ("wx" and 16 hex digits) from 基础信息`,
	},
}}

func TestParseProblems(t *testing.T) {
	dir := setup(t)
	for _, tc := range problemCases {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, dir, tc.src)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestErrorMessage: one problem is the message; several get a count and a
// line each, so the CLI can print the error as it is.
func TestErrorMessage(t *testing.T) {
	dir := setup(t)
	name := filepath.Join(dir, "accounts.yaml")
	_, err := Parse(name, []byte("accounts: []\n"), getenv)
	if want := name + `:1: no accounts: list them under "accounts:", each starting with "- name:"`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	_, err = Parse(name, []byte(`accounts:
  - name: Shop
    appid: wx1
`), getenv)
	want := `4 problems in ` + name + `:
` + name + `:2: accounts[0]: name: "Shop" is not a valid name: use lower case
` + name + `:2: accounts[0]: token_env or token_file: required: the token of 服务器配置, from an environment variable (token_env) or a file (token_file)
` + name + `:2: accounts[0]: rules: required: a rules file or directory (a relative path starts at ` + dir + `)
` + name + `:3: accounts[0]: appid: not an AppID: 3 characters, want 18; an AppID is "wx" and 16 lower-case hex digits, as 基础信息 shows it`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestLoad(t *testing.T) {
	dir := setup(t)
	// Relative paths start at the file's directory, not the working one.
	path := filepath.Join(dir, "accounts.yaml")
	if err := os.WriteFile(path, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if f.Accounts[1].Rules != filepath.Join(dir, "rules/tea.yaml") {
		t.Errorf("Rules = %q", f.Accounts[1].Rules)
	}

	// A nil getenv reads the process's environment.
	t.Setenv("SHOP_TOKEN", shopToken)
	t.Setenv("SHOP_AES_KEY", shopAESKey)
	t.Setenv("SHOP_SECRET", shopSecret)
	if f, err := Load(path, nil); err != nil || f.Accounts[0].Token != shopToken {
		t.Errorf("Load(path, nil): %v", err)
	}

	if _, err := Load(filepath.Join(dir, "nope.yaml"), getenv); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want os.ErrNotExist", err)
	}

	big := append([]byte(example), bytes.Repeat([]byte("# padding\n"), MaxSize/10)...)
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	want := path + `: over 1 MiB: an accounts file lists accounts and where their secrets and rules are; is this the right file?`
	if _, err := Load(path, getenv); err == nil || err.Error() != want {
		t.Errorf("big file: got %v, want %s", err, want)
	}
	if _, err := Parse(path, big, getenv); err == nil || err.Error() != want {
		t.Errorf("big file: Parse: got %v, want %s", err, want)
	}
	if _, err := Parse(path, big[:MaxSize], getenv); err != nil {
		t.Errorf("a file of MaxSize: %v", err)
	}
}

func TestDiff(t *testing.T) {
	dir := setup(t)
	parse := func(src string, env map[string]string) *File {
		t.Helper()
		f, err := Parse(filepath.Join(dir, "accounts.yaml"), []byte(src), func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	old := parse(example, testEnv)

	// Moved lines and comments change nothing that runs.
	moved := parse("# moved\n"+strings.ReplaceAll(example, "  # ", "# "), testEnv)
	if a, r, c := Diff(old, moved); a != nil || r != nil || c != nil {
		t.Errorf("moved: added %v, removed %v, changed %v", a, r, c)
	}

	// A rotated token changes the account though the file is the same.
	rotated := map[string]string{}
	for k, v := range testEnv {
		rotated[k] = v
	}
	rotated["SHOP_TOKEN"] = "rotatedToken1"
	if a, r, c := Diff(old, parse(example, rotated)); a != nil || r != nil || !slices.Equal(c, []string{"shop"}) {
		t.Errorf("rotated: added %v, removed %v, changed %v", a, r, c)
	}

	next := parse(strings.Replace(example, "name: tea", "name: coffee", 1)+`  - name: bakery
    appid: wx00000000000000aa
    token_env: TEA_TOKEN
    rules: rules/shop
    kefu: false
`, testEnv)
	a, r, c := Diff(old, next)
	if !slices.Equal(a, []string{"bakery", "coffee"}) || !slices.Equal(r, []string{"tea"}) || c != nil {
		t.Errorf("renamed: added %v, removed %v, changed %v", a, r, c)
	}

	if a, r, c := Diff(nil, old); !slices.Equal(a, []string{"shop", "tea"}) || r != nil || c != nil {
		t.Errorf("from nil: added %v, removed %v, changed %v", a, r, c)
	}
	if a, r, c := Diff(old, nil); a != nil || !slices.Equal(r, []string{"shop", "tea"}) || c != nil {
		t.Errorf("to nil: added %v, removed %v, changed %v", a, r, c)
	}
}

func TestFind(t *testing.T) {
	dir := setup(t)
	f, err := Parse(filepath.Join(dir, "accounts.yaml"), []byte(example), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := f.Find("tea"); err != nil || a.AppID != "wxfedcba0987654321" {
		t.Errorf("Find(tea) = %v, %v", a, err)
	}
	want := `accounts: no account "shpo" in ` + f.Path + ` (accounts: shop, tea)`
	if _, err := f.Find("shpo"); err == nil || err.Error() != want {
		t.Errorf("Find(shpo): got %v, want %s", err, want)
	}
}

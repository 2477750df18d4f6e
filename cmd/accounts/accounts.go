package accounts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wxbot/wxbot/engine/wechat"
)

// MaxSize is the largest accounts file Load and Parse accept. A file of
// accounts is a short list; a bigger one is the wrong file, and reading it
// whole on every reload would cost memory for nothing.
const MaxSize = 1 << 20

// Account is one account of the file, its secrets read.
//
// The secrets are [wechat.Secret] so that printing or logging an Account,
// or a struct holding one, by mistake shows REDACTED. Reveal them only
// where they are used.
type Account struct {
	// Name is [a-z0-9-]{1,32}, unique in the file; the account's callback
	// is --path + "/" + Name, and its metrics carry it as a label.
	Name string
	// AppID is "wx" and 16 lower-case hex digits, unique in the file.
	AppID string
	// GhID is the original ID (原始ID, "gh_" and 12 hex digits), or "":
	// when set, a push whose ToUserName differs is refused.
	GhID string

	// Token is the Token of 服务器配置; never empty.
	Token wechat.Secret
	// AESKey is the 43-character EncodingAESKey, or "" without one.
	AESKey wechat.Secret
	// Secret is the AppSecret, or "": without it the account makes no API
	// calls.
	Secret wechat.Secret
	// PreviousToken and PreviousAESKey, or "", are still accepted while
	// the console changes to new ones (previous_token_env, …).
	PreviousToken, PreviousAESKey wechat.Secret
	// TokenFrom, AESKeyFrom and SecretFrom say where each secret was read,
	// "env NAME" or "file PATH" ("" for a secret not given), so that a
	// message about a wrong secret can say what to fix.
	TokenFrom, AESKeyFrom, SecretFrom string

	// Rules is the rules file or directory, absolute and cleaned.
	Rules string
	// Kefu is false for an account without the kefu API (personal or
	// unverified accounts get 48001): late replies then take the
	// retry-stretch path. Default true.
	Kefu bool
	// RequireEncryption refuses plaintext pushes; it implies an AESKey.
	RequireEncryption bool

	// Line is where the account starts in the file, for messages.
	Line int
}

// String names the account; it never shows a secret.
func (a Account) String() string {
	return fmt.Sprintf("account %q (%s)", a.Name, a.AppID)
}

// LogValue implements slog.LogValuer: the account without its secrets,
// only where they came from.
func (a Account) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("name", a.Name),
		slog.String("appid", a.AppID),
	}
	if a.GhID != "" {
		attrs = append(attrs, slog.String("gh_id", a.GhID))
	}
	attrs = append(attrs,
		slog.String("rules", a.Rules),
		slog.Bool("kefu", a.Kefu),
		slog.Bool("require_encryption", a.RequireEncryption),
		slog.String("token_from", a.TokenFrom),
	)
	if a.AESKeyFrom != "" {
		attrs = append(attrs, slog.String("aes_key_from", a.AESKeyFrom))
	}
	if a.SecretFrom != "" {
		attrs = append(attrs, slog.String("secret_from", a.SecretFrom))
	}
	return slog.GroupValue(attrs...)
}

// accountJSON is what an Account marshals to: what GET /accounts may show.
type accountJSON struct {
	Name              string `json:"name"`
	AppID             string `json:"appid"`
	GhID              string `json:"gh_id,omitempty"`
	TokenFrom         string `json:"token_from"`
	AESKeyFrom        string `json:"aes_key_from,omitempty"`
	SecretFrom        string `json:"secret_from,omitempty"`
	Rules             string `json:"rules"`
	Kefu              bool   `json:"kefu"`
	RequireEncryption bool   `json:"require_encryption"`
	Line              int    `json:"line"`
}

// MarshalJSON leaves the secrets out. Without it, encoding/json (and
// slog's JSON handler, given a []Account) would write wechat.Secret as the
// plain string it is.
func (a Account) MarshalJSON() ([]byte, error) {
	return json.Marshal(accountJSON{
		Name: a.Name, AppID: a.AppID, GhID: a.GhID,
		TokenFrom: a.TokenFrom, AESKeyFrom: a.AESKeyFrom, SecretFrom: a.SecretFrom,
		Rules: a.Rules, Kefu: a.Kefu, RequireEncryption: a.RequireEncryption, Line: a.Line,
	})
}

// same reports whether a and b would run the same bot. Line and the
// sources are left out: moving an account in the file, or a secret to
// another variable with the same value, changes nothing that runs.
func (a Account) same(b Account) bool {
	return a.Name == b.Name && a.AppID == b.AppID && a.GhID == b.GhID &&
		a.Token == b.Token && a.AESKey == b.AESKey && a.Secret == b.Secret &&
		a.PreviousToken == b.PreviousToken && a.PreviousAESKey == b.PreviousAESKey &&
		a.Rules == b.Rules && a.Kefu == b.Kefu && a.RequireEncryption == b.RequireEncryption
}

// File is an accounts file that loaded: every account valid, names,
// AppIDs and original IDs unique. Nothing changes a File once Load returns
// it, so readers may share it; a reload makes a new one.
type File struct {
	// Path is the file's name as given to Load or Parse.
	Path string
	// Accounts are in file order; never empty.
	Accounts []Account
	// Hash is the hex SHA-256 of the file's bytes. It does not cover the
	// secrets read from elsewhere: compare with Diff to see what changed.
	Hash string
}

// LogValue implements slog.LogValuer: the path, hash and account names.
func (f *File) LogValue() slog.Value {
	names := make([]string, len(f.Accounts))
	for i, a := range f.Accounts {
		names[i] = a.Name
	}
	return slog.GroupValue(
		slog.String("path", f.Path),
		slog.String("hash", f.Hash),
		slog.Any("accounts", names),
	)
}

// Find returns the account called name, or an error that lists the
// names there are (for --account NAME).
func (f *File) Find(name string) (Account, error) {
	names := make([]string, len(f.Accounts))
	for i, a := range f.Accounts {
		if a.Name == name {
			return a, nil
		}
		names[i] = a.Name
	}
	slices.Sort(names)
	return Account{}, fmt.Errorf("accounts: no account %q in %s (accounts: %s)", name, f.Path, strings.Join(names, ", "))
}

// Load reads and checks the accounts file at path, and reads the secrets
// it names. getenv reads the environment: os.Getenv in production (nil
// means os.Getenv), a map in tests. A file with problems gives an [*Error]
// listing all of them; a file that cannot be read gives the os error,
// wrapped. Load and Parse keep no state and may run concurrently.
func Load(path string, getenv func(string) string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	defer f.Close()
	// One byte over the limit tells a file at the limit from one above it
	// without reading a huge (or endless: /dev/zero) file whole.
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	return Parse(path, data, getenv)
}

// Parse is Load for bytes already read: name is the file's name, for
// messages, and its directory is where relative paths (rules, secret
// files) start. Secret files and the rules' existence are still read
// from disk.
func Parse(name string, data []byte, getenv func(string) string) (*File, error) {
	dir := filepath.Dir(name)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	p := &parser{name: name, dir: dir, getenv: getenv}
	accounts := p.parse(data)
	if len(p.problems) > 0 {
		slices.SortStableFunc(p.problems, func(a, b Problem) int { return a.Line - b.Line })
		return nil, &Error{Problems: p.problems}
	}
	sum := sha256.Sum256(data)
	return &File{Path: name, Accounts: accounts, Hash: hex.EncodeToString(sum[:])}, nil
}

// Diff tells what changed from old to new, by account name, each list
// sorted: accounts only in new, only in old, and in both but different
// (any field or secret but Line and the sources). A nil old or new is a
// file without accounts.
func Diff(old, new *File) (added, removed, changed []string) {
	index := func(f *File) map[string]Account {
		m := map[string]Account{}
		if f != nil {
			for _, a := range f.Accounts {
				m[a.Name] = a
			}
		}
		return m
	}
	o, n := index(old), index(new)
	for name, a := range n {
		if b, ok := o[name]; !ok {
			added = append(added, name)
		} else if !a.same(b) {
			changed = append(changed, name)
		}
	}
	for name := range o {
		if _, ok := n[name]; !ok {
			removed = append(removed, name)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	slices.Sort(changed)
	return added, removed, changed
}

package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wxbot/wxbot/cmd/accounts"
)

// token is one line of the tokens file.
type token struct {
	name string
	hash [sha256.Size]byte
	// accounts are those the token may send for; nil: every one.
	accounts []string
}

// mayUse reports whether the token may send for the account.
func (t *token) mayUse(account string) bool {
	return t.accounts == nil || slices.Contains(t.accounts, account)
}

// ValidName reports whether name can name a token: 1 to 64 letters,
// digits, '.', '_' or '-' (it is part of the IDs the API hands out).
func ValidName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// HashToken is a token's line value in the tokens file: the hex SHA-256
// of the token.
func HashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// ParseTokens reads a tokens file: `name: sha256-hex [accounts=a,b]`
// lines; blank lines and lines starting with # are skipped. Every problem
// is reported with its line.
func ParseTokens(data []byte) ([]token, error) {
	var (
		out  []token
		errs []error
	)
	names, hashes := map[string]bool{}, map[[sha256.Size]byte]string{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		t, err := parseToken(line)
		switch {
		case err != nil:
		case names[t.name]:
			err = fmt.Errorf("token %q given twice", t.name)
		case hashes[t.hash] != "":
			err = fmt.Errorf("token %q has the hash of token %q: give each system a token of its own", t.name, hashes[t.hash])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", i+1, err))
			continue
		}
		names[t.name], hashes[t.hash] = true, t.name
		out = append(out, t)
	}
	return out, errors.Join(errs...)
}

func parseToken(line string) (token, error) {
	name, rest, ok := strings.Cut(line, ":")
	name = strings.TrimSpace(name)
	if !ok || !ValidName(name) {
		return token{}, errors.New("want `name: sha256-hex-of-token`, the name 1-64 letters, digits, '.', '_' or '-' (wxbot api addtoken NAME writes one)")
	}
	fields := strings.Fields(rest)
	var t token
	t.name = name
	if len(fields) == 0 {
		return t, fmt.Errorf("token %q: no hash", name)
	}
	b, err := hex.DecodeString(fields[0])
	if err != nil || len(b) != sha256.Size {
		return t, fmt.Errorf("token %q: the hash is not 64 hex digits (the SHA-256 of the token, never the token itself)", name)
	}
	copy(t.hash[:], b)
	if t.accounts, err = accounts.ParseOnly(strings.Join(fields[1:], " ")); err != nil {
		return t, fmt.Errorf("token %q: %w", name, err)
	}
	return t, nil
}

// tokenFile is the tokens file, read again when its size or modification
// time changes: a token added or removed takes effect at the next request.
type tokenFile struct {
	path string
	log  *slog.Logger

	mu     sync.Mutex
	tokens []token
	size   int64
	mod    time.Time
}

// load reads the file; a file that cannot be read or parsed is an error.
func (f *tokenFile) load() error {
	st, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("api tokens: %w", err)
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("api tokens: %w", err)
	}
	toks, err := ParseTokens(data)
	if err != nil {
		return fmt.Errorf("api tokens %s: %w", f.path, err)
	}
	f.tokens, f.size, f.mod = toks, st.Size(), st.ModTime()
	return nil
}

// current is the tokens as the file now holds them; a file that changed
// and does not load leaves the last good tokens, with a log line.
func (f *tokenFile) current() []token {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := os.Stat(f.path)
	if err == nil && (st.Size() != f.size || !st.ModTime().Equal(f.mod)) {
		if err := f.load(); err != nil {
			f.size, f.mod = st.Size(), st.ModTime() // said once, until it changes again
			f.log.Error("the API tokens file changed but does not load; the tokens read before stay", "err", err)
		} else {
			f.log.Info("API tokens read again", "file", f.path, "tokens", len(f.tokens))
		}
	}
	return f.tokens
}

// match finds the token presented, by its hash: every token is compared,
// in constant time, whichever matches. No token is empty.
func match(toks []token, presented string) *token {
	if presented == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(presented))
	var found *token
	for i := range toks {
		if subtle.ConstantTimeCompare(sum[:], toks[i].hash[:]) == 1 {
			found = &toks[i]
		}
	}
	return found
}

// bearer is the token of an `Authorization: Bearer TOKEN` header ("" when
// there is none); the scheme's name is case-insensitive (RFC 9110).
func bearer(h string) string {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

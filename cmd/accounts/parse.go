package accounts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

var (
	nameRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
	// AppIDs as the console shows them are "wx" and 16 lower-case hex
	// digits (8 bytes in hex). The AppID ends every encrypted message and
	// is compared exactly, so an upper-cased copy would fail later and
	// obscurely: refuse it here.
	appIDRE = regexp.MustCompile(`^wx[0-9a-f]{16}$`)
	// The original ID (原始ID) is "gh_" and 12 hex digits, the ToUserName
	// of every push.
	ghIDRE = regexp.MustCompile(`^gh_[0-9a-f]{12}$`)
)

// maxSecretFile bounds what a secret file may hold: a secret is a line,
// and a bigger file (or /dev/zero) is a mistake, not a secret.
const maxSecretFile = 64 << 10

type kind int

const (
	kindString kind = iota
	kindBool
)

// fields are the fields of an account, in the order messages list them.
var fields = []string{
	"name", "appid", "gh_id",
	"token_env", "token_file", "aes_key_env", "aes_key_file", "secret_env", "secret_file",
	"previous_token_env", "previous_token_file", "previous_aes_key_env", "previous_aes_key_file",
	"rules", "kefu", "require_encryption",
}

var fieldKind = map[string]kind{"kefu": kindBool, "require_encryption": kindBool}

// inline maps the fields a secret would be written in, were it allowed
// (lower-cased), to the stem of its _env and _file fields. They get their own message
// because "unknown field" would not say why, nor what to write instead.
var inline = map[string]string{
	"token":            "token",
	"aes_key":          "aes_key",
	"encoding_aes_key": "aes_key",
	"encodingaeskey":   "aes_key",
	"secret":           "secret",
	"app_secret":       "secret",
	"appsecret":        "secret",
	"previous_token":   "previous_token",
	"previous_aes_key": "previous_aes_key",
}

// secretNames say what each secret is, in messages.
var secretNames = map[string]string{"token": "token", "aes_key": "EncodingAESKey", "secret": "AppSecret",
	"previous_token": "previous token", "previous_aes_key": "previous EncodingAESKey"}

type parser struct {
	name, dir string
	getenv    func(string) string
	problems  []Problem
}

func (p *parser) add(line int, account, field, format string, args ...any) {
	p.problems = append(p.problems, Problem{
		File: p.name, Line: line, Account: account, Field: field, Msg: fmt.Sprintf(format, args...),
	})
}

// value is a field as written: its key's line and its value.
type value struct {
	line int
	str  string
	b    bool
}

// raw is an account as written, before its checks.
type raw struct {
	line   int
	label  string
	fields map[string]value
}

func (r *raw) str(field string) (string, int) {
	v := r.fields[field]
	return v.str, v.line
}

// parse returns the accounts of data, or nil with p.problems set.
func (p *parser) parse(data []byte) []Account {
	if len(data) > MaxSize {
		p.add(0, "", "", "over %d MiB: an accounts file lists accounts and where their secrets and rules are; is this the right file?", MaxSize>>20)
		return nil
	}
	doc, ok := p.document(data)
	if !ok {
		return nil
	}
	list := p.list(doc)
	if list == nil {
		return nil
	}

	// Two entries for one name, AppID or original ID would fight over a
	// path, a token cache or a store namespace: the second one is wrong.
	type first struct {
		line  int
		label string
	}
	names, appIDs, ghIDs := map[string]first{}, map[string]first{}, map[string]first{}
	unique := func(seen map[string]first, r *raw, field, v, format string) {
		if v == "" {
			return
		}
		if f, dup := seen[v]; dup {
			_, line := r.str(field)
			p.add(line, r.label, field, format, f.label, f.line)
		} else {
			seen[v] = first{r.line, r.label}
		}
	}
	var out []Account
	for i, item := range list.Content {
		r := p.raw(i, item)
		if r == nil {
			continue
		}
		a := p.account(r)
		unique(names, r, "name", a.Name, "also the name of the account on line %[2]d: names must be unique")
		unique(appIDs, r, "appid", a.AppID, "also the AppID of %s (line %d): list each Official Account once")
		unique(ghIDs, r, "gh_id", a.GhID, "also the original ID of %s (line %d): list each Official Account once")
		out = append(out, a)
	}
	if len(p.problems) > 0 {
		return nil
	}
	return out
}

// document parses data into its one YAML document, nil for an empty file.
func (p *parser) document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err == io.EOF {
		return nil, true
	} else if err != nil {
		p.syntax(data, err)
		return nil, false
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		p.add(next.Line, "", "", `a second YAML document: an accounts file has one (remove the "---" and what follows, or merge it into the first)`)
	} else if err != io.EOF {
		p.syntax(data, err)
		return nil, false
	}
	return &doc, true
}

// list finds the accounts: sequence, or reports why there is none.
func (p *parser) list(doc *yaml.Node) *yaml.Node {
	const none = `no accounts: list them under "accounts:", each starting with "- name:"`
	if doc == nil || len(doc.Content) == 0 {
		p.add(1, "", "", none)
		return nil
	}
	top := resolve(doc.Content[0])
	if isNull(top) {
		p.add(top.Line, "", "", none)
		return nil
	}
	if top.Kind != yaml.MappingNode {
		p.add(top.Line, "", "", `want a mapping with one key, "accounts:", not %s`, describe(top))
		return nil
	}
	var list, key *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k := top.Content[i]
		switch {
		case k.Kind != yaml.ScalarNode || k.Value != "accounts":
			p.add(k.Line, "", showKey(k), "%s", unknownField(k.Value, []string{"accounts"}))
		case list != nil:
			p.add(k.Line, "", "accounts", "given twice (first on line %d): keep one list", key.Line)
		default:
			key, list = k, resolve(top.Content[i+1])
		}
	}
	switch {
	case list == nil:
		p.add(top.Line, "", "", none)
		return nil
	case isNull(list) || list.Kind == yaml.SequenceNode && len(list.Content) == 0:
		p.add(key.Line, "", "", none)
		return nil
	case list.Kind != yaml.SequenceNode:
		p.add(key.Line, "", "accounts", `want a list of accounts, each starting with "- name:", not %s`, describe(list))
		return nil
	}
	return list
}

// raw walks one item of the list: every field known, of its type, once.
func (p *parser) raw(i int, item *yaml.Node) *raw {
	n := resolve(item)
	r := &raw{line: item.Line, label: fmt.Sprintf("accounts[%d]", i), fields: map[string]value{}}
	if n.Kind != yaml.MappingNode {
		p.add(item.Line, r.label, "", "want an account (name:, appid:, …), not %s", describe(n))
		return nil
	}
	// Messages name the account once its name is known to be good; until
	// then, by its place in the list.
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], resolve(n.Content[j+1])
		if k.Kind == yaml.ScalarNode && k.Value == "name" && v.Kind == yaml.ScalarNode && nameRE.MatchString(v.Value) {
			r.label = fmt.Sprintf("account %q", v.Value)
			break
		}
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], resolve(n.Content[j+1])
		key := k.Value
		if k.Kind != yaml.ScalarNode {
			p.add(k.Line, r.label, "", "a field's name is a word, not %s", describe(k))
			continue
		}
		if k.Tag == "!!merge" {
			p.add(k.Line, r.label, "<<", "merge keys are not supported: write each account's fields out")
			continue
		}
		if stem, ok := inline[strings.ToLower(key)]; ok {
			p.add(k.Line, r.label, key, "secrets never go in the accounts file: use %s_env or %s_file", stem, stem)
			continue
		}
		if !slices.Contains(fields, key) {
			p.add(k.Line, r.label, showKey(k), "%s", unknownField(key, fields))
			continue
		}
		if prev, dup := r.fields[key]; dup {
			p.add(k.Line, r.label, key, "given twice (first on line %d): keep one", prev.line)
			continue
		}
		val := value{line: k.Line}
		switch fieldKind[key] {
		case kindString:
			if v.Kind != yaml.ScalarNode {
				p.add(k.Line, r.label, key, "want a string, not %s", describe(v))
				continue
			}
			if !isNull(v) {
				val.str = v.Value
			}
		case kindBool:
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" || v.Decode(&val.b) != nil {
				p.add(k.Line, r.label, key, "want true or false, not %s", describe(v))
				continue
			}
		}
		r.fields[key] = val
	}
	return r
}

// account checks r and reads its secrets. It returns what it could fill
// in: a field with a problem is left empty.
func (p *parser) account(r *raw) Account {
	a := Account{Line: r.line, Kefu: true}
	switch name, line := r.str("name"); {
	case name == "":
		p.add(r.line, r.label, "name", `required: lower-case letters, digits and "-", 1 to 32; the account's callback path ends with it`)
	case !nameRE.MatchString(name):
		p.add(line, r.label, "name", `%s is not a valid name: %s`, quote(name), nameWhy(name))
	default:
		a.Name = name
	}

	switch id, line := r.str("appid"); {
	case id == "":
		p.add(r.line, r.label, "appid", `required: the AppID ("wx" and 16 hex digits) from 基础信息`)
	case !appIDRE.MatchString(id):
		why := shapeWhy(id, "wx", 16)
		if len(id) == 32 && isHex(id) {
			why = "32 hex digits: is this the AppSecret? (it goes in secret_env or secret_file)"
		}
		// The value is not quoted: a wrong AppID is often the AppSecret,
		// which sits next to it in the console.
		p.add(line, r.label, "appid", `not an AppID: %s; an AppID is "wx" and 16 lower-case hex digits, as 基础信息 shows it`, why)
	default:
		a.AppID = id
	}

	if id, line := r.str("gh_id"); id != "" {
		if ghIDRE.MatchString(id) {
			a.GhID = id
		} else {
			p.add(line, r.label, "gh_id", `not an original ID (原始ID): %s; it is "gh_" and 12 lower-case hex digits, the ToUserName of the account's pushes`, shapeWhy(id, "gh_", 12))
		}
	}

	if s, ok := p.secret(r, "token", true); ok {
		a.Token, a.TokenFrom = wechat.Secret(s.value), s.from
	}
	aes, aesOK := p.aesKey(r, "aes_key", a.AppID)
	if aesOK {
		a.AESKey, a.AESKeyFrom = wechat.Secret(aes.value), aes.from
	}
	if s, ok := p.secret(r, "secret", false); ok {
		a.Secret, a.SecretFrom = wechat.Secret(s.value), s.from
	}
	// During a change of Token or EncodingAESKey in the console, pushes
	// signed or encrypted with the previous ones are still accepted.
	if s, ok := p.secret(r, "previous_token", false); ok {
		a.PreviousToken = wechat.Secret(s.value)
	}
	if s, ok := p.aesKey(r, "previous_aes_key", a.AppID); ok {
		a.PreviousAESKey = wechat.Secret(s.value)
	}

	switch rules, line := r.str("rules"); {
	case rules == "":
		p.add(r.line, r.label, "rules", "required: a rules file or directory (a relative path starts at %s)", p.dir)
	default:
		path := p.abs(rules)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			p.add(line, r.label, "rules", "%s does not exist (a relative path starts at the accounts file's directory)", path)
		} else if err != nil {
			p.add(line, r.label, "rules", "cannot read %s: %v", path, pathErr(err))
		} else {
			a.Rules = path
		}
	}

	if v, ok := r.fields["kefu"]; ok {
		a.Kefu = v.b
	}
	if v := r.fields["require_encryption"]; v.b {
		a.RequireEncryption = true
		// A key that was given but is wrong has its own message already.
		if !aesOK && r.fields["aes_key_env"].str == "" && r.fields["aes_key_file"].str == "" {
			p.add(v.line, r.label, "require_encryption", "true needs an AES key: add aes_key_env or aes_key_file (the EncodingAESKey of 服务器配置)")
		}
	}
	return a
}

// secretValue is a secret read, with where it came from for messages.
type secretValue struct {
	value string
	from  string // "env NAME" or "file PATH", for Account
	field string // the field that named it
	where string // how messages name its source
	line  int
}

// secret reads the secret whose fields are stem_env and stem_file. It
// reports a problem for a secret that is required and not given, given
// twice, or cannot be read; ok is false then and when it is not given.
// aesKey reads an optional EncodingAESKey secret and checks it is one.
func (p *parser) aesKey(r *raw, stem, appID string) (secretValue, bool) {
	s, ok := p.secret(r, stem, false)
	if !ok {
		return s, false
	}
	if n := utf8.RuneCountInString(s.value); n != 43 {
		p.add(s.line, r.label, s.field, "%s holds %d characters, want 43: the EncodingAESKey of 服务器配置", s.where, n)
		return s, false
	}
	if _, err := wechat.NewCipher(s.value, appID); err != nil {
		// NewCipher's errors never hold the key.
		why := strings.TrimPrefix(err.Error(), wechat.ErrBadAESKey.Error()+": ")
		p.add(s.line, r.label, s.field, "%s is not an EncodingAESKey: %s; copy the 43 characters of 服务器配置", s.where, why)
		return s, false
	}
	return s, true
}

func (p *parser) secret(r *raw, stem string, required bool) (s secretValue, ok bool) {
	what := secretNames[stem]
	envField, fileField := stem+"_env", stem+"_file"
	env, file := r.fields[envField], r.fields[fileField]
	switch {
	case env.str != "" && file.str != "":
		p.add(env.line, r.label, envField, "%s and %s (line %d) both given: keep one", envField, fileField, file.line)
		return s, false
	case env.str != "":
		s = secretValue{from: "env " + env.str, field: envField, where: env.str, line: env.line}
		if looksPasted(env.str) {
			s.where = "the variable named here"
		}
		s.value = p.getenv(env.str)
		if s.value == "" {
			hint := ""
			if looksPasted(env.str) {
				hint = fmt.Sprintf("; %s takes a variable's name, never the %s itself", envField, what)
			}
			p.add(env.line, r.label, envField, "%s is empty or not set (export it, or use %s)%s", s.where, fileField, hint)
			return s, false
		}
		if hasSpace(s.value) {
			p.add(env.line, r.label, envField, "%s: the %s has white space or control characters; set the variable to the %s alone", s.where, what, what)
			return s, false
		}
		return s, true
	case file.str != "":
		path := p.abs(file.str)
		s = secretValue{from: "file " + path, field: fileField, where: path, line: file.line}
		hint := ""
		if looksPasted(file.str) {
			s.where = "the file named here"
			hint = fmt.Sprintf("; %s takes a file's path, never the %s itself", fileField, what)
		}
		v, msg := readSecret(path, envField)
		if msg != "" {
			p.add(file.line, r.label, fileField, "%s %s%s", s.where, msg, hint)
			return s, false
		}
		if hasSpace(v) {
			p.add(file.line, r.label, fileField, "%s holds white space or control characters beside the %s: the file holds the %s alone (one trailing newline is fine)", s.where, what, what)
			return s, false
		}
		s.value = v
		return s, true
	case required:
		p.add(r.line, r.label, envField+" or "+fileField, "required: the %s of 服务器配置, from an environment variable (%s) or a file (%s)", what, envField, fileField)
	}
	return s, false
}

// readSecret reads a secret file. msg, when not "", says what is wrong;
// envField is the field to suggest instead.
func readSecret(path, envField string) (value, msg string) {
	// Stat first: opening a FIFO would block, and a device never ends.
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", "does not exist (create it, or use " + envField + ")"
	case err != nil:
		return "", "cannot be read: " + escape(pathErr(err).Error())
	case !info.Mode().IsRegular():
		return "", "is not a regular file: name the file that holds the secret alone"
	case info.Size() > maxSecretFile:
		return "", fmt.Sprintf("is over %d KiB: a secret file holds the secret alone", maxSecretFile>>10)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "cannot be read: " + escape(pathErr(err).Error())
	}
	// Editors and `echo` end the file with a newline, which is not part of
	// the secret; a second one, or a space, is a mistake worth telling.
	s := string(data)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	if s == "" {
		return "", "is empty (put the secret in it, or use " + envField + ")"
	}
	return s, ""
}

// abs resolves a path of the file against the file's directory.
func (p *parser) abs(path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(p.dir, path)
}

// looksPasted reports whether a value written where a variable's name or a
// file's path belongs looks like a secret pasted there instead, so that
// messages do not quote it. Names and paths tend to have "_", "/" or ".",
// or to be upper case (variables); WeChat's secrets are a Token of letters
// and digits, an AppSecret of 32 hex digits and an EncodingAESKey of 43
// Base64 characters. It errs towards hiding: the line number still says
// which value is meant.
func looksPasted(s string) bool {
	if len(s) == 43 || len(s) == 32 && isHex(s) {
		return true
	}
	if strings.ContainsAny(s, "_/.") {
		return false
	}
	return s != strings.ToUpper(s)
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func hasSpace(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}

// shapeWhy says why s is not prefix and n lower-case hex digits, without
// quoting s.
func shapeWhy(s, prefix string, n int) string {
	switch {
	case !strings.HasPrefix(s, prefix):
		return fmt.Sprintf("it does not start with %q", prefix)
	case len(s) != len(prefix)+n:
		return fmt.Sprintf("%d characters, want %d", utf8.RuneCountInString(s), len(prefix)+n)
	case strings.ToLower(s) != s:
		return "it has upper-case letters"
	default:
		return fmt.Sprintf("it has characters other than 0-9 and a-f after %q", prefix)
	}
}

func nameWhy(s string) string {
	if n := utf8.RuneCountInString(s); n > 32 {
		return fmt.Sprintf("%d characters, at most 32", n)
	}
	if strings.ToLower(s) != s {
		return "use lower case"
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Sprintf(`%q is not allowed: use lower-case letters, digits and "-"`, c)
		}
	}
	return `use lower-case letters, digits and "-"`
}

// resolve follows aliases (*anchor) to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describe names what a node is, for "want X, not Y". Scalars are quoted:
// describe is only used on fields that hold no secrets.
func describe(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case isNull(n):
		return "nothing"
	case n.Kind == yaml.ScalarNode:
		return quote(n.Value)
	}
	return "an alias"
}

// quote quotes s for a message, shortened: a message is a line.
func quote(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return strconv.Quote(s)
}

// escape keeps an os error's text to one line.
func escape(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)

// showKey is a key as a message's field: as written when it is a plain
// word, else quoted.
func showKey(k *yaml.Node) string {
	if k.Kind == yaml.ScalarNode && plainKey.MatchString(k.Value) {
		return k.Value
	}
	return quote(k.Value)
}

// unknownField says a key is unknown, suggesting the known one it is
// closest to, as rules' unknown names do.
func unknownField(key string, known []string) string {
	best, bestD := "", 3
	if len(key) <= 64 {
		for _, k := range known {
			if d := rules.EditDistance(strings.ToLower(key), k); d < bestD {
				best, bestD = k, d
			}
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown field (did you mean %s?)", best)
	}
	return "unknown field (known: " + strings.Join(known, ", ") + ")"
}

func pathErr(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

// syntax reports a YAML syntax error on the line that breaks the file
// (rules.SyntaxLine: yaml.v3 names the line where the enclosing block
// started).
func (p *parser) syntax(data []byte, err error) {
	line, msg := rules.SyntaxLine(data, err)
	switch {
	case strings.Contains(msg, "tab character"):
		msg = "tabs are not allowed in YAML indentation: indent with spaces"
	case strings.Contains(msg, "did not find expected") || strings.Contains(msg, "mapping values are not allowed"):
		msg += ": check the indentation of this line against the lines above"
	}
	p.add(line, "", "", "YAML: %s", msg)
}

package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wxbot/wxbot/rules"
)

// File names in the rules directory.
const (
	ConsoleFile = rules.ConsoleFile // read after the operators' files: see rules.ConsoleFile
	MenuFile    = "menu.yaml"
	AuditFile   = "console-audit.log"
)

// Header is the first line of console.yaml; MenuHeader that of a menu.yaml
// the console wrote (and may therefore rewrite).
const (
	Header     = "# Written by the wxbot console: each publish from the console rewrites this file."
	MenuHeader = "# Written by the wxbot console: each publish from the console rewrites this menu."
)

const headerNote = `# Change these replies in the console, not here: edits made here are
# overwritten by the next publish. Operators' own rules belong in the other
# files of this directory, which the console never writes.
`

// Rule names of the console's rules: what they answer, readable in logs,
// metrics and the activity page (`console: 菜单 CONTACT`, `console: 关键词
// 价格`), the same whatever the console's language. Files written before
// carry the old names (console-key-KEY, console-keyword-ID): they are
// read, and the next publish renames them.
const (
	clickPrefix      = "console: 菜单 "
	keywordPrefix    = "console: 关键词 "
	oldClickPrefix   = "console-key-"
	oldKeywordPrefix = "console-keyword-"
)

// keywordNames are the rule names of the draft's keyword replies, in
// order: the first word of each, numbered when two start alike.
func (d *draft) keywordNames() []string {
	names := make([]string, len(d.Keywords))
	taken := map[string]int{}
	for i, k := range d.Keywords {
		first := ""
		if len(k.Words) > 0 {
			w := []rune(strings.TrimSpace(k.Words[0]))
			first = string(w[:min(20, len(w))])
		}
		name := keywordPrefix + first
		if n := taken[name]; n > 0 {
			taken[name]++
			name = fmt.Sprintf("%s (%d)", name, n+1)
		} else {
			taken[name] = 1
		}
		names[i] = name
	}
	return names
}

// nameID is the row ID of a keyword reply read back by its name: stable
// for the name, so a draft and the page agree until the next publish.
func nameID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:4])
}

// onDisk is what the console owns, as read from the rules directory.
type onDisk struct {
	console, menu []byte // nil when absent
	menuOwned     bool   // menu.yaml absent, or written by the console
	version       string // changes whenever either file does
}

func readOnDisk(dir string) (*onDisk, error) {
	d := &onDisk{}
	var err error
	if d.console, err = readIfExists(filepath.Join(dir, ConsoleFile)); err != nil {
		return nil, err
	}
	if d.menu, err = readIfExists(filepath.Join(dir, MenuFile)); err != nil {
		return nil, err
	}
	d.menuOwned = d.menu == nil || bytes.HasPrefix(d.menu, []byte(MenuHeader))
	h := sha256.New()
	h.Write(d.console)
	h.Write([]byte{0})
	h.Write(d.menu)
	d.version = hex.EncodeToString(h.Sum(nil))[:16]
	return d, nil
}

func readIfExists(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// draft reads the files into a draft to edit.
func (d *onDisk) draft() (*draft, error) {
	dr := &draft{Replies: map[string]Reply{}, Base: d.version}
	if d.menu != nil {
		dec := yaml.NewDecoder(bytes.NewReader(d.menu))
		dec.KnownFields(true)
		if err := dec.Decode(&dr.Menu); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w (fix it, or check it with: wxbot menu push %s --dry-run)", MenuFile, err, MenuFile)
		}
	}
	if d.console == nil {
		return dr, nil
	}
	var doc rules.FileOut
	if err := yaml.Unmarshal(d.console, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w (it was edited by hand: fix it, or remove it to start again)", ConsoleFile, err)
	}
	for _, r := range doc.Rules {
		reply, err := replyOf(&r)
		if err != nil {
			return nil, fmt.Errorf("%s: rule %q: %w (it was edited by hand: the console cannot show it)", ConsoleFile, r.Name, err)
		}
		switch {
		case (strings.HasPrefix(r.Name, clickPrefix) || strings.HasPrefix(r.Name, oldClickPrefix)) && r.Key != "":
			dr.Replies[r.Key] = reply
		case (strings.HasPrefix(r.Name, keywordPrefix) || strings.HasPrefix(r.Name, oldKeywordPrefix)) && r.Text != nil:
			id, old := strings.CutPrefix(r.Name, oldKeywordPrefix)
			if !old || !validID(id) {
				id = nameID(r.Name)
			}
			k := Keyword{ID: id, Match: "exact", Words: r.Text.Exact, Reply: reply}
			if len(r.Text.Contains) > 0 {
				k.Match, k.Words = "contains", r.Text.Contains
			}
			dr.Keywords = append(dr.Keywords, k)
		default:
			return nil, fmt.Errorf("%s: rule %q is not one the console writes (it was edited by hand: move it to another file)", ConsoleFile, r.Name)
		}
	}
	return dr, nil
}

// A reply's strings are templates to the rules ("${…}" is an expression);
// a marketer's "${" is text, written "$${".
var tmplOpen = regexp.MustCompile(`\$\{`)

func escape(s string) string   { return tmplOpen.ReplaceAllLiteralString(s, "$${") }
func unescape(s string) string { return strings.ReplaceAll(s, "$${", "${") }

func (r *Reply) action() rules.ActionOut {
	switch r.Kind {
	case replyNews:
		news := make([]rules.ArticleOut, len(r.Articles))
		for i, a := range r.Articles {
			news[i] = rules.ArticleOut{Title: escape(a.Title), Description: escape(a.Description), URL: escape(a.URL), PicURL: escape(a.PicURL)}
		}
		return rules.ActionOut{Reply: &rules.MsgOut{News: news}}
	case replyImage:
		return rules.ActionOut{Reply: &rules.MsgOut{Image: &rules.MediaOut{MediaID: escape(r.MediaID)}}}
	case replyTransfer:
		return rules.ActionOut{Transfer: &rules.TransferOut{KfAccount: escape(r.KfAccount)}}
	}
	return rules.ActionOut{Reply: &rules.MsgOut{Text: []string{escape(r.Text)}}}
}

// expect is what the reply's own test checks: that the bot answers with
// it, which fails when another rule takes the key or word first.
func (r *Reply) expect() *rules.ReplyExpectOut {
	switch r.Kind {
	case replyNews:
		first := Article{}
		if len(r.Articles) > 0 {
			first = r.Articles[0]
		}
		return &rules.ReplyExpectOut{Type: "news", Title: first.Title}
	case replyImage:
		return &rules.ReplyExpectOut{Type: "image", MediaID: r.MediaID}
	case replyTransfer:
		return &rules.ReplyExpectOut{Type: "transfer", KfAccount: r.KfAccount}
	}
	return &rules.ReplyExpectOut{Type: "text", Text: r.Text}
}

// replyOf reads back the reply of a rule the console wrote.
func replyOf(r *rules.RuleOut) (Reply, error) {
	if len(r.Actions) != 1 {
		return Reply{}, fmt.Errorf("want one action, got %d", len(r.Actions))
	}
	a := r.Actions[0]
	switch m := a.Reply; {
	case a.Transfer != nil:
		return Reply{Kind: replyTransfer, KfAccount: unescape(a.Transfer.KfAccount)}, nil
	case m == nil || a.Kefu != nil:
	case len(m.News) > 0: // one article when an older console wrote it
		r := Reply{Kind: replyNews}
		for _, n := range m.News {
			r.Articles = append(r.Articles, Article{Title: unescape(n.Title), Description: unescape(n.Description),
				URL: unescape(n.URL), PicURL: unescape(n.PicURL)})
		}
		return r, nil
	case m.Image != nil:
		return Reply{Kind: replyImage, MediaID: unescape(m.Image.MediaID)}, nil
	case len(m.Text) == 1 && m.News == nil && m.Voice == nil && m.Video == nil:
		return Reply{Kind: replyText, Text: unescape(m.Text[0])}, nil
	}
	return Reply{}, errors.New("not a reply the console writes")
}

// consoleYAML is the draft's console.yaml: a rule and a test per reply.
func (d *draft) consoleYAML() ([]byte, error) {
	doc := rules.FileOut{Version: 1, Rules: []rules.RuleOut{}}
	events := map[string][]string{}
	var keys []string
	for _, b := range keyButtons(&d.Menu) {
		if _, ok := d.Replies[b.Key]; !ok {
			continue
		}
		if events[b.Key] == nil {
			keys = append(keys, b.Key)
		}
		events[b.Key] = append(events[b.Key], b.Event)
	}
	for _, k := range keys {
		r := d.Replies[k]
		name := clickPrefix + k
		doc.Rules = append(doc.Rules, rules.RuleOut{Name: name, On: events[k], Key: k, Actions: []rules.ActionOut{r.action()}})
		doc.Tests = append(doc.Tests, rules.TestOut{Name: name + " answers", Event: rules.EventOut{Type: events[k][0], Key: k},
			Expect: rules.ExpectOut{Reply: r.expect()}})
	}
	names := d.keywordNames()
	for i, kw := range d.Keywords {
		name := names[i]
		t := &rules.TextOut{Exact: kw.Words}
		if kw.Match == "contains" {
			t = &rules.TextOut{Contains: kw.Words}
		}
		doc.Rules = append(doc.Rules, rules.RuleOut{Name: name, On: "text", Text: t, Actions: []rules.ActionOut{kw.Reply.action()}})
		for _, w := range kw.Words {
			doc.Tests = append(doc.Tests, rules.TestOut{Name: fmt.Sprintf("%s answers %q", name, w), Event: rules.EventOut{Type: "text", Content: w},
				Expect: rules.ExpectOut{Reply: kw.Reply.expect()}})
		}
	}
	return marshal(Header+"\n"+headerNote, doc)
}

// menuYAML is the draft's menu.yaml, in the format `wxbot menu push` reads.
func (d *draft) menuYAML() ([]byte, error) {
	return marshal(MenuHeader+"\n# Push it by hand with: wxbot menu push menu.yaml\n", &d.Menu)
}

func marshal(header string, v any) ([]byte, error) {
	data, err := rules.MarshalYAML(v)
	if err != nil {
		return nil, fmt.Errorf("console: writing YAML: %w", err)
	}
	return append([]byte(header), data...), nil
}

// writeFile replaces path with data atomically (a temporary file renamed
// over it), so that the file watcher never reads half a file; nil data
// removes it.
func writeFile(path string, data []byte) error {
	if data == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("console: %w", err)
		}
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("console: cannot write in the rules directory: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("console: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("console: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}

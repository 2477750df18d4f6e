package console

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/wxbot/wxbot/engine/wechat"
)

// Reply kinds a marketer can choose for a key or a keyword.
const (
	replyText     = "text"
	replyNews     = "news"
	replyImage    = "image"
	replyTransfer = "transfer"
)

// Reply is one response as the console edits it: a text, one news
// article, an image by media_id, or a transfer to kefu.
type Reply struct {
	Kind        string
	Text        string
	Title       string
	Description string
	URL         string
	PicURL      string
	MediaID     string
	KfAccount   string
}

// Keyword is a keyword reply: the words, how they match, the reply. ID
// names its rule, so that its hit count follows it when rows move.
type Keyword struct {
	ID    string
	Match string // "exact" or "contains"
	Words []string
	Reply Reply
}

// draft is a marketer's change in progress: the whole of what the console
// owns, and the version of the files it started from.
type draft struct {
	Menu     wechat.Menu
	Replies  map[string]Reply // by button key
	Keywords []Keyword
	Base     string // version of the files when the edit began
}

func (d *draft) clone() *draft {
	c := &draft{Base: d.Base, Replies: make(map[string]Reply, len(d.Replies))}
	for k, v := range d.Replies {
		c.Replies[k] = v
	}
	c.Menu.Buttons = slices.Clone(d.Menu.Buttons)
	for i := range c.Menu.Buttons {
		c.Menu.Buttons[i].SubButtons = slices.Clone(c.Menu.Buttons[i].SubButtons)
	}
	for _, k := range d.Keywords {
		k.Words = slices.Clone(k.Words)
		c.Keywords = append(c.Keywords, k)
	}
	return c
}

func newID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// problems are what the console itself refuses before the rules are even
// loaded, in words a marketer acts on.
func (d *draft) problems(l lang, menuOwned bool) []string {
	var out []string
	keys := map[string]string{}
	for _, u := range keyButtons(&d.Menu) {
		if prev, dup := keys[u.Key]; dup && menuOwned {
			out = append(out, l.t("p.sameKey", prev, u.Name, u.Key))
			continue
		}
		keys[u.Key] = u.Name
		if r, ok := d.Replies[u.Key]; ok {
			out = append(out, r.problems(l, l.t("p.button", u.Name))...)
		}
	}
	seen := map[string]int{}
	for i, k := range d.Keywords {
		what := l.t("p.keyword", i+1)
		if len(k.Words) == 0 {
			out = append(out, l.t("p.noWords", what))
		}
		if k.Match != "exact" && k.Match != "contains" {
			out = append(out, l.t("p.match", what))
		}
		for _, w := range k.Words {
			if j, dup := seen[strings.ToLower(w)]; dup && j != i {
				out = append(out, l.t("p.wordTwice", what, w, j+1))
			}
			seen[strings.ToLower(w)] = i
		}
		if k.Reply.Kind == "" {
			out = append(out, l.t("p.noReply", what))
		}
		out = append(out, k.Reply.problems(l, what)...)
	}
	return out
}

func (r *Reply) problems(l lang, what string) []string {
	switch r.Kind {
	case "":
		return nil
	case replyText:
		if strings.TrimSpace(r.Text) == "" {
			return []string{l.t("p.textEmpty", what)}
		}
		if len(r.Text) > 2048 {
			return []string{l.t("p.textLong", what, len(r.Text))}
		}
	case replyNews:
		var p []string
		if strings.TrimSpace(r.Title) == "" {
			p = append(p, l.t("p.noTitle", what))
		}
		if !webURL(r.URL) {
			p = append(p, l.t("p.noLink", what))
		}
		if r.PicURL != "" && !webURL(r.PicURL) {
			p = append(p, l.t("p.picURL", what))
		}
		return p
	case replyImage:
		if strings.TrimSpace(r.MediaID) == "" {
			return []string{l.t("p.noMedia", what)}
		}
	case replyTransfer:
	default:
		return []string{l.t("p.kind", what, r.Kind)}
	}
	return nil
}

func webURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// keyButton is a leaf whose tap reaches the bot with a key.
type keyButton struct {
	Name, Key, Event string
}

func keyButtons(m *wechat.Menu) []keyButton {
	var out []keyButton
	add := func(b *wechat.Button) {
		if ev := wechat.ButtonEvent(b.Type); ev != "" && b.Key != "" && len(b.SubButtons) == 0 {
			out = append(out, keyButton{Name: b.Name, Key: b.Key, Event: ev})
		}
	}
	for i := range m.Buttons {
		add(&m.Buttons[i])
		for j := range m.Buttons[i].SubButtons {
			add(&m.Buttons[i].SubButtons[j])
		}
	}
	return out
}

// The form fields: a button is b0, a sub-button b0.s1; their fields are
// PATH.name, PATH.type, …, their reply PATH.r.kind, PATH.r.text, …;
// keyword rows are k0, k1, ….

func formReply(f url.Values, p string) Reply {
	g := func(k string) string { return strings.TrimSpace(f.Get(p + ".r." + k)) }
	return Reply{Kind: g("kind"), Text: strings.TrimRight(f.Get(p+".r.text"), " \r\n\t"), Title: g("title"),
		Description: g("desc"), URL: g("url"), PicURL: g("pic"), MediaID: g("media"), KfAccount: g("kf")}
}

func formButton(f url.Values, p string) wechat.Button {
	g := func(k string) string { return strings.TrimSpace(f.Get(p + "." + k)) }
	b := wechat.Button{Name: g("name"), Type: g("type")}
	switch b.Type {
	case "view":
		b.URL = g("url")
	case "miniprogram":
		b.URL, b.AppID, b.PagePath = g("url"), g("appid"), g("pagepath")
	case "media_id", "view_limited":
		b.MediaID = g("media_id")
	case "article_id", "article_view_limited":
		b.ArticleID = g("article_id")
	default:
		if wechat.ButtonEvent(b.Type) != "" {
			b.Key = g("key")
		}
	}
	return b
}

// count is a form's row count field, bounded so a forged form cannot make
// the server loop.
func count(f url.Values, name string, limit int) int {
	n, _ := strconv.Atoi(f.Get(name))
	return min(max(n, 0), limit)
}

// menuFromForm reads the menu page's buttons (repliesFromForm their
// replies). A button with sub-buttons keeps only its name.
func menuFromForm(f url.Values) wechat.Menu {
	var m wechat.Menu
	for i := range count(f, "buttons", 10) {
		p := fmt.Sprintf("b%d", i)
		b := formButton(f, p)
		for j := range count(f, p+".subs", 10) {
			sp := fmt.Sprintf("%s.s%d", p, j)
			b.SubButtons = append(b.SubButtons, formButton(f, sp))
		}
		if len(b.SubButtons) > 0 {
			b = wechat.Button{Name: b.Name, SubButtons: b.SubButtons}
		}
		m.Buttons = append(m.Buttons, b)
	}
	return m
}

func keywordsFromForm(f url.Values) []Keyword {
	var out []Keyword
	for i := range count(f, "keywords", 500) {
		p := fmt.Sprintf("k%d", i)
		k := Keyword{ID: f.Get(p + ".id"), Match: f.Get(p + ".match"), Reply: formReply(f, p)}
		if !validID(k.ID) {
			k.ID = newID()
		}
		k.Words = splitWords(f.Get(p + ".words"))
		out = append(out, k)
	}
	return out
}

func validID(id string) bool {
	if len(id) == 0 || len(id) > 16 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// splitWords takes keywords one per line or separated by commas (ASCII
// or Chinese).
func splitWords(s string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' || r == '，' || r == '\r' }) {
		if w = strings.TrimSpace(w); w != "" && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// applyMenuOp applies a structural edit of the menu page: add, delete or
// move a button or sub-button. WeChat's limits are kept: a 4th button or a
// 6th sub-button is refused with the reason (the page disables those
// buttons; a stale or forged page still posts them).
func applyMenuOp(l lang, m *wechat.Menu, op string) string {
	verb, path, _ := strings.Cut(op, ":")
	var i, j = -1, -1
	if path != "" {
		if _, err := fmt.Sscanf(path, "b%d.s%d", &i, &j); err != nil {
			j = -1
			fmt.Sscanf(path, "b%d", &i)
		}
	}
	if verb == "add" {
		if len(m.Buttons) >= wechat.MenuMaxButtons {
			return l.t("p.maxButtons", len(m.Buttons), wechat.MenuMaxButtons)
		}
		m.Buttons = append(m.Buttons, wechat.Button{Type: "click"})
		return ""
	}
	if i < 0 || i >= len(m.Buttons) {
		return ""
	}
	list := &m.Buttons
	at := i
	if j >= 0 {
		list, at = &m.Buttons[i].SubButtons, j
		if at >= len(*list) {
			return ""
		}
	}
	switch verb {
	case "addsub":
		b := &m.Buttons[i]
		switch n := len(b.SubButtons); {
		case n >= wechat.MenuMaxSubButtons:
			return l.t("p.maxSubs", b.Name, n, wechat.MenuMaxSubButtons)
		case n == 0: // the button becomes a parent: its tap moves to the first sub-button
			b.SubButtons = []wechat.Button{{Type: cmp.Or(b.Type, "click"), Key: b.Key, URL: b.URL, AppID: b.AppID, PagePath: b.PagePath, MediaID: b.MediaID, ArticleID: b.ArticleID}}
			*b = wechat.Button{Name: b.Name, SubButtons: b.SubButtons}
		default:
			b.SubButtons = append(b.SubButtons, wechat.Button{Type: "click"})
		}
	case "del":
		*list = slices.Delete(*list, at, at+1)
		if j >= 0 && len(m.Buttons[i].SubButtons) == 0 {
			m.Buttons[i] = wechat.Button{Name: m.Buttons[i].Name, Type: "click"}
		}
	case "up":
		if at > 0 {
			(*list)[at-1], (*list)[at] = (*list)[at], (*list)[at-1]
		}
	case "down":
		if at+1 < len(*list) {
			(*list)[at+1], (*list)[at] = (*list)[at], (*list)[at+1]
		}
	}
	return ""
}

func applyKeywordOp(ks []Keyword, op string) []Keyword {
	verb, path, _ := strings.Cut(op, ":")
	if verb == "add" {
		return append(ks, Keyword{ID: newID(), Match: "exact", Reply: Reply{Kind: replyText}})
	}
	var i int
	if _, err := fmt.Sscanf(path, "k%d", &i); err != nil || i < 0 || i >= len(ks) {
		return ks
	}
	switch verb {
	case "del":
		ks = slices.Delete(ks, i, i+1)
	case "up":
		if i > 0 {
			ks[i-1], ks[i] = ks[i], ks[i-1]
		}
	case "down":
		if i+1 < len(ks) {
			ks[i+1], ks[i] = ks[i], ks[i+1]
		}
	}
	return ks
}

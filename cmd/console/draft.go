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

	"github.com/wxbot/wxbot/actions"
	"github.com/wxbot/wxbot/engine/wechat"
)

// Reply kinds a marketer can choose for a key or a keyword.
const (
	replyText     = "text"
	replyNews     = "news"
	replyImage    = "image"
	replyTransfer = "transfer"
)

// Reply is one response as the console edits it: a text, news articles,
// an image by media_id, or a transfer to kefu. Only the fields of its
// Kind are set.
type Reply struct {
	Kind     string
	Text     string
	Articles []Article
	MediaID  string
	// MediaName is the name of the file the marketer uploaded as MediaID,
	// shown while the draft lasts. The rules keep the media_id alone: the
	// material's name is WeChat's to keep (wxbot media list shows it).
	MediaName string
	KfAccount string
}

// Article is one card of a news reply.
type Article struct {
	Title, Description, URL, PicURL string
}

// The most articles a news reply takes: WeChat shows only the first in
// answer to a user's message, which is what a keyword reply answers, and
// up to 8 otherwise (a menu tap is an event).
const (
	keywordArticles = 1
	menuArticles    = actions.MaxNewsArticles
	// formArticles bounds the articles read from a form, past the most
	// any reply takes: a 9th is named in the refusal, not dropped.
	formArticles = 2 * menuArticles
)

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
		v.Articles = slices.Clone(v.Articles)
		c.Replies[k] = v
	}
	c.Menu.Buttons = slices.Clone(d.Menu.Buttons)
	for i := range c.Menu.Buttons {
		c.Menu.Buttons[i].SubButtons = slices.Clone(c.Menu.Buttons[i].SubButtons)
	}
	for _, k := range d.Keywords {
		k.Words = slices.Clone(k.Words)
		k.Reply.Articles = slices.Clone(k.Reply.Articles)
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
			out = append(out, r.problems(l, l.t("p.button", u.Name), menuArticles)...)
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
		out = append(out, k.Reply.problems(l, what, keywordArticles)...)
	}
	return out
}

// problems are the reply's, named what; it takes at most maxArticles
// news articles.
func (r *Reply) problems(l lang, what string, maxArticles int) []string {
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
		if n := len(r.Articles); n > maxArticles {
			p = append(p, tooManyArticles(l, what, n, maxArticles))
		}
		as := r.Articles
		if len(as) == 0 {
			as = []Article{{}} // say what an article needs
		}
		for i, a := range as {
			w := what
			if len(as) > 1 {
				w = l.t("p.article", what, i+1)
			}
			if strings.TrimSpace(a.Title) == "" {
				p = append(p, l.t("p.noTitle", w))
			}
			if !webURL(a.URL) {
				p = append(p, l.t("p.noLink", w))
			}
			if a.PicURL != "" && !webURL(a.PicURL) {
				p = append(p, l.t("p.picURL", w))
			}
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

// tooManyArticles refuses n articles where most are taken, saying why
// when it is WeChat's rule for answers to a message.
func tooManyArticles(l lang, what string, n, most int) string {
	if most == keywordArticles {
		return l.t("p.newsOne", what, n)
	}
	return l.t("p.newsMax", what, n, most)
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
// keyword rows are k0, k1, …. A news reply's articles are PATH.r.a0.title,
// PATH.r.a0.url, …, counted by PATH.r.articles; an image's file input is
// PATH.r.file.

// formReply reads the reply under p, keeping only what its kind uses: the
// other kinds' fields are hidden on the page, and the draft is what
// would be published.
func formReply(f url.Values, p string) Reply {
	g := func(k string) string { return strings.TrimSpace(f.Get(p + ".r." + k)) }
	r := Reply{Kind: g("kind")}
	switch r.Kind {
	case replyText:
		r.Text = strings.TrimRight(f.Get(p+".r.text"), " \r\n\t")
	case replyNews:
		r.Articles = formArticleList(f, p)
	case replyImage:
		r.MediaID = g("media")
		// The name goes with the upload it names, not with a media_id
		// typed over it.
		if r.MediaID != "" && g("upid") == r.MediaID {
			r.MediaName = g("upname")
		}
	case replyTransfer:
		r.KfAccount = g("kf")
	}
	return r
}

func formArticleList(f url.Values, p string) []Article {
	g := func(k string) string { return strings.TrimSpace(f.Get(p + ".r." + k)) }
	if !f.Has(p + ".r.articles") {
		// a page loaded before replies had several articles: one article's
		// fields, unnumbered
		if a := (Article{Title: g("title"), Description: g("desc"), URL: g("url"), PicURL: g("pic")}); a != (Article{}) {
			return []Article{a}
		}
		return nil
	}
	var out []Article
	for i := range count(f, p+".r.articles", formArticles) {
		q := fmt.Sprintf("a%d.", i)
		out = append(out, Article{Title: g(q + "title"), Description: g(q + "desc"), URL: g(q + "url"), PicURL: g(q + "pic")})
	}
	return out
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

// replyAt calls edit with the reply that the form fields under path (b0,
// b0.s1, k2) edit, with what names it for the marketer and the most news
// articles it takes; it returns edit's refusal. A path that names no
// reply of the draft is left alone.
func (d *draft) replyAt(l lang, path string, edit func(r *Reply, what string, maxArticles int) string) string {
	if i, ok := keywordAt(path); ok {
		if i >= len(d.Keywords) {
			return ""
		}
		return edit(&d.Keywords[i].Reply, l.t("p.keyword", i+1), keywordArticles)
	}
	b := buttonAt(&d.Menu, path)
	if b == nil || b.Key == "" || wechat.ButtonEvent(b.Type) == "" {
		return ""
	}
	r, ok := d.Replies[b.Key]
	if !ok {
		return ""
	}
	refused := edit(&r, l.t("p.button", b.Name), menuArticles)
	d.Replies[b.Key] = r
	return refused
}

// keywordAt is the row a keyword's path (k2) names.
func keywordAt(path string) (int, bool) {
	var i int
	if _, err := fmt.Sscanf(path, "k%d", &i); err != nil || i < 0 || path != fmt.Sprintf("k%d", i) {
		return 0, false
	}
	return i, true
}

// buttonAt is the leaf button a path (b0, b0.s1) names, or nil.
func buttonAt(m *wechat.Menu, path string) *wechat.Button {
	var i, j int
	bs := m.Buttons
	if _, err := fmt.Sscanf(path, "b%d.s%d", &i, &j); err == nil && path == fmt.Sprintf("b%d.s%d", i, j) {
		if i >= 0 && i < len(bs) && j >= 0 && j < len(bs[i].SubButtons) {
			return &bs[i].SubButtons[j]
		}
	} else if _, err := fmt.Sscanf(path, "b%d", &i); err == nil && path == fmt.Sprintf("b%d", i) {
		if i >= 0 && i < len(bs) && len(bs[i].SubButtons) == 0 {
			return &bs[i]
		}
	}
	return nil
}

// applyArticleOp applies an edit of a news reply's articles: art-add:PATH,
// art-del:PATH.aN, art-up:PATH.aN, art-down:PATH.aN. An article past the
// reply's limit is refused with the reason (the page disables the button;
// a stale or forged page still posts it); the last article stays.
func (d *draft) applyArticleOp(l lang, op string) string {
	op, ok := strings.CutPrefix(op, "art-")
	if !ok {
		return ""
	}
	verb, path, _ := strings.Cut(op, ":")
	n := -1
	if verb != "add" {
		at := strings.LastIndex(path, ".a")
		if at < 0 {
			return ""
		}
		var err error
		if n, err = strconv.Atoi(path[at+2:]); err != nil {
			return ""
		}
		path = path[:at]
	}
	return d.replyAt(l, path, func(r *Reply, what string, most int) string {
		as := r.Articles
		if r.Kind != replyNews {
			return ""
		}
		switch {
		case verb == "add" && len(as) >= most:
			return tooManyArticles(l, what, len(as)+1, most)
		case verb == "add":
			r.Articles = append(as, Article{})
		case n < 0 || n >= len(as):
		case verb == "del" && len(as) > 1:
			r.Articles = slices.Delete(as, n, n+1)
		case verb == "up" && n > 0:
			as[n-1], as[n] = as[n], as[n-1]
		case verb == "down" && n+1 < len(as):
			as[n+1], as[n] = as[n], as[n+1]
		}
		return ""
	})
}

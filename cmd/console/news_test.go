package console

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wxbot/wxbot/rules"
)

// putNews sets the fields of a news reply under p (b0, k0) as the reply
// editor posts them: one numbered group per article.
func putNews(f url.Values, p string, titles ...string) url.Values {
	f.Set(p+".r.kind", "news")
	f.Set(p+".r.articles", fmt.Sprint(len(titles)))
	for i, title := range titles {
		a := fmt.Sprintf("%s.r.a%d.", p, i)
		f.Set(a+"title", title)
		f.Set(a+"url", fmt.Sprintf("https://example.com/%d", i))
	}
	return f
}

// newsButton is the menu page's form for one click button NEWS whose
// reply is news of these articles.
func newsButton(op string, titles ...string) url.Values {
	return putNews(url.Values{"buttons": {"1"}, "b0.name": {"新品"}, "b0.type": {"click"}, "b0.key": {"NEWS"}, "op": {op}}, "b0", titles...)
}

// testFile is a file a multipart post carries.
type testFile struct {
	name string
	data []byte
}

// postMultipart sends form as the edit pages do (multipart/form-data),
// with files by field name, and the session's CSRF token unless form has
// one.
func (b *browser) postMultipart(path string, form url.Values, files map[string]testFile) (int, string) {
	b.h.t.Helper()
	if !form.Has("csrf") {
		form.Set("csrf", b.csrf)
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, vs := range form {
		for _, v := range vs {
			w.WriteField(k, v)
		}
	}
	for field, f := range files {
		fw, err := w.CreateFormFile(field, f.name)
		if err != nil {
			b.h.t.Fatal(err)
		}
		fw.Write(f.data)
	}
	w.Close()
	req, _ := http.NewRequest("POST", b.h.ts.URL+path, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	code, body, _ := b.send(req)
	return code, body
}

func titles(as []Article) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Title)
	}
	return out
}

// consoleNews is the news list console.yaml gives the rule named name.
func consoleNews(t *testing.T, h *harness, name string) []rules.ArticleOut {
	t.Helper()
	var doc rules.FileOut
	if err := yaml.Unmarshal([]byte(h.file(ConsoleFile)), &doc); err != nil {
		t.Fatalf("console.yaml: %v\n%s", err, h.file(ConsoleFile))
	}
	for _, r := range doc.Rules {
		if r.Name == name && len(r.Actions) == 1 && r.Actions[0].Reply != nil {
			return r.Actions[0].Reply.News
		}
	}
	t.Fatalf("console.yaml has no reply rule %q:\n%s", name, h.file(ConsoleFile))
	return nil
}

// A menu button's reply (a tap, not a message) takes several articles:
// they are published as the rules' news list, answer the tap, and read
// back.
func TestNewsArticlesPublish(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser()
	b.login("alice")
	form := newsButton("publish", "第一篇", "第二篇", "第三篇")
	form.Set("b0.r.a1.desc", "摘要 ${不是表达式}")
	form.Set("b0.r.a2.pic", "https://example.com/2.jpg")
	code, body := b.postMultipart("/menu", form, nil)
	if code != http.StatusOK || !strings.Contains(body, "Published") {
		t.Fatalf("publish: %d\n%s", code, body)
	}
	news := consoleNews(t, h, "console: 菜单 NEWS")
	if len(news) != 3 || news[0].Title != "第一篇" || news[2].Title != "第三篇" || news[1].Description != "摘要 $${不是表达式}" ||
		news[2].PicURL != "https://example.com/2.jpg" || news[1].URL != "https://example.com/1" {
		t.Errorf("console.yaml's news: %+v", news)
	}
	e := h.srv.single().dryRun(t.Context(), &rules.EventDoc{Type: "click", Key: "NEWS"}, nil)
	if e.Reply == nil || len(e.Reply.Articles) != 3 || e.Reply.Articles[1].Description != "摘要 ${不是表达式}" {
		t.Errorf("the tap answers %+v", e)
	}
	disk, _ := readOnDisk(h.dir)
	back, err := disk.draft()
	if err != nil || !slices.Equal(titles(back.Replies["NEWS"].Articles), []string{"第一篇", "第二篇", "第三篇"}) {
		t.Fatalf("read back: %+v, %v", back.Replies, err)
	}
	_, body, _ = b.do("GET", "/menu", nil)
	for _, w := range []string{`name="b0.r.articles" value="3"`, `name="b0.r.a2.title" value="第三篇"`, `enctype="multipart/form-data"`} {
		if !strings.Contains(body, w) {
			t.Errorf("the menu page lacks %s", w)
		}
	}
	if strings.Contains(body, "unpublished changes") {
		t.Error("the page read back differs from what was published")
	}
}

// Without JavaScript, the article buttons post ops: add, move, delete.
func TestNewsArticleEdits(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser()
	b.login("alice")
	steps := []struct {
		form url.Values
		want []string
	}{
		{newsButton("art-add:b0", "A"), []string{"A", ""}},
		{newsButton("art-up:b0.a1", "A", "B"), []string{"B", "A"}},
		{newsButton("art-down:b0.a0", "B", "A"), []string{"A", "B"}},
		{newsButton("art-del:b0.a0", "A", "B"), []string{"B"}},
		{newsButton("art-del:b0.a0", "B"), []string{"B"}}, // the last one stays: the page disables its button
		{newsButton("art-up:b0.a0", "B"), []string{"B"}},
		{newsButton("art-del:b0.a7", "B"), []string{"B"}},
	}
	for _, st := range steps {
		code, body := b.postMultipart("/menu", st.form, nil)
		if code != http.StatusOK {
			t.Fatalf("%s: %d\n%s", st.form.Get("op"), code, body)
		}
		if got := titles(b.draft().Replies["NEWS"].Articles); !slices.Equal(got, st.want) {
			t.Fatalf("after %s: %q, want %q", st.form.Get("op"), got, st.want)
		}
	}
	_, body := b.postMultipart("/menu", newsButton("art-add:b0", "A"), nil)
	if !strings.Contains(body, `name="b0.r.a1.title" value=""`) || !strings.Contains(body, `value="art-del:b0.a1"`) {
		t.Errorf("the added article has no fields:\n%s", body)
	}
	// An 8th is the last: the page disables the button, and a stale page's
	// 9th is refused.
	eight := []string{"1", "2", "3", "4", "5", "6", "7", "8"}
	code, body := b.postMultipart("/menu", newsButton("art-add:b0", eight...), nil)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, html(`button "新品": 9 articles: WeChat shows at most 8`)) {
		t.Errorf("a 9th article: %d\n%s", code, body)
	}
	if got := b.draft().Replies["NEWS"].Articles; len(got) != 8 {
		t.Errorf("after a refused 9th: %d articles", len(got))
	}
	if _, body := b.postMultipart("/menu", newsButton("", eight...), nil); !strings.Contains(body, `value="art-add:b0" formnovalidate disabled`) {
		t.Errorf("the add button is enabled at 8 articles:\n%s", body)
	}
}

// A keyword reply answers a message, and WeChat shows only the first
// article of such an answer: the console refuses a second, in the
// marketer's language.
func TestKeywordNewsOneArticle(t *testing.T) {
	for _, tt := range []struct{ lang, want string }{
		{"en", "keyword reply 1: 2 articles, but WeChat shows only one article in answer to a user's message"},
		{"", "第 1 条关键词回复：有 2 篇图文，但回复粉丝发来的消息时，微信只显示一篇图文"},
	} {
		t.Run(cmpOr(tt.lang, "zh-CN"), func(t *testing.T) {
			h := newHarness(t, nil, func(c *Config) { c.Lang = tt.lang })
			b := h.browser()
			b.login("alice")
			kw := func(op string, titles ...string) url.Values {
				return putNews(url.Values{"keywords": {"1"}, "k0.id": {"ab"}, "k0.match": {"exact"}, "k0.words": {"新品"}, "op": {op}}, "k0", titles...)
			}
			for _, op := range []string{"test", "publish"} {
				code, body := b.postMultipart("/keywords", kw(op, "一", "二"), nil)
				if code != http.StatusUnprocessableEntity || !strings.Contains(body, html(tt.want)) {
					t.Errorf("%s: %d, want 422 with %q\n%s", op, code, tt.want, body)
				}
			}
			if h.file(ConsoleFile) != "" {
				t.Errorf("console.yaml written:\n%s", h.file(ConsoleFile))
			}
			// The add button says why it is off; a stale page's add is refused.
			_, body := b.postMultipart("/keywords", kw("", "一"), nil)
			if !strings.Contains(body, `value="art-add:k0" formnovalidate disabled`) {
				t.Errorf("a keyword reply's add button is enabled:\n%s", body)
			}
			code, body := b.postMultipart("/keywords", kw("art-add:k0", "一"), nil)
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, html(tt.want)) {
				t.Errorf("add: %d\n%s", code, body)
			}
			if got := b.draft().Keywords[0].Reply.Articles; len(got) != 1 {
				t.Errorf("after a refused add: %+v", got)
			}
			// One article publishes.
			if code, body := b.postMultipart("/keywords", kw("publish", "一"), nil); code != http.StatusOK {
				t.Errorf("one article: %d\n%s", code, body)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestNewsRefused(t *testing.T) {
	nine := newsButton("publish", "1", "2", "3", "4", "5", "6", "7", "8", "9")
	noLink := newsButton("publish", "甲", "乙")
	noLink.Del("b0.r.a1.url")
	noTitle := newsButton("publish", "甲", "")
	for _, tt := range []struct {
		name string
		form url.Values
		want string
	}{
		{"a 9th article", nine, `button "新品": 9 articles: WeChat shows at most 8`},
		{"an article without a link", noLink, `button "新品", article 2: the article needs a link`},
		{"an article without a title", noTitle, `button "新品", article 2: the article needs a title`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			b := h.browser()
			b.login("alice")
			code, body := b.postMultipart("/menu", tt.form, nil)
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, html(tt.want)) {
				t.Errorf("%d, want 422 with %q\n%s", code, tt.want, body)
			}
			if h.file(ConsoleFile) != "" || h.menu.count() != 0 {
				t.Error("a refused change was written or pushed")
			}
		})
	}
}

// console.yaml as an older console wrote it (one article per news reply)
// still reads, shows, and writes back the same.
func TestOldConsoleYAMLReads(t *testing.T) {
	old, err := os.ReadFile("testdata/console-v1-news.yaml")
	if err != nil {
		t.Fatal(err)
	}
	menu, err := os.ReadFile("testdata/menu-v1-news.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, map[string]string{ConsoleFile: string(old), MenuFile: string(menu)})
	disk, _ := readOnDisk(h.dir)
	d, err := disk.draft()
	if err != nil {
		t.Fatal(err)
	}
	want := []Article{{Title: "本周新品", Description: "点开看看 ${不是表达式}", URL: "https://example.com/new", PicURL: "https://example.com/new.jpg"}}
	if r := d.Replies["NEWS"]; r.Kind != replyNews || !slices.Equal(r.Articles, want) {
		t.Errorf("the button's reply: %+v", r)
	}
	if r := d.Keywords[0].Reply; !slices.Equal(r.Articles, []Article{{Title: "价目", URL: "https://example.com/p"}}) {
		t.Errorf("the keyword's reply: %+v", r)
	}
	if again, _ := d.consoleYAML(); string(again) != string(old) {
		t.Errorf("written back:\n%s\nwant:\n%s", again, old)
	}
	b := h.browser()
	b.login("alice")
	_, body, _ := b.do("GET", "/menu", nil)
	if !strings.Contains(body, `name="b0.r.a0.title" value="本周新品"`) || strings.Contains(body, "unpublished changes") {
		t.Errorf("the menu page:\n%s", body)
	}
	form := newsButton("publish", "本周新品")
	form.Set("b0.r.a0.desc", "点开看看 ${不是表达式}")
	form.Set("b0.r.a0.url", "https://example.com/new")
	form.Set("b0.r.a0.pic", "https://example.com/new.jpg")
	if code, body := b.postMultipart("/menu", form, nil); code != http.StatusOK || !strings.Contains(body, "nothing to publish") {
		t.Errorf("publishing it unchanged: %d\n%s", code, body)
	}
}

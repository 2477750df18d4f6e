package console

import (
	"context"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// FuzzForms feeds the edit pages' parsers forged forms: nothing panics, the
// menu never grows past WeChat's limits through an edit, and what the
// console would publish reads back as the same replies and keywords.
func FuzzForms(f *testing.F) {
	f.Add("buttons=1&b0.name=A&b0.type=click&b0.key=K&b0.r.kind=text&b0.r.text=hi&op=addsub:b0")
	f.Add("buttons=2&b0.name=A&b0.subs=2&b0.s0.name=x&b0.s0.type=click&b0.s0.key=X&b0.s0.r.kind=news&b0.s0.r.title=t&b0.s0.r.url=https://e.x&b0.s1.name=y&b0.s1.type=view&b0.s1.url=https://y&b1.name=B&op=del:b0.s1")
	f.Add("keywords=2&k0.id=ab&k0.match=exact&k0.words=a,b&k0.r.kind=image&k0.r.media=M&k1.match=contains&k1.words=${x}&k1.r.kind=transfer&op=kw-up:k1")
	f.Add("buttons=99&subs=-1&b0.subs=999&op=down:b7.s9&keywords=100000")
	f.Add("buttons=1&b0.name=N&b0.type=click&b0.key=N&b0.r.kind=news&b0.r.articles=3&b0.r.a0.title=a&b0.r.a0.url=https://a.x&b0.r.a1.title=b&b0.r.a1.desc=${d}&b0.r.a1.url=https://b.x&b0.r.a2.title=c&b0.r.a2.url=https://c.x&b0.r.a2.pic=https://c.x/p.png&op=art-up:b0.a2")
	f.Add("buttons=1&b0.name=N&b0.subs=1&b0.s0.name=S&b0.s0.type=click&b0.s0.key=S&b0.s0.r.kind=news&b0.s0.r.articles=8&b0.s0.r.a7.title=t&op=art-add:b0.s0")
	f.Add("keywords=1&k0.id=ab&k0.match=exact&k0.words=w&k0.r.kind=news&k0.r.articles=1&k0.r.a0.title=t&k0.r.a0.url=https://t.x&op=art-add:k0")
	f.Add("keywords=1&k0.id=ab&k0.match=exact&k0.words=w&k0.r.kind=news&k0.r.articles=99&k0.r.a15.title=x&k0.r.a16.title=y&op=art-del:k0.a-1")
	f.Add("buttons=1&b0.name=P&b0.type=click&b0.key=P&b0.r.kind=image&b0.r.media=M&b0.r.upname=p.png&b0.r.upid=M&b0.r.file=&op=art-down:b0.a")
	f.Add("keywords=1&k0.id=ab&k0.match=exact&k0.words=w&k0.r.kind=news&k0.r.title=old&k0.r.url=https://old.x&op=art-del:k0.a0")
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		d := &draft{Menu: menuFromForm(form)}
		d.Replies = repliesFromForm(form, &d.Menu)
		d.Keywords = keywordsFromForm(form)
		most := func() int {
			n := 0
			for _, r := range d.Replies {
				n = max(n, len(r.Articles))
			}
			for _, k := range d.Keywords {
				n = max(n, len(k.Reply.Articles))
			}
			return n
		}
		if before := most(); d.applyArticleOp(langEN, form.Get("op")) == "" && most() > max(before, menuArticles) {
			t.Fatalf("an edit made %d articles", most())
		}
		before := len(d.Menu.Buttons)
		applyMenuOp(langEN, &d.Menu, form.Get("op"))
		if n := len(d.Menu.Buttons); n > max(before, 3) {
			t.Fatalf("an edit made %d buttons", n)
		}
		d.Keywords = applyKeywordOp(d.Keywords, form.Get("op"))
		data, err := d.consoleYAML()
		if err != nil {
			t.Fatal(err)
		}
		if len(d.problems(langEN, true)) > 0 {
			return // refused: never written
		}
		back, err := (&onDisk{console: data}).draft()
		if err != nil {
			t.Fatalf("the console cannot read what it wrote: %v\n%s", err, data)
		}
		written := map[string]Reply{}
		for _, b := range keyButtons(&d.Menu) {
			if r, ok := d.Replies[b.Key]; ok {
				r.MediaName = "" // the draft's alone
				written[b.Key] = r
			}
		}
		if !reflect.DeepEqual(back.Replies, written) {
			t.Fatalf("replies read back %+v, wrote %+v\n%s", back.Replies, written, data)
		}
		if len(back.Keywords) != len(d.Keywords) {
			t.Fatalf("%d keywords read back, wrote %d", len(back.Keywords), len(d.Keywords))
		}
		for i, k := range d.Keywords {
			got := back.Keywords[i]
			if k.Match != "contains" {
				k.Match = "exact"
			}
			k.Reply.MediaName = ""
			if !validID(got.ID) || got.Match != k.Match || !reflect.DeepEqual(got.Reply, k.Reply) || len(got.Words) != len(k.Words) {
				t.Fatalf("keyword %d read back %+v, wrote %+v\n%s", i, got, k, data)
			}
		}
	})
}

// FuzzReadForm feeds the console's form reader forged bodies, urlencoded
// and multipart, with and without a route that takes files: nothing
// panics, a body past the limit is refused, and what is read stays within
// it (fields within the part limit, files within imageMax, their names
// without a directory).
func FuzzReadForm(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "a=1&b=2", true)
	f.Add("multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n--X\r\nContent-Disposition: form-data; name=\"b0.r.file\"; filename=\"p.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n\r\n--X--\r\n", true)
	f.Add("multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"f\"; filename=\"../../etc/passwd\"\r\n\r\nx\r\n--X--\r\n", false)
	f.Add("multipart/form-data; boundary=", "--\r\n", true)
	f.Add("multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n", true)
	f.Fuzz(func(t *testing.T, contentType, body string, edit bool) {
		r := httptest.NewRequest("POST", "/keywords?q=1", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		if edit {
			r = r.WithContext(context.WithValue(r.Context(), editFormKey{}, true))
		}
		got, err := readForm(httptest.NewRecorder(), r)
		if err != nil {
			return
		}
		if n := len(got.PostForm); n > formMaxParts {
			t.Errorf("%d fields read, over %d", n, formMaxParts)
		}
		files, _ := got.Context().Value(filesKey{}).(map[string]formFile)
		if !edit && len(files) > 0 {
			t.Errorf("a route that takes no files kept %d", len(files))
		}
		for field, f := range files {
			if int64(len(f.data)) > imageMax || strings.Contains(f.name, "/") {
				t.Errorf("file %s: %d bytes, name %q", field, len(f.data), f.name)
			}
		}
	})
}

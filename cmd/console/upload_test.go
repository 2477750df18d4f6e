package console

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
	"github.com/wxbot/wxbot/rules"
)

// pngImage is the start of a real PNG: what the type is told by.
var pngImage = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")

// mediaHarness is a console whose account uploads to a fake WeChat API.
func mediaHarness(t *testing.T, lang string) (*harness, *wechattest.Server) {
	t.Helper()
	fake := wechattest.New("wxconsole00000001", "console-secret")
	t.Cleanup(fake.Close)
	client, err := wechat.NewClient(wechat.ClientConfig{AppID: fake.AppID, Secret: wechat.Secret(fake.Secret), Base: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, nil, func(c *Config) {
		c.Media = client
		c.Lang = lang
	})
	return h, fake
}

// imageButton is the menu page's form for one click button POSTER whose
// reply is an image.
func imageButton(op, mediaID string) url.Values {
	return url.Values{"buttons": {"1"}, "b0.name": {"海报"}, "b0.type": {"click"}, "b0.key": {"POSTER"},
		"b0.r.kind": {"image"}, "b0.r.media": {mediaID}, "op": {op}}
}

func TestUploadImage(t *testing.T) {
	h, fake := mediaHarness(t, "en")
	b := h.browser()
	b.login("alice")
	_, body := b.postMultipart("/menu", imageButton("", ""), nil)
	if !strings.Contains(body, `type="file" name="b0.r.file"`) {
		t.Fatalf("no file input for the image reply:\n%s", body)
	}
	// A PNG named .jpg: WeChat takes the format from the name, so it is
	// sent named as what it is.
	code, body := b.postMultipart("/menu", imageButton("test", ""), map[string]testFile{"b0.r.file": {"海报 final.jpg", pngImage}})
	if code != http.StatusOK || !strings.Contains(body, "Test passed") {
		t.Fatalf("upload and test: %d\n%s", code, body)
	}
	ups := fake.Uploads()
	if len(ups) != 1 || !ups[0].Permanent || ups[0].Type != "image" || ups[0].Filename != "海报 final.png" || !bytes.Equal(ups[0].Data, pngImage) {
		t.Fatalf("uploads %+v", ups)
	}
	if c := fake.Calls(wechattest.PathMaterialAdd); len(c) != 1 || c[0].Query.Get("type") != "image" {
		t.Errorf("add_material calls %+v", c)
	}
	id := ups[0].MediaID
	if r := b.draft().Replies["POSTER"]; r.MediaID != id || r.MediaName != "海报 final.jpg" {
		t.Errorf("the draft's reply %+v, want media_id %s", r, id)
	}
	if !strings.Contains(body, `name="b0.r.media" value="`+id+`"`) || !strings.Contains(body, "海报 final.jpg") {
		t.Errorf("the page does not show the upload:\n%s", body)
	}
	// The page posts the media_id back; Publish writes it, with no second
	// upload.
	form := imageButton("publish", id)
	form.Set("b0.r.upname", "海报 final.jpg")
	form.Set("b0.r.upid", id)
	code, body = b.postMultipart("/menu", form, map[string]testFile{"b0.r.file": {"", nil}})
	if code != http.StatusOK || !strings.Contains(body, "Published") {
		t.Fatalf("publish: %d\n%s", code, body)
	}
	if got := h.file(ConsoleFile); !strings.Contains(got, "media_id: "+id) || strings.Contains(got, "final.jpg") {
		t.Errorf("console.yaml:\n%s", got)
	}
	if len(fake.Uploads()) != 1 {
		t.Errorf("%d uploads, want 1", len(fake.Uploads()))
	}
	if e := h.srv.single().dryRun(t.Context(), &rules.EventDoc{Type: "click", Key: "POSTER"}, nil); e.Reply == nil || e.Reply.MediaID != id {
		t.Errorf("the tap answers %+v", e)
	}
	// The file's name is the draft's: a media_id typed over it drops it.
	form = imageButton("", "OTHER_ID")
	form.Set("b0.r.upname", "海报 final.jpg")
	form.Set("b0.r.upid", id)
	if _, body := b.postMultipart("/menu", form, nil); strings.Contains(body, "海报 final.jpg") {
		t.Errorf("the name of another upload is shown:\n%s", body)
	}
}

// A keyword's image uploads the same; the upload lands in its own row
// even when the op moves the rows.
func TestUploadKeywordImage(t *testing.T) {
	h, fake := mediaHarness(t, "en")
	b := h.browser()
	b.login("alice")
	form := url.Values{"keywords": {"2"}, "k0.id": {"aa"}, "k0.match": {"exact"}, "k0.words": {"文字"}, "k0.r.kind": {"text"}, "k0.r.text": {"hi"},
		"k1.id": {"bb"}, "k1.match": {"exact"}, "k1.words": {"图片"}, "k1.r.kind": {"image"}, "op": {"kw-up:k1"}}
	code, body := b.postMultipart("/keywords", form, map[string]testFile{"k1.r.file": {"poster.gif", []byte("GIF89a\x01\x00\x01\x00")}})
	if code != http.StatusOK {
		t.Fatalf("%d\n%s", code, body)
	}
	d := b.draft()
	ups := fake.Uploads()
	if len(ups) != 1 || ups[0].Filename != "poster.gif" || d.Keywords[0].ID != "bb" || d.Keywords[0].Reply.MediaID != ups[0].MediaID || d.Keywords[1].Reply.MediaID != "" {
		t.Errorf("uploads %+v, keywords %+v", ups, d.Keywords)
	}
}

// A file WeChat would refuse is refused before any call, and WeChat's own
// refusal is shown: in the marketer's language, with the draft kept.
func TestUploadRefused(t *testing.T) {
	big := append(append([]byte{}, pngImage...), make([]byte, 10<<20)...)
	tests := []struct {
		name, lang string
		file       testFile
		fail       int // WeChat's errcode
		status     int
		want       string
	}{
		{"a text file", "en", testFile{"notes.txt", []byte("hello, not an image")}, 0, 422,
			`button "海报": notes.txt is not a JPG, PNG, GIF or BMP image, the formats WeChat takes`},
		{"a text file, in Chinese", "", testFile{"notes.txt", []byte("hello, not an image")}, 0, 422,
			"菜单「海报」：notes.txt 不是 JPG、PNG、GIF 或 BMP 图片，微信只接受这几种格式"},
		{"too large", "en", testFile{"big.png", big}, 0, 422, `button "海报": big.png is too large: WeChat takes images up to 10 MB`},
		{"empty", "en", testFile{"empty.png", []byte{}}, 0, 422, `button "海报": empty.png is empty`},
		{"WeChat refuses it", "en", testFile{"ok.png", pngImage}, 40009, 502, `button "海报": WeChat did not take the image ok.png:`},
		{"WeChat refuses it, in Chinese", "", testFile{"ok.png", pngImage}, 40009, 502, "菜单「海报」：微信没有接收图片 ok.png："},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, fake := mediaHarness(t, tt.lang)
			if tt.fail != 0 {
				fake.FailUntilCleared(wechattest.PathMaterialAdd, tt.fail)
			}
			b := h.browser()
			b.login("alice")
			for _, op := range []string{"", "publish"} {
				code, body := b.postMultipart("/menu", imageButton(op, ""), map[string]testFile{"b0.r.file": tt.file})
				if code != tt.status || !strings.Contains(body, html(tt.want)) {
					t.Fatalf("%q: %d, want %d with %q\n%s", op, code, tt.status, tt.want, body)
				}
				if strings.Contains(body, "access_token") || strings.Contains(body, "console-secret") {
					t.Fatalf("a secret on the page:\n%s", body)
				}
				if d := b.draft(); describeMenu(d) != "海报" || d.Replies["POSTER"].Kind != replyImage {
					t.Fatalf("the draft was lost: %q %+v", describeMenu(d), d.Replies)
				}
			}
			if tt.fail == 0 && len(fake.Calls(wechattest.PathMaterialAdd)) != 0 {
				t.Error("a refused file reached WeChat")
			}
			if h.file(ConsoleFile) != "" || h.menu.count() != 0 {
				t.Error("a refused upload published")
			}
		})
	}
}

// Without API credentials there is nothing to upload with: the page says
// how an operator uploads instead, and a posted file is refused, saying so.
func TestUploadWithoutMediaAPI(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser()
	b.login("alice")
	_, body := b.postMultipart("/menu", imageButton("", ""), nil)
	if strings.Contains(body, `type="file"`) || !strings.Contains(body, "wxbot media upload FILE --permanent") {
		t.Errorf("the page offers an upload it cannot make:\n%s", body)
	}
	code, body := b.postMultipart("/menu", imageButton("", ""), map[string]testFile{"b0.r.file": {"a.png", pngImage}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "cannot upload images") {
		t.Errorf("a file posted anyway: %d\n%s", code, body)
	}
}

// The edit forms are multipart: a long page still reads (the standard
// library's reader stops at 1000 fields), the CSRF token is still
// required, and a body past the limit says why instead of a CSRF error.
func TestMultipartForms(t *testing.T) {
	h, _ := mediaHarness(t, "en")
	b := h.browser()
	b.login("alice")
	form := url.Values{"keywords": {"300"}}
	for i := range 300 {
		p := fmt.Sprintf("k%d", i)
		form.Set(p+".id", fmt.Sprintf("%08x", i+1))
		form.Set(p+".match", "exact")
		form.Set(p+".words", fmt.Sprintf("词%d", i))
		form.Set(p+".r.kind", "text")
		form.Set(p+".r.text", "hi")
	}
	if code, body := b.postMultipart("/keywords", form, nil); code != http.StatusOK || len(b.draft().Keywords) != 300 {
		t.Fatalf("1500 fields: %d, %d keywords\n%.2000s", code, len(b.draft().Keywords), body)
	}
	bad := url.Values{"csrf": {"forged"}, "keywords": {"0"}, "op": {"publish"}}
	if code, _ := b.postMultipart("/keywords", bad, nil); code != http.StatusForbidden {
		t.Errorf("a forged CSRF token: %d, want 403", code)
	}
	huge := append(append([]byte{}, pngImage...), make([]byte, 13<<20)...)
	code, body := b.postMultipart("/menu", imageButton("", ""), map[string]testFile{"b0.r.file": {"huge.png", huge}})
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than") {
		t.Errorf("a 13 MB body: %d\n%s", code, body)
	}
	// Other pages take multipart too, with their own (small) limit.
	if code, body := b.postMultipart("/try", url.Values{"text": {"价格"}}, nil); code != http.StatusOK || !strings.Contains(body, "价目表") {
		t.Errorf("try it, multipart: %d\n%s", code, body)
	}
	if code, _ := b.postMultipart("/try", url.Values{"text": {"价格"}}, map[string]testFile{"x": {"a.png", make([]byte, 2<<20)}}); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 MB post to try it: %d, want 413", code)
	}
}

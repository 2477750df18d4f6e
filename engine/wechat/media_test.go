package wechat_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

func newMediaClient(t *testing.T) (*wechattest.Server, *wechat.Client) {
	t.Helper()
	fake := wechattest.New("wxapp", "secret")
	t.Cleanup(fake.Close)
	c, err := wechat.NewClient(wechat.ClientConfig{Base: fake.URL, AppID: "wxapp", Secret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	return fake, c
}

func TestAutoReplyInfoDocSample(t *testing.T) {
	_, c := newMediaClient(t)
	info, err := c.AutoReplyInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.IsAddFriendReplyOpen != 1 || info.IsAutoReplyOpen != 1 {
		t.Errorf("switches %d %d", info.IsAddFriendReplyOpen, info.IsAutoReplyOpen)
	}
	if info.AddFriend == nil || info.AddFriend.Content != "Thanks for your attention!" ||
		info.MessageDefault == nil || info.MessageDefault.Type != "text" {
		t.Errorf("add friend %+v, default %+v", info.AddFriend, info.MessageDefault)
	}
	if info.Keyword == nil || len(info.Keyword.List) != 4 {
		t.Fatalf("keyword rules: %+v", info.Keyword)
	}
	news := info.Keyword.List[0]
	if news.RuleName != "autoreply-news" || news.ReplyMode != wechat.ReplyModeAll ||
		news.Keywords[0].MatchMode != wechat.MatchContain || news.Keywords[0].Content != "news测试" {
		t.Errorf("first rule %+v", news)
	}
	if len(news.Replies) != 2 || news.Replies[1].NewsInfo == nil || len(news.Replies[1].NewsInfo.List) != 2 ||
		news.Replies[1].NewsInfo.List[1].Title != "MULTI_NEWS4" || news.Replies[1].Content == "" {
		t.Errorf("news replies %+v", news.Replies)
	}
	if v := info.Keyword.List[3]; v.Keywords[0].MatchMode != wechat.MatchEqual || v.Replies[0].Type != wechat.AutoReplyVideo {
		t.Errorf("video rule %+v", v)
	}
}

func TestAutoReplyInfoImg(t *testing.T) {
	fake, c := newMediaClient(t)
	fake.Answer(wechattest.PathAutoReplyInfo, wechattest.AutoReplyConsole)
	info, err := c.AutoReplyInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.AddFriend.Type != "img" {
		t.Errorf("add friend type %q, want img", info.AddFriend.Type)
	}
	if info.IsAutoReplyOpen != 0 {
		t.Errorf("is_autoreply_open %d", info.IsAutoReplyOpen)
	}
}

func TestSelfMenuInfoConsoleSample(t *testing.T) {
	_, c := newMediaClient(t)
	m, err := c.SelfMenuInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bs := m.Menu.Buttons
	if m.IsMenuOpen != 1 || len(bs) != 3 {
		t.Fatalf("%+v", m)
	}
	subs := bs[0].Subs()
	if len(subs) != 4 || subs[0].URL != "http://www.qq.com" || subs[1].Type != "news" ||
		subs[1].NewsInfo == nil || len(subs[1].NewsInfo.List) != 2 || subs[1].Value == "" {
		t.Errorf("sub_button.list %+v", subs)
	}
	if bs[1].Type != "text" || bs[1].Value != "This is text!" || bs[2].Type != "img" || bs[2].Subs() != nil {
		t.Errorf("leaves %+v", bs[1:])
	}
}

func TestSelfMenuInfoAPISample(t *testing.T) {
	fake, c := newMediaClient(t)
	fake.Answer(wechattest.PathSelfMenuInfo, wechattest.SelfMenuAPI)
	m, err := c.SelfMenuInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if bs := m.Menu.Buttons; bs[0].Key != "V1001_TODAY_MUSIC" || bs[1].Subs()[2].Key != "V1001_GOOD" {
		t.Errorf("%+v", bs)
	}
}

func TestCheckMedia(t *testing.T) {
	tests := []struct {
		typ, name string
		size      int64
		permanent bool
		want      string // "" for no error
	}{
		{"image", "a.JPG", 1 << 20, false, ""},
		{"image", "a.png", 10 << 20, false, ""},
		{"image", "a.png", 10<<20 + 1, false, "up to 10 MB"},
		{"image", "a.bmp", 100, false, "temporary image as .png .jpeg .jpg .gif"},
		{"image", "a.bmp", 100, true, ""},
		{"voice", "a.mp3", 2 << 20, false, ""},
		{"voice", "a.mp3", 2<<20 + 1, false, "up to 2 MB"},
		{"voice", "a.wav", 100, false, "temporary voice"},
		{"voice", "a.wav", 100, true, ""},
		{"video", "a.mp4", 10 << 20, true, ""},
		{"video", "a.mov", 100, false, ".mp4"},
		{"thumb", "a.jpg", 64 << 10, false, ""},
		{"thumb", "a.jpg", 64<<10 + 1, false, "up to 64 KB"},
		{"thumb", "a.png", 100, false, ".jpg"},
		{"image", "a.png", 0, false, "is empty"},
		{"news", "a.png", 1, false, `type "news"`},
	}
	for _, tt := range tests {
		err := wechat.CheckMedia(tt.typ, tt.name, tt.size, tt.permanent)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s %s %d: %v", tt.typ, tt.name, tt.size, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, wechat.ErrInvalidMedia)):
			t.Errorf("%s %s %d: %v, want %q", tt.typ, tt.name, tt.size, err, tt.want)
		}
	}
}

func TestUploadMedia(t *testing.T) {
	fake, c := newMediaClient(t)
	ctx := context.Background()
	up, err := c.UploadMedia(ctx, "image", "cat.png", []byte("\x89PNG fake"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(up.MediaID, "FAKE_MEDIA_") || up.Type != "image" || up.CreatedAt == 0 {
		t.Errorf("%+v", up)
	}
	calls := fake.Calls(wechattest.PathMediaUpload)
	if len(calls) != 1 || calls[0].Query.Get("type") != "image" || calls[0].Method != "POST" {
		t.Errorf("calls %+v", calls)
	}
	if ups := fake.Uploads(); len(ups) != 1 || ups[0].Filename != "cat.png" || string(ups[0].Data) != "\x89PNG fake" {
		t.Errorf("uploads %+v", ups)
	}
	// Refused before the call.
	if _, err := c.UploadMedia(ctx, "thumb", "big.jpg", make([]byte, 65<<10)); !errors.Is(err, wechat.ErrInvalidMedia) {
		t.Errorf("big thumb: %v", err)
	}
	if n := len(fake.Calls(wechattest.PathMediaUpload)); n != 1 {
		t.Errorf("%d calls after a refused upload", n)
	}
}

func TestUploadMediaRetriesOnExpiredToken(t *testing.T) {
	fake, c := newMediaClient(t)
	fake.FailNext(wechattest.PathMediaUpload, 42001)
	up, err := c.UploadMedia(context.Background(), "voice", "hi.amr", []byte("#!AMR"))
	if err != nil {
		t.Fatal(err)
	}
	if up.MediaID == "" || fake.TokenFetches() != 2 {
		t.Errorf("media %+v after %d token fetches", up, fake.TokenFetches())
	}
}

func TestAddMaterialAndList(t *testing.T) {
	fake, c := newMediaClient(t)
	ctx := context.Background()
	img, err := c.AddMaterial(ctx, "image", "logo.jpg", []byte("jpeg"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(img.MediaID, "FAKE_MATERIAL_") || img.URL == "" {
		t.Errorf("%+v", img)
	}
	if _, err := c.AddMaterial(ctx, "video", "a.mp4", []byte("mp4"), nil); !errors.Is(err, wechat.ErrInvalidMedia) {
		t.Errorf("video without a title: %v", err)
	}
	v, err := c.AddMaterial(ctx, "video", "a.mp4", []byte("mp4"), &wechat.VideoDescription{Title: "开箱 & 测评", Introduction: "<b>新品</b>"})
	if err != nil {
		t.Fatal(err)
	}
	ups := fake.Uploads()
	var desc wechat.VideoDescription
	if len(ups) != 2 || json.Unmarshal([]byte(ups[1].Description), &desc) != nil || desc.Title != "开箱 & 测评" ||
		strings.Contains(ups[1].Description, `\u00`) {
		t.Errorf("video description %q", ups[1].Description)
	}
	page, err := c.ListMaterial(ctx, "image", 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	if page.TotalCount != 1 || len(page.Items) != 1 || page.Items[0].MediaID != img.MediaID || page.Items[0].Name != "logo.jpg" {
		t.Errorf("images %+v", page)
	}
	page, err = c.ListMaterial(ctx, "video", 0, 0)
	if err != nil || len(page.Items) != 1 || page.Items[0].MediaID != v.MediaID {
		t.Errorf("videos %+v %v", page, err)
	}
	var body struct {
		Type  string `json:"type"`
		Count int    `json:"count"`
	}
	calls := fake.Calls(wechattest.PathMaterialBatch)
	if json.Unmarshal(calls[1].Body, &body) != nil || body.Type != "video" || body.Count != 20 {
		t.Errorf("batchget body %s", calls[1].Body)
	}
	if _, err := c.ListMaterial(ctx, "thumb", 0, 20); !errors.Is(err, wechat.ErrInvalidMedia) {
		t.Errorf("thumb list: %v", err)
	}
}

package actions

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/wechat"
)

func tpl(s string) engine.Template { return *engine.MustTemplate(s) }

// runReply runs a reply action built from p for ev and returns its reply.
func runReply(t *testing.T, p *ReplyParams, ev *engine.Event) *wechat.Reply {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	spec, _ := engine.LookupAction("reply")
	a, err := spec.New(p)
	if err != nil {
		t.Fatal(err)
	}
	env := engine.NewEnv(ev, map[string]any{"shop": "小店"}, time.Now, time.UTC)
	c, reply := engine.NewTestCall(ev, env, nil)
	if err := a.Run(context.Background(), c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return reply()
}

func TestReplyKinds(t *testing.T) {
	ev := &engine.Event{Type: "click", From: "oUser", Key: "K"}
	tests := []struct {
		name string
		p    ReplyParams
		want wechat.Reply
	}{
		{"text", ReplyParams{Text: []engine.Template{tpl("${vars.shop} 欢迎 ${event.from}")}},
			wechat.Reply{Type: "text", Content: "小店 欢迎 oUser"}},
		{"image", ReplyParams{Image: &MediaParams{MediaID: tpl("IMG")}},
			wechat.Reply{Type: "image", MediaID: "IMG"}},
		{"voice", ReplyParams{Voice: &MediaParams{MediaID: tpl("VOICE")}},
			wechat.Reply{Type: "voice", MediaID: "VOICE"}},
		{"video", ReplyParams{Video: &VideoParams{MediaID: tpl("VID"), Title: tpl("t"), Description: tpl("d")}},
			wechat.Reply{Type: "video", MediaID: "VID", Title: "t", Description: "d"}},
		{"music", ReplyParams{Music: &MusicParams{Title: tpl("t"), Description: tpl("d"), MusicURL: tpl("http://m"),
			HQMusicURL: tpl("http://hq"), ThumbMediaID: tpl("TH")}},
			wechat.Reply{Type: "music", Title: "t", Description: "d", MusicURL: "http://m", HQMusicURL: "http://hq", ThumbMediaID: "TH"}},
		{"news", ReplyParams{News: []ArticleParams{
			{Title: tpl("a"), Description: tpl("key ${event.key}"), URL: tpl("http://u"), PicURL: tpl("http://p")},
			{Title: tpl("b")}}},
			wechat.Reply{Type: "news", Articles: []wechat.Article{
				{Title: "a", Description: "key K", URL: "http://u", PicURL: "http://p"}, {Title: "b"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runReply(t, &tt.p, ev)
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("reply %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestReplyPicksAtRandom(t *testing.T) {
	p := &ReplyParams{Text: []engine.Template{tpl("a"), tpl("b"), tpl("c")}}
	seen := map[string]bool{}
	for i := 0; i < 300 && len(seen) < 3; i++ {
		seen[runReply(t, p, &engine.Event{Type: "text"}).Content] = true
	}
	if len(seen) != 3 {
		t.Errorf("saw %v in 300 runs, want all of a, b, c", seen)
	}
}

func TestReplyNewsCutForUserMessage(t *testing.T) {
	p := &ReplyParams{News: []ArticleParams{{Title: tpl("1")}, {Title: tpl("2")}, {Title: tpl("3")}}}
	msg := &engine.Event{Type: "text", Message: &wechat.Message{MsgType: "text"}}
	if got := runReply(t, p, msg); len(got.Articles) != 1 {
		t.Errorf("reply to a user message has %d articles, want 1", len(got.Articles))
	}
	click := &engine.Event{Type: "click", Message: &wechat.Message{MsgType: "event", Event: "CLICK"}}
	if got := runReply(t, p, click); len(got.Articles) != 3 {
		t.Errorf("reply to a click has %d articles, want 3", len(got.Articles))
	}
}

func TestReplyValidate(t *testing.T) {
	tests := []struct {
		p    ReplyParams
		want string
	}{
		{ReplyParams{}, "want one of text, image, voice, video, music, news"},
		{ReplyParams{Text: []engine.Template{{}}}, "text[0]: empty text"},
		{ReplyParams{Image: &MediaParams{}}, "image.media_id: required"},
		{ReplyParams{Voice: &MediaParams{}}, "voice.media_id: required"},
		{ReplyParams{Video: &VideoParams{}}, "video.media_id: required"},
		{ReplyParams{Music: &MusicParams{Title: tpl("t")}}, "music.thumb_media_id: required (upload a cover image first)"},
		{ReplyParams{News: make([]ArticleParams, 9)}, "news: 9 articles, WeChat takes at most 8"},
		{ReplyParams{News: []ArticleParams{{Title: tpl("x")}, {}}}, "news[1].title: required"},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if err == nil || err.Error() != tt.want {
			t.Errorf("Validate(%+v) = %v, want %q", tt.p, err, tt.want)
		}
	}
}

func TestReplyRenderError(t *testing.T) {
	p := &ReplyParams{Text: []engine.Template{tpl("${vars.shop.name}")}}
	spec, _ := engine.LookupAction("reply")
	a, _ := spec.New(p)
	ev := &engine.Event{Type: "text"}
	c, reply := engine.NewTestCall(ev, engine.NewEnv(ev, map[string]any{"shop": "x"}, time.Now, time.UTC), nil)
	if err := a.Run(context.Background(), c); err == nil {
		t.Error("Run succeeded though interpolation fails at run time")
	}
	if reply() != nil {
		t.Error("a reply was offered despite the error")
	}
}

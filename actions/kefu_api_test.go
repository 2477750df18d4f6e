package actions

import (
	"strings"
	"testing"

	"github.com/wxbot/wxbot/engine/outbox"
)

// TestKefuFromJSON: every message type the kefu action sends comes in as
// JSON and goes out as the action would send it; "${" stays text.
func TestKefuFromJSON(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"text": "您好 ${event.from} $${x} <a href=\"https://x.cn/?a=1&b=2\">订单</a>"}`,
			`{"touser":"oUser","msgtype":"text","text":{"content":"您好 ${event.from} $${x} <a href=\"https://x.cn/?a=1&b=2\">订单</a>"}}`},
		{`{"text": ["only"]}`, `{"touser":"oUser","msgtype":"text","text":{"content":"only"}}`},
		{`{"image": {"media_id": "M"}}`, `{"touser":"oUser","msgtype":"image","image":{"media_id":"M"}}`},
		{`{"voice": {"media_id": "V"}, "typing": true}`, `{"touser":"oUser","msgtype":"voice","voice":{"media_id":"V"}}`},
		{`{"video": {"media_id": "M", "thumb_media_id": "T", "title": "t"}}`,
			`{"touser":"oUser","msgtype":"video","video":{"media_id":"M","thumb_media_id":"T","title":"t"}}`},
		{`{"music": {"title": "t", "music_url": "u", "hq_music_url": "h", "thumb_media_id": "T"}}`,
			`{"touser":"oUser","msgtype":"music","music":{"title":"t","musicurl":"u","hqmusicurl":"h","thumb_media_id":"T"}}`},
		{`{"news": {"title": "a", "url": "u", "pic_url": "p"}}`,
			`{"touser":"oUser","msgtype":"news","news":{"articles":[{"title":"a","url":"u","picurl":"p"}]}}`},
		{`{"mpnews": {"media_id": "M"}}`, `{"touser":"oUser","msgtype":"mpnews","mpnews":{"media_id":"M"}}`},
		{`{"mpnewsarticle": {"article_id": "A"}}`, `{"touser":"oUser","msgtype":"mpnewsarticle","mpnewsarticle":{"article_id":"A"}}`},
		{`{"msgmenu": {"head_content": "满意吗", "list": [{"id": "101", "content": "满意"}, {"id": "102", "content": "不满意"}]}}`,
			`{"touser":"oUser","msgtype":"msgmenu","msgmenu":{"head_content":"满意吗","list":[{"id":"101","content":"满意"},{"id":"102","content":"不满意"}]}}`},
		{`{"wxcard": {"card_id": "C"}}`, `{"touser":"oUser","msgtype":"wxcard","wxcard":{"card_id":"C"}}`},
		{`{"miniprogrampage": {"title": "t", "appid": "wxa", "pagepath": "p", "thumb_media_id": "T"}}`,
			`{"touser":"oUser","msgtype":"miniprogrampage","miniprogrampage":{"title":"t","appid":"wxa","pagepath":"p","thumb_media_id":"T"}}`},
		{`{"text": "hi", "kf_account": "agent1@shop", "kf_account_ignored": null}`, ""},
	}
	for _, tc := range tests {
		p, err := KefuFromJSON([]byte(tc.in))
		if tc.want == "" {
			if err == nil || !strings.Contains(err.Error(), `unknown field "kf_account_ignored"`) {
				t.Errorf("%s: %v, want the unknown field named", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		m, err := p.Message("oUser")
		if err != nil {
			t.Errorf("%s: Message: %v", tc.in, err)
			continue
		}
		raw, _ := outbox.Encode(m)
		if string(raw) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.in, raw, tc.want)
		}
	}
}

// TestKefuFromJSONErrors: each problem is named by its path from "kefu",
// every one of them at once.
func TestKefuFromJSONErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`[]`, `kefu: want an object such as {"text": "…"}, got a list`},
		{`{"text": "a"`, `kefu: unexpected EOF`},
		{`{}`, `kefu: want one of text, image, voice, video, music, news, mpnews, mpnewsarticle, msgmenu, wxcard, miniprogrampage`},
		{`{"imgae": {"media_id": "M"}}`, `kefu: unknown field "imgae" (known: image, kf_account, miniprogrampage`},
		{`{"image": {"media_id": 12}}`, `kefu.image.media_id: want a string, got a number`},
		{`{"image": "M"}`, `kefu.image: want an object, got a string`},
		{`{"image": {}}`, `kefu: image.media_id: required`},
		{`{"text": "a", "image": {"media_id": "M"}}`, `kefu: want one message type, got 2 (text, image)`},
		{`{"text": "a", "delay": "30s"}`, `kefu.delay: not taken by the send API: post the message when it is due`},
		{`{"text": "a", "typing": "yes"}`, `kefu.typing: want true or false, got a string`},
		{`{"text": ["a", 2]}`, `kefu.text[1]: want a string, got a number`},
		{`{"text": "a", "kf_account": "agent1"}`, `kefu: kf_account: "agent1" is not of the form prefix@wechat-id`},
		{`{"news": [{"title": "a"}, {"title": "b"}]}`, `kefu: news: 2 articles, a kefu news message takes 1`},
		{`{"msgmenu": {"list": [{"id": "1", "content": "a"}, {"id": "1", "content": "b"}]}}`, `kefu: msgmenu.list[1].id: "1" used twice`},
	}
	for _, tc := range tests {
		_, err := KefuFromJSON([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant %q", tc.in, err, tc.want)
		}
	}
	_, err := KefuFromJSON([]byte(`{"imgae": 1, "voice": {"media_id": true}}`))
	if err == nil || !strings.Contains(err.Error(), `unknown field "imgae"`) || !strings.Contains(err.Error(), "kefu.voice.media_id: want a string, got a bool") {
		t.Errorf("two problems: %v, want both", err)
	}
}

// FuzzKefuFromJSON: no body makes the decoder panic, and a body it takes
// makes a message.
func FuzzKefuFromJSON(f *testing.F) {
	for _, s := range []string{`{"text": "hi ${x}"}`, `{"text": ["a", "b"]}`, `{"image": {"media_id": "M"}}`,
		`{"msgmenu": {"list": [{"id": "1", "content": "a"}]}}`, `{"news": [{"title": "a"}]}`, `{"delay": 1}`, `null`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := KefuFromJSON(b)
		if err != nil {
			return
		}
		if _, err := p.Message("oUser"); err != nil {
			t.Errorf("%s: taken, but Message: %v", b, err)
		}
	})
}

package wechat

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestKefuFromReply: each passive reply that came too late becomes the kefu
// message that says the same (the JSON /cgi-bin/message/custom/send
// takes); a transfer and an empty news reply have none.
func TestKefuFromReply(t *testing.T) {
	for _, tt := range []struct {
		reply Reply
		want  string // "" when there is no kefu equivalent
	}{
		{Reply{Type: ReplyText, Content: "a < b & c"},
			`{"touser":"oU","msgtype":"text","text":{"content":"a < b & c"}}`},
		{Reply{Type: ReplyImage, MediaID: "M1"},
			`{"touser":"oU","msgtype":"image","image":{"media_id":"M1"}}`},
		{Reply{Type: ReplyVoice, MediaID: "M2"},
			`{"touser":"oU","msgtype":"voice","voice":{"media_id":"M2"}}`},
		{Reply{Type: ReplyVideo, MediaID: "M3", ThumbMediaID: "T3", Title: "t", Description: "d"},
			`{"touser":"oU","msgtype":"video","video":{"media_id":"M3","thumb_media_id":"T3","title":"t","description":"d"}}`},
		{Reply{Type: ReplyMusic, Title: "t", Description: "d", MusicURL: "http://m", HQMusicURL: "http://hq", ThumbMediaID: "T4"},
			`{"touser":"oU","msgtype":"music","music":{"title":"t","description":"d","musicurl":"http://m","hqmusicurl":"http://hq","thumb_media_id":"T4"}}`},
		{Reply{Type: ReplyNews, Articles: []Article{{Title: "one", Description: "d", URL: "http://u", PicURL: "http://p"}, {Title: "two"}}},
			`{"touser":"oU","msgtype":"news","news":{"articles":[{"title":"one","description":"d","url":"http://u","picurl":"http://p"}]}}`},
		{Reply{Type: ReplyNews}, ""},
		{Reply{Type: ReplyTransfer, KfAccount: "a@b"}, ""},
	} {
		m, ok := KefuFromReply("oU", &tt.reply)
		if tt.want == "" {
			if ok {
				t.Errorf("%s: got a kefu message %+v, want none", tt.reply.Type, m)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: no kefu message", tt.reply.Type)
			continue
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(m); err != nil {
			t.Fatal(err)
		}
		if got := bytes.TrimSpace(b.Bytes()); string(got) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.reply.Type, got, tt.want)
		}
	}
}

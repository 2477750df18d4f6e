package wechat

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/reply golden files")

var replyCases = []struct {
	name  string
	reply Reply
}{
	{"text", Reply{Type: ReplyText, Content: "你好"}},
	{"text_cdata_end_newlines", Reply{Type: ReplyText, Content: "a]]>b\nline two\n\n<not a tag> & ]]]]>"}},
	{"text_empty", Reply{Type: ReplyText}},
	{"image", Reply{Type: ReplyImage, MediaID: "Fs4aV3RqCuvK8wWjDmRvsbMCMqgj2YXWJ2EfRvBymV_7oVPxcPOfWwYrl6XNR6f1"}},
	{"voice", Reply{Type: ReplyVoice, MediaID: "kd7F0jRYoSzYcgXeHrBBYgWZ4fpnuBeMLuSB8EKw-vdoDAWWm7dD4Qj4o4HgtNMm"}},
	{"video", Reply{Type: ReplyVideo, MediaID: "MEDIA_ID", Title: "开业视频", Description: "三分钟看懂"}},
	{"video_no_title", Reply{Type: ReplyVideo, MediaID: "MEDIA_ID"}},
	{"music", Reply{Type: ReplyMusic, Title: "晴天", Description: "周杰伦", MusicURL: "http://music.example.com/a.mp3",
		HQMusicURL: "http://music.example.com/a_hq.mp3", ThumbMediaID: "THUMB_MEDIA_ID"}},
	{"news_1", Reply{Type: ReplyNews, Articles: []Article{
		{Title: "新品上市", Description: "点击查看", PicURL: "https://example.com/1.jpg", URL: "https://example.com/1?a=1&b=2"}}}},
	{"news_3", Reply{Type: ReplyNews, Articles: []Article{
		{Title: "一", Description: "d1", PicURL: "https://example.com/1.jpg", URL: "https://example.com/1"},
		{Title: "二", PicURL: "https://example.com/2.jpg", URL: "https://example.com/2"},
		{Title: "三", URL: "https://example.com/3"}}}},
	{"transfer", Reply{Type: ReplyTransfer}},
	{"transfer_kf", Reply{Type: ReplyTransfer, KfAccount: "test1@test"}},
}

const (
	replyTo      = testOpenID
	replyFrom    = testGh
	replyCreated = 1700000000
)

func TestAppendReplyGolden(t *testing.T) {
	for _, tc := range replyCases {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendReply(nil, replyTo, replyFrom, replyCreated, &tc.reply)
			path := filepath.Join("testdata", "reply", tc.name+".xml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./engine/wechat -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("AppendReply:\n%s\nwant (%s):\n%s", got, path, want)
			}
		})
	}
}

func TestAppendReplyRoundTrip(t *testing.T) {
	for _, tc := range replyCases {
		t.Run(tc.name, func(t *testing.T) {
			body := AppendReply([]byte("keep"), replyTo, replyFrom, replyCreated, &tc.reply)
			if !bytes.HasPrefix(body, []byte("keep<xml>")) {
				t.Fatalf("dst not appended to: %s", body)
			}
			to, from, created, r, err := ParseReply(body[len("keep"):])
			if err != nil {
				t.Fatal(err)
			}
			if to != replyTo || from != replyFrom || created != replyCreated {
				t.Errorf("header %q %q %d", to, from, created)
			}
			if !reflect.DeepEqual(*r, tc.reply) {
				t.Errorf("ParseReply:\n got %+v\nwant %+v", *r, tc.reply)
			}
		})
	}
}

func TestAppendReplyFormats(t *testing.T) {
	contains := map[string][]string{
		"text": {`<xml><ToUserName><![CDATA[` + replyTo + `]]></ToUserName><FromUserName><![CDATA[` + replyFrom +
			`]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content></xml>`},
		"text_cdata_end_newlines": {"<![CDATA[a]]]]><![CDATA[>b\nline two\n\n<not a tag> & ]]]]]]><![CDATA[>]]>"},
		"image":                   {"<MsgType><![CDATA[image]]></MsgType><Image><MediaId><![CDATA["},
		"voice":                   {"<MsgType><![CDATA[voice]]></MsgType><Voice><MediaId><![CDATA["},
		"video":                   {"<Video><MediaId><![CDATA[MEDIA_ID]]></MediaId><Title><![CDATA[开业视频]]></Title><Description><![CDATA[三分钟看懂]]></Description></Video>"},
		"video_no_title":          {"<Video><MediaId><![CDATA[MEDIA_ID]]></MediaId></Video>"},
		"music": {"<Music><Title><![CDATA[晴天]]></Title><Description><![CDATA[周杰伦]]></Description>" +
			"<MusicUrl><![CDATA[http://music.example.com/a.mp3]]></MusicUrl><HQMusicUrl><![CDATA[http://music.example.com/a_hq.mp3]]></HQMusicUrl>" +
			"<ThumbMediaId><![CDATA[THUMB_MEDIA_ID]]></ThumbMediaId></Music>"},
		"news_1": {"<ArticleCount>1</ArticleCount><Articles><item><Title><![CDATA[新品上市]]></Title>" +
			"<Description><![CDATA[点击查看]]></Description><PicUrl><![CDATA[https://example.com/1.jpg]]></PicUrl>" +
			"<Url><![CDATA[https://example.com/1?a=1&b=2]]></Url></item></Articles></xml>"},
		"news_3":      {"<ArticleCount>3</ArticleCount><Articles><item>", "</item><item>"},
		"transfer":    {"<MsgType><![CDATA[transfer_customer_service]]></MsgType></xml>"},
		"transfer_kf": {"<MsgType><![CDATA[transfer_customer_service]]></MsgType><TransInfo><KfAccount><![CDATA[test1@test]]></KfAccount></TransInfo></xml>"},
	}
	for _, tc := range replyCases {
		got := string(AppendReply(nil, replyTo, replyFrom, replyCreated, &tc.reply))
		for _, want := range contains[tc.name] {
			if !strings.Contains(got, want) {
				t.Errorf("%s: %s\nlacks %s", tc.name, got, want)
			}
		}
	}
}

func TestAppendReplyReplacesBadCharacters(t *testing.T) {
	r := &Reply{Type: ReplyText, Content: "a\x00b\xffc\uFFFEd\x1b"}
	_, _, _, got, err := ParseReply(AppendReply(nil, "o", "gh", 1, r))
	if err != nil {
		t.Fatal(err)
	}
	if want := "a\uFFFDb\uFFFDc\uFFFDd\uFFFD"; got.Content != want {
		t.Errorf("Content = %q, want %q", got.Content, want)
	}
}

func TestAppendReplyDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	buf := make([]byte, 0, 4096)
	for _, tc := range replyCases {
		n := testing.AllocsPerRun(20, func() {
			buf = AppendReply(buf[:0], replyTo, replyFrom, replyCreated, &tc.reply)
		})
		if n != 0 {
			t.Errorf("%s: %v allocations into a large enough buffer", tc.name, n)
		}
	}
}

func TestParseReplyRejects(t *testing.T) {
	for _, bad := range []string{
		"", "success", `{"msgtype":"text"}`,
		"<xml><ToUserName>o</ToUserName></xml>",
		"<reply><MsgType>text</MsgType></reply>",
		"<xml><MsgType>news</MsgType><ArticleCount>2</ArticleCount><Articles><item><Title>t</Title></item></Articles></xml>",
		"<xml><MsgType>news</MsgType><Articles><item><Title>t</Title></item></Articles></xml>",
		"<xml><MsgType>text</MsgType><CreateTime>soon</CreateTime></xml>",
	} {
		if _, _, _, r, err := ParseReply([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseReply(%q) = %+v, %v; want ErrMalformed", bad, r, err)
		}
	}
}

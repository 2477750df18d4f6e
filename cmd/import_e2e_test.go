package cmd

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// TestImportAutoReplyEndToEnd: the console's auto-replies are imported
// from the fake API, served by wxbot serve, and answer as the console did:
// keywords (exact and contained), a random pick, reply_all with kefu
// follow-ups in order, the follow reply, and the default reply switched
// off as it was.
func TestImportAutoReplyEndToEnd(t *testing.T) {
	fake := wechattest.New("wximport000000001", "import-secret")
	defer fake.Close()
	fake.Answer(wechattest.PathAutoReplyInfo, wechattest.AutoReplyConsole)
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=wximport000000001", "WXBOT_SECRET=import-secret",
		"WXBOT_API_BASE=" + fake.URL}
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	out, errOut, code := wxbot(t, env, "import", "autoreply", "--out", rulesPath)
	if code != 0 || !strings.Contains(out, "imported 7 rules with 7 tests") {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := wxbot(t, env, "test", rulesPath); code != 0 || !strings.Contains(out, "7 passed, 0 failed") {
		t.Fatalf("wxbot test: exit %d\n%s%s", code, out, errOut)
	}

	b := startBot(t, env, "--rules", rulesPath)
	simulate := func(args ...string) string {
		t.Helper()
		out, errOut, code := wxbot(t, env, append([]string{"simulate", "--url", b.url, "--from", "oImported"}, args...)...)
		if code != 0 {
			t.Fatalf("simulate %v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	if got := simulate("text", "价格"); !strings.Contains(got, "content: 标准版 99 元") {
		t.Errorf("价格 (exact):\n%s", got)
	}
	if got := simulate("text", "请问多少钱?"); !strings.Contains(got, "content: 标准版 99 元") {
		t.Errorf("多少钱 (contains):\n%s", got)
	}
	if got := simulate("subscribe"); !strings.Contains(got, "type: image") || !strings.Contains(got, "SUBSCRIBE_IMG_MEDIA_ID_") {
		t.Errorf("subscribe:\n%s", got)
	}
	// random_one over a text and a voice: the MsgId's bucket picks.
	for _, c := range []struct {
		bucket int
		want   string
	}{{0, "content: 今天的惊喜是一句话"}, {1, "SURPRISE_VOICE_MEDIA_ID_"}} {
		id := msgIDForBucket(c.bucket, 2)
		if engine.Bucket(id, 2) != c.bucket {
			t.Fatal("msgIDForBucket is wrong")
		}
		if got := simulate("--msg-id", id, "text", "惊喜"); !strings.Contains(got, c.want) {
			t.Errorf("惊喜 with bucket %d:\n%s", c.bucket, got)
		}
	}
	// The console had the default reply off: a message no keyword matches
	// gets no answer.
	if got := simulate("text", "随便说说"); !strings.Contains(got, "no reply") {
		t.Errorf("default reply switched off, got:\n%s", got)
	}
	// reply_all: the text answers, the image and the news follow by kefu,
	// in order.
	if got := simulate("text", "地址"); !strings.Contains(got, "content: 广州市天河区 1 号") {
		t.Errorf("地址:\n%s", got)
	}
	const send = "/cgi-bin/message/custom/send"
	deadline := time.Now().Add(20 * time.Second)
	for len(fake.Delivered(send)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 kefu sends delivered:\n%s", len(fake.Delivered(send)), b.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var types []string
	for _, c := range fake.Delivered(send) {
		var m struct {
			ToUser  string `json:"touser"`
			MsgType string `json:"msgtype"`
			Image   struct {
				MediaID string `json:"media_id"`
			} `json:"image"`
			News struct {
				Articles []struct{ Title string } `json:"articles"`
			} `json:"news"`
		}
		json.Unmarshal(c.Body, &m)
		if m.ToUser != "oImported" {
			t.Errorf("sent to %q", m.ToUser)
		}
		switch m.MsgType {
		case "image":
			types = append(types, "image:"+m.Image.MediaID[:len("MAP_IMG")])
		case "news":
			types = append(types, "news:"+m.News.Articles[0].Title)
		default:
			types = append(types, m.MsgType)
		}
	}
	if strings.Join(types, ",") != "image:MAP_IMG,news:交通指南" {
		t.Errorf("kefu sends %q, want the image then the news", types)
	}
}

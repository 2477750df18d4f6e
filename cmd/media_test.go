package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

func TestMediaUploadTemporary(t *testing.T) {
	fake, env := newAPIFake(t)
	dir := writeFiles(t, map[string]string{"cat.png": "\x89PNG\r\n\x1a\n fake"})
	out, errOut, code := runCmd(env, "media", "upload", filepath.Join(dir, "cat.png"))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	noSecret(t, out, errOut)
	ups := fake.Uploads()
	if len(ups) != 1 || ups[0].Permanent || ups[0].Type != "image" || ups[0].Filename != "cat.png" {
		t.Fatalf("uploads %+v", ups)
	}
	// stdout is the media_id alone, for $(wxbot media upload …).
	if out != ups[0].MediaID+"\n" || !strings.Contains(errOut, "temporary image media; the media_id expires") {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
	if c := fake.Calls(wechattest.PathMediaUpload); len(c) != 1 || c[0].Query.Get("type") != "image" {
		t.Errorf("calls %+v", c)
	}
}

func TestMediaUploadPermanentVideoAndList(t *testing.T) {
	fake, env := newAPIFake(t)
	dir := writeFiles(t, map[string]string{"intro.mp4": "mp4 bytes", "logo.jpg": "jpeg bytes", "hi.mp3": "ID3"})
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := runCmd(env, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	video := strings.TrimSpace(run("media", "upload", filepath.Join(dir, "intro.mp4"), "--permanent", "--title", "开箱 & 测评", "--description", "新品"))
	logo := strings.TrimSpace(run("media", "upload", filepath.Join(dir, "logo.jpg"), "--permanent"))
	run("media", "upload", filepath.Join(dir, "hi.mp3"))
	ups := fake.Uploads()
	var desc struct{ Title, Introduction string }
	if len(ups) != 3 || !ups[0].Permanent || ups[0].MediaID != video || json.Unmarshal([]byte(ups[0].Description), &desc) != nil ||
		desc.Title != "开箱 & 测评" || desc.Introduction != "新品" || ups[1].MediaID != logo || ups[2].Permanent {
		t.Fatalf("uploads %+v", ups)
	}
	out := run("media", "list")
	if !strings.Contains(out, logo) || strings.Contains(out, video) || !strings.Contains(out, "logo.jpg") || !strings.Contains(out, "1-1 of 1 image material") {
		t.Errorf("list:\n%s", out)
	}
	out = run("media", "list", "--type", "video")
	if !strings.Contains(out, video) || !strings.Contains(out, "intro.mp4") {
		t.Errorf("list --type video:\n%s", out)
	}
	if out := run("media", "list", "--type", "voice"); !strings.Contains(out, "no permanent voice material") {
		t.Errorf("list --type voice (the voice was temporary):\n%s", out)
	}
}

func TestMediaRefusedBeforeTheCall(t *testing.T) {
	fake, env := newAPIFake(t)
	dir := writeFiles(t, map[string]string{"a.mp4": "x", "a.txt": "x", "a.png": "x", "a.bmp": "x", "empty.jpg": ""})
	big := filepath.Join(dir, "big.jpg")
	if err := os.WriteFile(big, make([]byte, 64<<10+1), 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.amr")
	if err := os.WriteFile(huge, make([]byte, 2<<20+1), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"upload", filepath.Join(dir, "a.mp4"), "--permanent"}, "a permanent video needs --title"},
		{[]string{"upload", filepath.Join(dir, "a.png"), "--title", "x"}, "--title and --description are for --permanent --type video only"},
		{[]string{"upload", filepath.Join(dir, "a.txt")}, "cannot tell the type"},
		{[]string{"upload", filepath.Join(dir, "a.png"), "--type", "thumb"}, "WeChat takes temporary thumb as .jpg .jpeg"},
		{[]string{"upload", filepath.Join(dir, "a.bmp")}, "WeChat takes temporary image as"},
		{[]string{"upload", big, "--type", "thumb"}, "WeChat takes thumb up to 64 KB"},
		{[]string{"upload", huge}, "WeChat takes voice up to 2 MB"},
		{[]string{"upload", filepath.Join(dir, "empty.jpg")}, "is empty"},
		{[]string{"upload", filepath.Join(dir, "a.png"), "--type", "news"}, `--type "news"`},
		{[]string{"list", "--type", "thumb"}, "temporary media cannot be listed"},
		{[]string{"list", "--count", "21"}, "--count 21: want 1-20"},
		{[]string{"upload"}, "usage: wxbot media upload FILE"},
		{[]string{"delete"}, `unknown subcommand "delete"`},
	}
	for _, tt := range tests {
		out, errOut, code := runCmd(env, append([]string{"media"}, tt.args...)...)
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("media %v: exit %d, stderr %q, want %q\n%s", tt.args, code, errOut, tt.want, out)
		}
	}
	if n := len(fake.Calls("")); n != 0 || fake.TokenFetches() != 0 {
		t.Errorf("%d calls and %d token fetches for refused commands", n, fake.TokenFetches())
	}
	// A bmp is fine as permanent material.
	if out, errOut, code := runCmd(env, "media", "upload", filepath.Join(dir, "a.bmp"), "--permanent"); code != 0 {
		t.Errorf("permanent bmp: exit %d\n%s%s", code, out, errOut)
	}
}

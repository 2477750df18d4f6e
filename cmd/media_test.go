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
	dir := writeFiles(t, map[string]string{"intro.mp4": mp4Head, "logo.jpg": jpegHead, "hi.mp3": "ID3\x04\x00"})
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
	dir := writeFiles(t, map[string]string{"a.mp4": "x", "a.txt": "x", "a.png": "x", "a.bmp": bmpHead, "empty.jpg": ""})
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

// The first bytes of a file of each format WeChat's media API takes.
const (
	pngHead  = "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"
	jpegHead = "\xff\xd8\xff\xe0\x00\x10JFIF\x00"
	gifHead  = "GIF89a\x01\x00\x01\x00"
	bmpHead  = "BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00"
	amrHead  = "#!AMR\n\x3c\x48"
	mp3Head  = "\xff\xfb\x90\x64\x00"
	id3Head  = "ID3\x04\x00\x00\x00\x00\x00\x00"
	wavHead  = "RIFF\x24\x00\x00\x00WAVEfmt "
	wmaHead  = "\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c"
	mp4Head  = "\x00\x00\x00\x20ftypisom\x00\x00\x02\x00"
)

// TestMediaUploadChecksContent: the content must be what the extension
// says (WeChat decides by the name it is given, and a renamed file fails
// there with a vaguer error, or is stored broken); a mismatch is refused
// before any call, saying what the file holds and what to do.
func TestMediaUploadChecksContent(t *testing.T) {
	tests := []struct {
		file, content string
		args          []string
		want          string // "" uploads
	}{
		{"a.png", pngHead, nil, ""},
		{"a.jpg", jpegHead, nil, ""},
		{"A.JPEG", jpegHead, nil, ""},
		{"a.gif", gifHead, nil, ""},
		{"a.gif", "GIF87a\x01\x00", nil, ""},
		{"a.bmp", bmpHead, []string{"--permanent"}, ""},
		{"a.amr", amrHead, nil, ""},
		{"a.mp3", mp3Head, nil, ""},
		{"a.mp3", id3Head, nil, ""},
		{"a.wav", wavHead, []string{"--permanent"}, ""},
		{"a.wma", wmaHead, []string{"--permanent"}, ""},
		{"a.mp4", mp4Head, nil, ""},
		{"t.jpg", jpegHead, []string{"--type", "thumb"}, ""},
		{"photo.jpg", pngHead, nil, "photo.jpg is a PNG image, not a JPEG image as its extension says: rename it photo.png"},
		{"photo.png", gifHead, nil, "photo.png is a GIF image, not a PNG image as its extension says: rename it photo.gif"},
		{"photo.png", bmpHead, nil, "photo.png is a BMP image, not a PNG image as its extension says; WeChat takes temporary image as .png .jpeg .jpg .gif: convert it"},
		{"cat.png", "hello, I am text\n", nil, "cat.png is not a PNG image (its content looks like text/plain; charset=utf-8): is it damaged, or another kind of file renamed?"},
		{"cat.gif", "\x00\x01\x02\x03", nil, "cat.gif is not a GIF image: is it damaged"},
		{"voice.amr", mp3Head, nil, "voice.amr is an MP3 recording, not an AMR recording as its extension says: rename it voice.mp3"},
		{"song.mp3", pngHead, nil, "song.mp3 is a PNG image, not an MP3 recording as its extension says; WeChat takes temporary voice as .amr .mp3: convert it"},
		{"song.mp3", "%PDF-1.7\n", nil, "song.mp3 is not an MP3 recording (its content looks like application/pdf)"},
		{"song.wav", wmaHead, []string{"--permanent"}, "song.wav is a WMA recording, not a WAV recording as its extension says: rename it song.wma"},
		{"clip.mp4", "RIFF\x24\x00\x00\x00AVI LIST", nil, "clip.mp4 is not an MP4 video"},
		{"clip.mp4", jpegHead, nil, "clip.mp4 is a JPEG image, not an MP4 video as its extension says; WeChat takes temporary video as .mp4: convert it"},
		{"t.jpg", pngHead, []string{"--type", "thumb"}, "t.jpg is a PNG image, not a JPEG image as its extension says; WeChat takes temporary thumb as .jpg .jpeg: convert it"},
	}
	for _, tt := range tests {
		t.Run(tt.file+" "+tt.want, func(t *testing.T) {
			fake, env := newAPIFake(t)
			dir := writeFiles(t, map[string]string{tt.file: tt.content})
			out, errOut, code := runCmd(env, append([]string{"media", "upload", filepath.Join(dir, tt.file)}, tt.args...)...)
			switch {
			case tt.want == "" && (code != 0 || len(fake.Uploads()) != 1):
				t.Errorf("exit %d, %d uploads\n%s%s", code, len(fake.Uploads()), out, errOut)
			case tt.want != "" && (code != 2 || !strings.Contains(errOut, tt.want)):
				t.Errorf("exit %d, stderr %q\nwant exit 2 with %q", code, errOut, tt.want)
			case tt.want != "" && (len(fake.Calls("")) != 0 || fake.TokenFetches() != 0):
				t.Errorf("refused, yet %d calls and %d token fetches", len(fake.Calls("")), fake.TokenFetches())
			}
		})
	}
}

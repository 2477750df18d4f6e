package wechat

import (
	"errors"
	"strings"
	"testing"
)

// TestMediaFormats: each format's header is told from the others' and
// from the look-alikes (AAC's ADTS beside MP3's frames, "BM" text beside a
// BMP, an AVI beside a WAV).
func TestMediaFormats(t *testing.T) {
	tests := []struct {
		head string
		want string // the format's what, "" for none
	}{
		{"\x89PNG\r\n\x1a\n\x00", "a PNG image"},
		{"\xff\xd8\xff\xdb", "a JPEG image"},
		{"GIF87a", "a GIF image"},
		{"GIF89a", "a GIF image"},
		{"GIF90a", ""},
		{"BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00", "a BMP image"},
		{"BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x7c\x00\x00\x00", "a BMP image"},
		{"BMW is a car, not a bitmap", ""},
		{"#!AMR\n", "an AMR recording"},
		{"#!AMR-WB\n", "an AMR recording"},
		{"ID3\x03\x00", "an MP3 recording"},
		{"\xff\xfb\x90\x64", "an MP3 recording"}, // MPEG-1 layer III, 128 kbit/s, 44.1 kHz
		{"\xff\xf3\x48\xc4", "an MP3 recording"}, // MPEG-2 layer III
		{"\xff\xe3\x18\xc4", "an MP3 recording"}, // MPEG-2.5 layer III
		{"\xff\xf1\x50\x80", ""},                 // AAC in ADTS: layer 0
		{"\xff\xfb\xf0\x64", ""},                 // bit rate index 15
		{"\xff\xfb\x9c\x64", ""},                 // sample rate index 3
		{"\xff\xeb\x90\x64", ""},                 // version 1 is reserved
		{"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c", "a WMA recording"},
		{"RIFF\x24\x00\x00\x00WAVEfmt ", "a WAV recording"},
		{"RIFF\x24\x00\x00\x00AVI LIST", ""},
		{"\x00\x00\x00\x18ftypmp42", "an MP4 video"},
		{"\x00\x00\x00\x08moov", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got := ""
		for _, f := range mediaFormats {
			if f.is([]byte(tt.head)) {
				if got != "" {
					t.Errorf("%q is %s and %s", tt.head, got, f.what)
				}
				got = f.what
			}
		}
		if got != tt.want {
			t.Errorf("%q: %q, want %q", tt.head, got, tt.want)
		}
	}
}

func TestSniffMedia(t *testing.T) {
	for head, want := range map[string]string{
		"\x89PNG\r\n\x1a\n\x00": ".png",
		"\xff\xd8\xff\xe0":      ".jpg",
		"GIF89a\x01\x00":        ".gif",
		"BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00": ".bmp",
		"ID3\x04\x00":          ".mp3",
		"hello, not an image":  "",
		"BM but not a bitmap.": "",
		"":                     "",
	} {
		if got := SniffMedia([]byte(head)); got != want {
			t.Errorf("%q: %q, want %q", head, got, want)
		}
	}
}

func TestCheckMediaContent(t *testing.T) {
	const png, jpeg = "\x89PNG\r\n\x1a\n\x00", "\xff\xd8\xff\xe0"
	tests := []struct {
		typ, name, head string
		permanent       bool
		want            string // "" accepts
	}{
		{MediaImage, "a.png", png, false, ""},
		{MediaImage, "A.PNG", png, false, ""},
		{MediaThumb, "t.jpeg", jpeg, false, ""},
		{MediaImage, "a.jpg", png, false, "a.jpg is a PNG image, not a JPEG image as its extension says: rename it a.png"},
		{MediaImage, "a.png", "BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00", true,
			"a.png is a BMP image, not a PNG image as its extension says: rename it a.bmp"},
		{MediaImage, "a.png", "BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00", false,
			"WeChat takes temporary image as .png .jpeg .jpg .gif: convert it"},
		{MediaThumb, "t.jpg", png, false, "WeChat takes temporary thumb as .jpg .jpeg: convert it"},
		{MediaVideo, "v.mp4", "<html><body>", false, "v.mp4 is not an MP4 video (its content looks like text/html; charset=utf-8)"},
		{MediaVoice, "v.mp3", "\x00\x00\x00\x00", false, "v.mp3 is not an MP3 recording: is it damaged, or another kind of file renamed? Convert it to MP3"},
	}
	for _, tt := range tests {
		err := CheckMediaContent(tt.typ, tt.name, []byte(tt.head), tt.permanent)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s %s: %v", tt.typ, tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalidMedia)):
			t.Errorf("%s %s: %v, want ErrInvalidMedia with %q", tt.typ, tt.name, err, tt.want)
		}
	}
}

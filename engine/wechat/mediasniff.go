package wechat

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
)

// WeChat decides a media file's format by the name it is given: a PNG
// named .jpg, or a text file named .mp3, is refused there with a vague
// errcode (40004, 40005, 40113) or stored and shown broken. So the
// content is checked against the extension before any call, from the
// formats' own headers (net/http.DetectContentType knows no AMR, WMA or
// MP3 without a tag, and calls an MP4 what its brand says).

// mediaFormat is a file format WeChat's media API takes.
type mediaFormat struct {
	what string   // "a PNG image": the format, in a sentence
	exts []string // the extensions that name it, the usual one first
	is   func(head []byte) bool
}

var mediaFormats = []mediaFormat{
	{"a PNG image", []string{".png"}, prefix("\x89PNG\r\n\x1a\n")},
	{"a JPEG image", []string{".jpg", ".jpeg"}, prefix("\xff\xd8\xff")},
	{"a GIF image", []string{".gif"}, func(b []byte) bool { return prefix("GIF87a")(b) || prefix("GIF89a")(b) }},
	{"a BMP image", []string{".bmp"}, isBMP},
	{"an AMR recording", []string{".amr"}, prefix("#!AMR")}, // AMR-WB's "#!AMR-WB\n" too
	{"an MP3 recording", []string{".mp3"}, isMP3},
	{"a WMA recording", []string{".wma"}, prefix("\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c")}, // the ASF header's GUID
	{"a WAV recording", []string{".wav"}, func(b []byte) bool { return len(b) >= 12 && prefix("RIFF")(b) && string(b[8:12]) == "WAVE" }},
	{"an MP4 video", []string{".mp4"}, func(b []byte) bool { return len(b) >= 12 && string(b[4:8]) == "ftyp" }},
}

func prefix(p string) func([]byte) bool {
	return func(b []byte) bool { return bytes.HasPrefix(b, []byte(p)) }
}

// isBMP wants "BM" and a DIB header of a size some version of the format
// has: two letters alone start too many other files.
func isBMP(b []byte) bool {
	if len(b) < 18 || !prefix("BM")(b) {
		return false
	}
	switch binary.LittleEndian.Uint32(b[14:18]) {
	case 12, 16, 40, 52, 56, 64, 108, 124:
		return true
	}
	return false
}

// isMP3 wants an ID3v2 tag or an MPEG audio frame header: the sync bits,
// and a version, layer, bit rate and sample rate that are not reserved
// (which also tells it from AAC's ADTS, whose layer is 0).
func isMP3(b []byte) bool {
	if prefix("ID3")(b) {
		return true
	}
	if len(b) < 3 || b[0] != 0xff || b[1]&0xe0 != 0xe0 {
		return false
	}
	version, layer := b[1]>>3&3, b[1]>>1&3
	bitrate, rate := b[2]>>4, b[2]>>2&3
	return version != 1 && layer != 0 && bitrate != 15 && rate != 3
}

// MediaSniffLen is how many of a file's first bytes CheckMediaContent
// needs.
const MediaSniffLen = 512

// SniffMedia is the usual extension (".png", ".jpg", …) of the format
// that head, a file's first bytes (MediaSniffLen are enough), holds, or ""
// when it is none WeChat's media API takes. It is for files whose name
// cannot be trusted to say what they hold, such as one a browser uploads.
func SniffMedia(head []byte) string {
	for _, f := range mediaFormats {
		if f.is(head) {
			return f.exts[0]
		}
	}
	return ""
}

// CheckMediaContent checks that head, the first bytes of the file named
// name (MediaSniffLen are enough), holds the format its extension names,
// once CheckMedia has accepted the name. The error says what the file
// holds and what to do: rename it when WeChat takes that format as
// mediaType too, convert it otherwise.
func CheckMediaContent(mediaType, name string, head []byte, permanent bool) error {
	ext := strings.ToLower(filepath.Ext(name))
	i := slices.IndexFunc(mediaFormats, func(f mediaFormat) bool { return slices.Contains(f.exts, ext) })
	if i < 0 {
		return nil // an extension CheckMedia takes names a format above
	}
	want := mediaFormats[i]
	if want.is(head) {
		return nil
	}
	j := slices.IndexFunc(mediaFormats, func(f mediaFormat) bool { return f.is(head) })
	if j < 0 {
		looks := ""
		if ct := http.DetectContentType(head); ct != "application/octet-stream" {
			looks = " (its content looks like " + ct + ")"
		}
		return fmt.Errorf("%w: %s is not %s%s: is it damaged, or another kind of file renamed? Convert it to %s",
			ErrInvalidMedia, name, want.what, looks, strings.ToUpper(strings.TrimPrefix(want.exts[0], ".")))
	}
	got := mediaFormats[j]
	lim := MediaLimits[mediaType]
	takes := slices.Concat(lim.Exts, lim.PermanentExts)
	if !permanent {
		takes = lim.Exts
	}
	if slices.Contains(takes, got.exts[0]) {
		return fmt.Errorf("%w: %s is %s, not %s as its extension says: rename it %s",
			ErrInvalidMedia, name, got.what, want.what, strings.TrimSuffix(name, filepath.Ext(name))+got.exts[0])
	}
	kind := "temporary"
	if permanent {
		kind = "permanent"
	}
	return fmt.Errorf("%w: %s is %s, not %s as its extension says; WeChat takes %s %s as %s: convert it",
		ErrInvalidMedia, name, got.what, want.what, kind, mediaType, strings.Join(takes, " "))
}

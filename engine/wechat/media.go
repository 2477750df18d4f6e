package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
)

// Media types of the upload APIs.
const (
	MediaImage = "image"
	MediaVoice = "voice"
	MediaVideo = "video"
	MediaThumb = "thumb" // a video or music cover
)

// MediaTypes lists the media types, for messages.
var MediaTypes = []string{MediaImage, MediaVoice, MediaVideo, MediaThumb}

// MediaLimit is what WeChat takes for one media type.
type MediaLimit struct {
	MaxBytes int64
	// Exts are the file extensions (lower case, with the dot) WeChat takes,
	// temporary and permanent; a permanent upload takes PermanentExts too.
	Exts, PermanentExts []string
}

// MediaLimits are the size and format limits of media/upload and
// material/add_material ("与公众平台官网一致"):
//
//   - image: 10 MB, PNG JPEG JPG GIF (permanent also BMP). The current
//     pages (developers.weixin.qq.com/doc/service/api/material/temporary/api_uploadtempmedia
//     "其他补充" and …/permanent/api_addmaterial "注意事项") say 10M; older
//     copies and a note on the same temporary page say 2 MB. 10 MB is
//     checked here, and WeChat has the last word (40009 "invalid image
//     size").
//   - voice: 2 MB, at most 60 s, AMR MP3 (permanent also WMA WAV). Length
//     is not checked here.
//   - video: 10 MB, MP4.
//   - thumb: 64 KB, JPG.
var MediaLimits = map[string]MediaLimit{
	MediaImage: {MaxBytes: 10 << 20, Exts: []string{".png", ".jpeg", ".jpg", ".gif"}, PermanentExts: []string{".bmp"}},
	MediaVoice: {MaxBytes: 2 << 20, Exts: []string{".amr", ".mp3"}, PermanentExts: []string{".wma", ".wav"}},
	MediaVideo: {MaxBytes: 10 << 20, Exts: []string{".mp4"}},
	MediaThumb: {MaxBytes: 64 << 10, Exts: []string{".jpg", ".jpeg"}},
}

// ErrInvalidMedia means a file breaks WeChat's type or size limits; it is
// found before any call.
var ErrInvalidMedia = errors.New("invalid media")

// CheckMedia checks a file of size bytes named name against the limits of
// mediaType (permanent material takes a few more formats).
func CheckMedia(mediaType, name string, size int64, permanent bool) error {
	lim, ok := MediaLimits[mediaType]
	if !ok {
		return fmt.Errorf("%w: type %q: want one of %s", ErrInvalidMedia, mediaType, strings.Join(MediaTypes, ", "))
	}
	exts := lim.Exts
	if permanent {
		exts = append(append([]string(nil), exts...), lim.PermanentExts...)
	}
	ext := strings.ToLower(filepath.Ext(name))
	okExt := false
	for _, e := range exts {
		okExt = okExt || e == ext
	}
	if !okExt {
		kind := "temporary"
		if permanent {
			kind = "permanent"
		}
		return fmt.Errorf("%w: %s: WeChat takes %s %s as %s", ErrInvalidMedia, name, kind, mediaType, strings.Join(exts, " "))
	}
	if size <= 0 {
		return fmt.Errorf("%w: %s is empty", ErrInvalidMedia, name)
	}
	if size > lim.MaxBytes {
		return fmt.Errorf("%w: %s is %d bytes; WeChat takes %s up to %s", ErrInvalidMedia, name, size, mediaType, byteSize(lim.MaxBytes))
	}
	return nil
}

func byteSize(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%d KB", n>>10)
}

// MediaUploaded is the answer of media/upload.
type MediaUploaded struct {
	Type      string `json:"type"`
	MediaID   string `json:"media_id"`
	CreatedAt int64  `json:"created_at"`
	// ThumbMediaID is set instead of MediaID for a thumb by some servers.
	ThumbMediaID string `json:"thumb_media_id,omitempty"`
}

// MaterialAdded is the answer of material/add_material.
type MaterialAdded struct {
	MediaID string `json:"media_id"`
	URL     string `json:"url,omitempty"` // images only
}

// VideoDescription is the description form field of a permanent video.
type VideoDescription struct {
	Title        string `json:"title"`
	Introduction string `json:"introduction"`
}

const (
	pathMediaUpload   = "/cgi-bin/media/upload"
	pathMaterialAdd   = "/cgi-bin/material/add_material"
	pathMaterialBatch = "/cgi-bin/material/batchget_material"
)

// UploadMedia uploads temporary media (valid 3 days) from data, named
// filename, after checking its type and size.
func (c *Client) UploadMedia(ctx context.Context, mediaType, filename string, data []byte) (*MediaUploaded, error) {
	if err := CheckMedia(mediaType, filename, int64(len(data)), false); err != nil {
		return nil, err
	}
	var ans MediaUploaded
	err := c.uploadForm(ctx, pathMediaUpload, url.Values{"type": {mediaType}}, "media", filename, data, nil, &ans)
	if err != nil {
		return nil, err
	}
	if ans.MediaID == "" {
		ans.MediaID = ans.ThumbMediaID
	}
	if ans.MediaID == "" {
		return nil, fmt.Errorf("wechat api %s: the answer has no media_id", pathMediaUpload)
	}
	return &ans, nil
}

// AddMaterial uploads permanent material from data, named filename, after
// checking its type and size. A video needs desc (its title and
// introduction); other types ignore it.
func (c *Client) AddMaterial(ctx context.Context, mediaType, filename string, data []byte, desc *VideoDescription) (*MaterialAdded, error) {
	if err := CheckMedia(mediaType, filename, int64(len(data)), true); err != nil {
		return nil, err
	}
	var fields map[string]string
	if mediaType == MediaVideo {
		if desc == nil || strings.TrimSpace(desc.Title) == "" {
			return nil, fmt.Errorf("%w: a permanent video needs a title (and an introduction)", ErrInvalidMedia)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(desc); err != nil {
			return nil, err
		}
		fields = map[string]string{"description": strings.TrimSpace(buf.String())}
	}
	var ans MaterialAdded
	if err := c.uploadForm(ctx, pathMaterialAdd, url.Values{"type": {mediaType}}, "media", filename, data, fields, &ans); err != nil {
		return nil, err
	}
	if ans.MediaID == "" {
		return nil, fmt.Errorf("wechat api %s: the answer has no media_id", pathMaterialAdd)
	}
	return &ans, nil
}

// uploadForm posts data as the multipart file field, with extra form
// fields, and retries once on a token error.
func (c *Client) uploadForm(ctx context.Context, path string, query url.Values, field, filename string, data []byte, fields map[string]string, out any) error {
	for attempt := 0; ; attempt++ {
		tok, err := c.Token(ctx)
		if err != nil {
			return err
		}
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		q.Set("access_token", tok)
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		fw, err := w.CreateFormFile(field, filename)
		if err != nil {
			return err
		}
		if _, err := fw.Write(data); err != nil {
			return err
		}
		for k, v := range fields {
			if err := w.WriteField(k, v); err != nil {
				return err
			}
		}
		if err := w.Close(); err != nil {
			return err
		}
		var raw json.RawMessage
		err = c.send(ctx, http.MethodPost, path, q, w.FormDataContentType(), &buf, &raw)
		if err == nil {
			var st apiStatus
			if json.Unmarshal(raw, &st) == nil {
				err = st.err(path)
			}
		}
		if attempt == 0 && IsTokenExpired(err) {
			if ierr := c.rejectToken(ctx, tok); ierr != nil {
				return fmt.Errorf("invalidating the access_token: %w", ierr)
			}
			continue
		}
		if err == nil && out != nil {
			if jerr := json.Unmarshal(raw, out); jerr != nil {
				return fmt.Errorf("wechat api %s: decoding the answer: %w", path, jerr)
			}
		}
		return err
	}
}

// MaterialItem is one permanent material batchget_material lists (image,
// voice, video); news items have Content instead of Name and URL.
type MaterialItem struct {
	MediaID    string `json:"media_id"`
	Name       string `json:"name"`
	UpdateTime int64  `json:"update_time"`
	URL        string `json:"url,omitempty"`
	Content    *struct {
		NewsItem []struct {
			Title string `json:"title"`
			URL   string `json:"url"`
		} `json:"news_item"`
	} `json:"content,omitempty"`
}

// MaterialPage is one page of batchget_material.
type MaterialPage struct {
	TotalCount int            `json:"total_count"`
	ItemCount  int            `json:"item_count"`
	Items      []MaterialItem `json:"item"`
}

// MaterialListMax is the most items one batchget_material call returns.
const MaterialListMax = 20

// MaterialTypes are the types batchget_material lists.
var MaterialTypes = []string{MediaImage, MediaVoice, MediaVideo, "news"}

// ListMaterial lists count (1-20) permanent materials of mediaType from
// offset.
func (c *Client) ListMaterial(ctx context.Context, mediaType string, offset, count int) (*MaterialPage, error) {
	ok := false
	for _, t := range MaterialTypes {
		ok = ok || t == mediaType
	}
	if !ok {
		return nil, fmt.Errorf("%w: material type %q: want one of %s", ErrInvalidMedia, mediaType, strings.Join(MaterialTypes, ", "))
	}
	if count < 1 || count > MaterialListMax {
		count = MaterialListMax
	}
	body := struct {
		Type   string `json:"type"`
		Offset int    `json:"offset"`
		Count  int    `json:"count"`
	}{mediaType, offset, count}
	var ans MaterialPage
	if err := c.Call(ctx, http.MethodPost, pathMaterialBatch, nil, body, &ans); err != nil {
		return nil, err
	}
	return &ans, nil
}

// The hints of the media errors.
var mediaHints = map[int]string{
	40004: "invalid media type: image, voice, video or thumb",
	40005: "invalid file type for this media type",
	40006: "the file is too large for this media type",
	40007: "invalid media_id",
	40009: "the image is too large",
	40010: "the voice file is too large (at most 2 MB, 60 s)",
	40011: "the video is too large (at most 10 MB)",
	40012: "the thumb is too large (at most 64 KB)",
	45001: "the media file is too large",
}

func init() { addHints(mediaHints) }

package wechat

import (
	"encoding/xml"
	"fmt"
)

// Reply types, the MsgType values of a passive reply.
const (
	ReplyText     = "text"
	ReplyImage    = "image"
	ReplyVoice    = "voice"
	ReplyVideo    = "video"
	ReplyMusic    = "music"
	ReplyNews     = "news"
	ReplyTransfer = "transfer_customer_service"
)

// Reply is a passive reply. Type selects which other fields are written:
//
//	text      Content
//	image     MediaID
//	voice     MediaID
//	video     MediaID, Title, Description (both optional)
//	music     Title, Description, MusicURL, HQMusicURL, ThumbMediaID
//	news      Articles (the caller enforces WeChat's count limit)
//	transfer_customer_service  KfAccount (optional: TransInfo is omitted when empty)
type Reply struct {
	Type         string
	Content      string
	MediaID      string
	Title        string
	Description  string
	MusicURL     string
	HQMusicURL   string
	ThumbMediaID string
	Articles     []Article
	KfAccount    string
}

// Article is one item of a news reply.
type Article struct {
	Title       string
	Description string
	PicURL      string
	URL         string
}

// replyXML is a passive reply as encoding/xml sees it. ParseReply uses
// encoding/xml rather than the scanner behind Decode so that tests check
// AppendReply against an independent reader.
type replyXML struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   string
	FromUserName string
	CreateTime   int64
	MsgType      string
	Content      string
	Image        struct{ MediaId string }
	Voice        struct{ MediaId string }
	Video        struct{ MediaId, Title, Description string }
	Music        struct{ Title, Description, MusicUrl, HQMusicUrl, ThumbMediaId string }
	ArticleCount *int
	Articles     struct {
		Items []struct{ Title, Description, PicUrl, Url string } `xml:"item"`
	}
	TransInfo struct{ KfAccount string }
}

// ParseReply reads a passive reply as written by [AppendReply]: the
// simulator prints replies with it and tests round-trip through it. Fields
// that do not belong to the reply's type are ignored. The error wraps
// [ErrMalformed] when body is not a reply (for example the plain "success"
// a server answers when it has nothing to say), has no MsgType, or is news
// whose ArticleCount differs from its items.
func ParseReply(body []byte) (to, from string, createTime int64, r *Reply, err error) {
	var v replyXML
	if err := xml.Unmarshal(body, &v); err != nil {
		return "", "", 0, nil, fmt.Errorf("%w: reply: %v", ErrMalformed, err)
	}
	if v.MsgType == "" {
		return "", "", 0, nil, fmt.Errorf("%w: reply: no MsgType", ErrMalformed)
	}
	r = &Reply{Type: v.MsgType}
	switch v.MsgType {
	case ReplyText:
		r.Content = v.Content
	case ReplyImage:
		r.MediaID = v.Image.MediaId
	case ReplyVoice:
		r.MediaID = v.Voice.MediaId
	case ReplyVideo:
		r.MediaID, r.Title, r.Description = v.Video.MediaId, v.Video.Title, v.Video.Description
	case ReplyMusic:
		m := v.Music
		r.Title, r.Description, r.MusicURL, r.HQMusicURL, r.ThumbMediaID = m.Title, m.Description, m.MusicUrl, m.HQMusicUrl, m.ThumbMediaId
	case ReplyNews:
		items := v.Articles.Items
		if v.ArticleCount == nil || *v.ArticleCount != len(items) {
			return "", "", 0, nil, fmt.Errorf("%w: reply: ArticleCount does not match the %d articles", ErrMalformed, len(items))
		}
		for _, it := range items {
			r.Articles = append(r.Articles, Article{Title: it.Title, Description: it.Description, PicURL: it.PicUrl, URL: it.Url})
		}
	case ReplyTransfer:
		r.KfAccount = v.TransInfo.KfAccount
	}
	return v.ToUserName, v.FromUserName, v.CreateTime, r, nil
}

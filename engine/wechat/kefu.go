package wechat

import (
	"context"
	"net/http"
)

// KefuMessage is a customer-service message for /cgi-bin/message/custom/send:
// ToUser, MsgType and the one field named by MsgType.
type KefuMessage struct {
	ToUser          string               `json:"touser"`
	MsgType         string               `json:"msgtype"`
	Text            *KefuText            `json:"text,omitempty"`
	Image           *KefuMedia           `json:"image,omitempty"`
	Voice           *KefuMedia           `json:"voice,omitempty"`
	Video           *KefuVideo           `json:"video,omitempty"`
	Music           *KefuMusic           `json:"music,omitempty"`
	News            *KefuNews            `json:"news,omitempty"`
	MPNews          *KefuMedia           `json:"mpnews,omitempty"`
	MPNewsArticle   *KefuArticleID       `json:"mpnewsarticle,omitempty"`
	MsgMenu         *KefuMsgMenu         `json:"msgmenu,omitempty"`
	WxCard          *KefuCard            `json:"wxcard,omitempty"`
	MiniProgramPage *KefuMiniProgramPage `json:"miniprogrampage,omitempty"`
	// CustomService sends the message as a named kefu account.
	CustomService *KefuAccount `json:"customservice,omitempty"`
}

// KefuText is a text message; it may contain <a href="…"> links.
type KefuText struct {
	Content string `json:"content"`
}

// KefuMedia names uploaded media.
type KefuMedia struct {
	MediaID string `json:"media_id"`
}

// KefuVideo is a video message.
type KefuVideo struct {
	MediaID      string `json:"media_id"`
	ThumbMediaID string `json:"thumb_media_id"`
	Title        string `json:"title,omitempty"`
	Description  string `json:"description,omitempty"`
}

// KefuMusic is a music message.
type KefuMusic struct {
	Title        string `json:"title,omitempty"`
	Description  string `json:"description,omitempty"`
	MusicURL     string `json:"musicurl"`
	HQMusicURL   string `json:"hqmusicurl"`
	ThumbMediaID string `json:"thumb_media_id"`
}

// KefuNews is a news message; WeChat takes one article (45008 otherwise).
type KefuNews struct {
	Articles []KefuArticle `json:"articles"`
}

// KefuArticle is one news article.
type KefuArticle struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url,omitempty"`
	PicURL      string `json:"picurl,omitempty"`
}

// KefuArticleID names a published article (mpnewsarticle).
type KefuArticleID struct {
	ArticleID string `json:"article_id"`
}

// KefuMsgMenu is a message with tappable options; a tap comes back as a
// text message whose bizmsgmenuid is the option's id.
type KefuMsgMenu struct {
	HeadContent string             `json:"head_content,omitempty"`
	List        []KefuMsgMenuEntry `json:"list"`
	TailContent string             `json:"tail_content,omitempty"`
}

// KefuMsgMenuEntry is one option of a msgmenu.
type KefuMsgMenuEntry struct {
	ID      string `json:"id"`
	Content string `json:"content"`
}

// KefuCard is a card (only cards without a custom code).
type KefuCard struct {
	CardID string `json:"card_id"`
}

// KefuMiniProgramPage is a mini-program card.
type KefuMiniProgramPage struct {
	Title        string `json:"title"`
	AppID        string `json:"appid"`
	PagePath     string `json:"pagepath"`
	ThumbMediaID string `json:"thumb_media_id"`
}

// KefuAccount names the kefu account a message is sent as.
type KefuAccount struct {
	KfAccount string `json:"kf_account"`
}

// SendKefu sends a customer-service message.
func (c *Client) SendKefu(ctx context.Context, m *KefuMessage) error {
	return c.Call(ctx, http.MethodPost, "/cgi-bin/message/custom/send", nil, m, nil)
}

// Typing shows (or, typing false, cancels) "typing…" to a user.
func (c *Client) Typing(ctx context.Context, openID string, typing bool) error {
	cmd := "Typing"
	if !typing {
		cmd = "CancelTyping"
	}
	return c.Call(ctx, http.MethodPost, "/cgi-bin/message/custom/typing", nil,
		map[string]string{"touser": openID, "command": cmd}, nil)
}

// KefuFromReply turns a passive reply into the kefu message that says the
// same, for a reply that came too late to be passive. A transfer has no
// kefu equivalent, nor has a news reply without articles: ok is false.
func KefuFromReply(openID string, r *Reply) (m *KefuMessage, ok bool) {
	m = &KefuMessage{ToUser: openID, MsgType: r.Type}
	switch r.Type {
	case ReplyText:
		m.Text = &KefuText{Content: r.Content}
	case ReplyImage:
		m.Image = &KefuMedia{MediaID: r.MediaID}
	case ReplyVoice:
		m.Voice = &KefuMedia{MediaID: r.MediaID}
	case ReplyVideo:
		m.Video = &KefuVideo{MediaID: r.MediaID, ThumbMediaID: r.ThumbMediaID, Title: r.Title, Description: r.Description}
	case ReplyMusic:
		m.Music = &KefuMusic{Title: r.Title, Description: r.Description, MusicURL: r.MusicURL,
			HQMusicURL: r.HQMusicURL, ThumbMediaID: r.ThumbMediaID}
	case ReplyNews:
		if len(r.Articles) == 0 {
			return nil, false
		}
		a := r.Articles[0] // kefu news takes one article (45008 otherwise)
		m.News = &KefuNews{Articles: []KefuArticle{{Title: a.Title, Description: a.Description, URL: a.URL, PicURL: a.PicURL}}}
	default:
		return nil, false
	}
	return m, true
}

package wechat

import (
	"context"
	"net/http"
)

// AutoReplyInfo is what /cgi-bin/get_current_autoreply_info returns: the
// auto-replies set in the MP console (关注后自动回复, 消息自动回复,
// 关键词自动回复). Replies set by a server (like wxbot) are not in it.
//
// Field names are those of the official documentation
// (developers.weixin.qq.com/doc/offiaccount/Message_Management/Getting_Rules_for_Auto_Replies.html);
// testdata/autoreply_doc.json is its sample.
type AutoReplyInfo struct {
	// IsAddFriendReplyOpen is 1 when the reply to a new follower is on.
	IsAddFriendReplyOpen int `json:"is_add_friend_reply_open"`
	// IsAutoReplyOpen is 1 when the default reply to messages is on.
	IsAutoReplyOpen int `json:"is_autoreply_open"`
	// AddFriend is the reply to a new follower (text, img, voice, video).
	AddFriend *AutoReply `json:"add_friend_autoreply_info,omitempty"`
	// MessageDefault is the reply to a message no keyword rule matched;
	// the console sends it at most once an hour to a user.
	MessageDefault *AutoReply `json:"message_default_autoreply_info,omitempty"`
	// Keyword holds the keyword rules.
	Keyword *KeywordAutoReplies `json:"keyword_autoreply_info,omitempty"`
}

// KeywordAutoReplies is keyword_autoreply_info.
type KeywordAutoReplies struct {
	List []KeywordRule `json:"list"`
}

// KeywordRule is one keyword rule of the console.
type KeywordRule struct {
	RuleName   string `json:"rule_name"`
	CreateTime int64  `json:"create_time"`
	// ReplyMode is ReplyModeAll or ReplyModeRandom.
	ReplyMode string           `json:"reply_mode"`
	Keywords  []AutoReplyMatch `json:"keyword_list_info"`
	Replies   []AutoReply      `json:"reply_list_info"`
}

// Values of KeywordRule.ReplyMode.
const (
	ReplyModeAll    = "reply_all"  // every reply, in order
	ReplyModeRandom = "random_one" // one reply picked at random
)

// AutoReplyMatch is one keyword of a rule.
type AutoReplyMatch struct {
	Type string `json:"type"` // "text"
	// MatchMode is MatchEqual or MatchContain.
	MatchMode string `json:"match_mode"`
	Content   string `json:"content"` // the keyword
}

// Values of AutoReplyMatch.MatchMode.
const (
	MatchEqual   = "equal"   // the message is the keyword (全匹配)
	MatchContain = "contain" // the message contains the keyword (半匹配)
)

// AutoReply is one reply of the console. Type is one of the AutoReply*
// constants; Content is the text of a text reply and a media_id otherwise
// (the documentation's sample has a download URL for video). Images,
// voices and videos are temporary media, valid for 3 days from the call;
// news articles are permanent material.
type AutoReply struct {
	Type     string    `json:"type"`
	Content  string    `json:"content,omitempty"`
	NewsInfo *NewsInfo `json:"news_info,omitempty"`
}

// The reply types of the console; note "img", not "image".
const (
	AutoReplyText  = "text"
	AutoReplyImage = "img"
	AutoReplyVoice = "voice"
	AutoReplyVideo = "video"
	AutoReplyNews  = "news"
)

// NewsInfo is the articles of a console news reply or menu button
// (news_info.list).
type NewsInfo struct {
	List []NewsArticle `json:"list"`
}

// NewsArticle is one article of NewsInfo.
type NewsArticle struct {
	Title      string `json:"title"`
	Author     string `json:"author"`
	Digest     string `json:"digest"`
	ShowCover  int    `json:"show_cover"`
	CoverURL   string `json:"cover_url"`
	ContentURL string `json:"content_url"`
	SourceURL  string `json:"source_url"`
}

const pathAutoReplyInfo = "/cgi-bin/get_current_autoreply_info"

// AutoReplyInfo returns the auto-replies set in the MP console.
func (c *Client) AutoReplyInfo(ctx context.Context) (*AutoReplyInfo, error) {
	var ans AutoReplyInfo
	if err := c.Call(ctx, http.MethodGet, pathAutoReplyInfo, nil, nil, &ans); err != nil {
		return nil, err
	}
	return &ans, nil
}

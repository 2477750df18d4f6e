package wechat

import (
	"context"
	"net/http"
)

// SelfMenuInfo is what /cgi-bin/get_current_selfmenu_info returns: the menu
// in use, whether it was made through the API or in the MP console. Its
// JSON differs from menu/get: sub-buttons are under sub_button.list, and
// console-made buttons have types menu/create does not take (text, img,
// voice, video, news) with their content in value and news_info.
//
// Field names are those of the official documentation
// (developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Querying_Custom_Menus.html);
// testdata/selfmenu_console.json and selfmenu_api.json are its samples.
type SelfMenuInfo struct {
	// IsMenuOpen is 1 when the menu is on.
	IsMenuOpen int `json:"is_menu_open"`
	Menu       struct {
		Buttons []SelfMenuButton `json:"button"`
	} `json:"selfmenu_info"`
}

// SelfMenuButton is one button of SelfMenuInfo: a parent (Name and
// SubButtons) or a leaf.
type SelfMenuButton struct {
	Type string `json:"type,omitempty"`
	Name string `json:"name"`
	// Key of the API types click, scancode_*, pic_*, location_select.
	Key string `json:"key,omitempty"`
	// URL of view (and the fallback of miniprogram).
	URL string `json:"url,omitempty"`
	// Value of a console button: the text of text; a media_id of img and
	// voice (temporary, 3 days); a download URL of video; a media_id of news.
	Value string `json:"value,omitempty"`
	// NewsInfo holds the articles of a console news button.
	NewsInfo   *NewsInfo    `json:"news_info,omitempty"`
	MediaID    string       `json:"media_id,omitempty"`
	ArticleID  string       `json:"article_id,omitempty"`
	AppID      string       `json:"appid,omitempty"`
	PagePath   string       `json:"pagepath,omitempty"`
	SubButtons *SelfSubList `json:"sub_button,omitempty"`
}

// SelfSubList is sub_button: {"list": [...]}.
type SelfSubList struct {
	List []SelfMenuButton `json:"list"`
}

// Subs returns the sub-buttons of b (none for a leaf).
func (b *SelfMenuButton) Subs() []SelfMenuButton {
	if b.SubButtons == nil {
		return nil
	}
	return b.SubButtons.List
}

// The button types only the MP console makes: a tap answers with content
// WeChat keeps, and no event reaches a server.
const (
	SelfMenuText  = "text"
	SelfMenuImage = "img"
	SelfMenuVoice = "voice"
	SelfMenuVideo = "video"
	SelfMenuNews  = "news"
)

const pathSelfMenuInfo = "/cgi-bin/get_current_selfmenu_info"

// SelfMenuInfo returns the menu in use, as the console or the API set it.
func (c *Client) SelfMenuInfo(ctx context.Context) (*SelfMenuInfo, error) {
	var ans SelfMenuInfo
	if err := c.Call(ctx, http.MethodGet, pathSelfMenuInfo, nil, nil, &ans); err != nil {
		return nil, err
	}
	return &ans, nil
}

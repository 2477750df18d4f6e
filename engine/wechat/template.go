package wechat

import (
	"context"
	"net/http"
)

// TemplatePath is the template message API.
const TemplatePath = "/cgi-bin/message/template/send"

// TemplateMessage is a template message (模板消息) for TemplatePath. Unlike
// a kefu message it needs no kefu window, only that the user follows the
// account.
type TemplateMessage struct {
	ToUser     string `json:"touser"`
	TemplateID string `json:"template_id"`
	// URL opens when the message is tapped; MiniProgram, when set and the
	// user's client supports it, opens a mini program page instead.
	URL         string                   `json:"url,omitempty"`
	MiniProgram *TemplateMiniProgram     `json:"miniprogram,omitempty"`
	Data        map[string]TemplateValue `json:"data"`
	// ClientMsgID makes the send idempotent for about 10 minutes: WeChat
	// sends one message per (touser, client_msg_id).
	ClientMsgID string `json:"client_msg_id,omitempty"`
}

// TemplateMiniProgram is the mini program a template message opens.
type TemplateMiniProgram struct {
	AppID    string `json:"appid"`
	PagePath string `json:"pagepath,omitempty"`
}

// TemplateValue is one keyword of a template message. WeChat no longer
// shows Color on most clients but still accepts it.
type TemplateValue struct {
	Value string `json:"value"`
	Color string `json:"color,omitempty"`
}

// SendTemplate sends a template message and returns its msgid.
func (c *Client) SendTemplate(ctx context.Context, m *TemplateMessage) (int64, error) {
	var out struct {
		MsgID int64 `json:"msgid"`
	}
	err := c.Call(ctx, http.MethodPost, TemplatePath, nil, m, &out)
	return out.MsgID, err
}

func init() {
	// The codes operators meet with template messages, next to the common
	// ones in api.go.
	addHints(map[int]string{
		40036: "the template_id is too long or malformed",
		40037: "the template_id is not one of this account's templates (广告与服务 → 模板消息)",
		47003: "the data does not fit the template: check the keyword names and value lengths",
	})
}

package engine

import "github.com/wxbot/wxbot/engine/wechat"

type wechatReply = wechat.Reply

func textReply(s string) *wechat.Reply { return &wechat.Reply{Type: wechat.ReplyText, Content: s} }

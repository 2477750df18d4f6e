package callback

import (
	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/wechat"
)

func rule(name string, on []string, opts ...func(*engine.Rule)) *engine.Rule {
	r := &engine.Rule{Name: name, On: on}
	for _, o := range opts {
		o(r)
	}
	return r
}

func exact(xs ...string) func(*engine.Rule) {
	return func(r *engine.Rule) {
		for _, x := range xs {
			r.Text.Exact = append(r.Text.Exact, engine.NormalizeText(x))
		}
	}
}

func prefix(x string) func(*engine.Rule) {
	return func(r *engine.Rule) { r.Text.Prefix = append(r.Text.Prefix, x) }
}

func keys(xs ...string) func(*engine.Rule) { return func(r *engine.Rule) { r.Keys = xs } }

func textReply(s string) *wechat.Reply { return &wechat.Reply{Type: wechat.ReplyText, Content: s} }

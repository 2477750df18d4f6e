// Package greet is an example custom action: a passive reply that greets
// by the time of day. It registers itself; importing it is all a custom
// build needs.
package greet

import (
	"context"
	"errors"
	"fmt"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/wechat"
)

func init() {
	engine.Register(engine.Spec{
		Name:    "greet",
		Doc:     "reply with a greeting for the time of day (早上好, 下午好, 晚上好) followed by text",
		Params:  func() any { return &Params{Morning: 5, Afternoon: 12, Evening: 18} }, // defaults first
		New:     func(p any) (engine.Action, error) { return &greet{p: p.(*Params)}, nil },
		Passive: true,
	})
}

// Params are greet's params; the doc tags are what `wxbot schema` shows.
type Params struct {
	Text      engine.Template `yaml:"text" doc:"what follows the greeting; may hold ${ expr }"`
	Morning   int             `yaml:"morning" doc:"hour the morning starts (default 5)"`
	Afternoon int             `yaml:"afternoon" doc:"hour the afternoon starts (default 12)"`
	Evening   int             `yaml:"evening" doc:"hour the evening starts (default 18)"`
}

// Validate runs at load time, so a bad rules file never starts.
func (p *Params) Validate() error {
	if p.Text.IsZero() {
		return errors.New("text: required")
	}
	if !(0 <= p.Morning && p.Morning < p.Afternoon && p.Afternoon < p.Evening && p.Evening <= 24) {
		return fmt.Errorf("want 0 ≤ morning < afternoon < evening ≤ 24, got %d, %d, %d", p.Morning, p.Afternoon, p.Evening)
	}
	return nil
}

type greet struct{ p *Params }

func (g *greet) Run(_ context.Context, c *engine.Call) error {
	text, err := c.Render(&g.p.Text)
	if err != nil {
		return err
	}
	h := c.Env.Hour(c.Env.Now())
	hello := "晚上好"
	switch {
	case h >= g.p.Morning && h < g.p.Afternoon:
		hello = "早上好"
	case h >= g.p.Afternoon && h < g.p.Evening:
		hello = "下午好"
	}
	c.Reply(&wechat.Reply{Type: wechat.ReplyText, Content: hello + ", " + text})
	return nil
}

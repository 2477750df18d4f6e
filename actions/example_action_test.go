package actions_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

// A custom action registers itself from an init function of its package;
// import that package next to cmd in your main, and rules can use it by
// name. The README shows this file's code from here to the example.

// ShoutParams are the params of the example `shout` action.
type ShoutParams struct {
	// Text is upper-cased and sent back as a passive reply.
	Text engine.Template `yaml:"text"`
	// Times repeats it (default 1).
	Times int `yaml:"times"`
}

// Validate runs after decoding, at load time.
func (p *ShoutParams) Validate() error {
	if p.Text.IsZero() {
		return errors.New("text: required")
	}
	if p.Times < 1 || p.Times > 3 {
		return fmt.Errorf("times: %d, want 1 to 3", p.Times)
	}
	return nil
}

func init() {
	engine.Register(engine.Spec{
		Name:    "shout",
		Doc:     "reply with the text in capitals",
		Params:  func() any { return &ShoutParams{Times: 1} }, // defaults first
		Passive: true,
		New: func(p any) (engine.Action, error) {
			params := p.(*ShoutParams)
			return engine.ActionFunc(func(ctx context.Context, c *engine.Call) error {
				s, err := c.Render(&params.Text) // ${ } works in Text
				if err != nil {
					return err
				}
				c.Reply(&wechat.Reply{Type: wechat.ReplyText, Content: strings.Repeat(strings.ToUpper(s), params.Times)})
				return nil
			}), nil
		},
	})
}

// The custom action in a rules file: params are checked when the rules load.
func Example_customAction() {
	loaded, err := rules.Parse("rules.yaml", []byte(`
version: 1
rules:
  - name: loud
    on: text
    actions:
      - shout: {text: "hello ${event.content}!", times: 2}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	e := engine.New(engine.Options{})
	e.SetRules(loaded.Set)
	res, _ := e.Dispatch(&engine.Event{Type: "text", Content: "wechat"}).Finish(context.Background())
	fmt.Println(res.Reply.Content)

	_, err = rules.Parse("rules.yaml", []byte("version: 1\nrules:\n  - {name: x, on: text, actions: [{shout: {times: 5}}]}\n"))
	fmt.Println(err)
	// Output:
	// HELLO WECHAT!HELLO WECHAT!
	// rules.yaml:3:43: rule "x": actions[0] (shout): text: required
}

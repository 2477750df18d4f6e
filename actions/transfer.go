package actions

import (
	"context"
	"fmt"
	"strings"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/wechat"
)

func init() {
	engine.Register(engine.Spec{
		Name:    "transfer",
		Doc:     "hand the user's message to the customer-service (kefu) system",
		Params:  func() any { return new(TransferParams) },
		New:     func(p any) (engine.Action, error) { return &transferAction{p: p.(*TransferParams)}, nil },
		Passive: true,
		Inline:  true, // renders templates, nothing else
	})
}

// TransferParams are the params of `transfer`.
type TransferParams struct {
	// KfAccount sends the message to this kefu account (prefix@wechat-id);
	// empty lets WeChat pick any online kefu.
	KfAccount engine.Template `yaml:"kf_account" doc:"kefu account prefix@wechat-id; empty lets WeChat pick an online kefu"`
}

// Validate checks a constant kf_account's form.
func (p *TransferParams) Validate() error {
	if k := p.KfAccount.String(); k != "" && p.KfAccount.Constant() && !strings.Contains(k, "@") {
		return fmt.Errorf("kf_account: %q is not of the form prefix@wechat-id", k)
	}
	return nil
}

type transferAction struct{ p *TransferParams }

func (a *transferAction) Run(ctx context.Context, c *engine.Call) error {
	kf, err := c.Render(&a.p.KfAccount)
	if err != nil {
		return err
	}
	if c.Reply(&wechat.Reply{Type: wechat.ReplyTransfer, KfAccount: kf}) {
		// the user now waits for an agent: the bot keeps quiet meanwhile
		return c.SetHandoff(ctx, &engine.KfState{Waiting: true, Since: c.Now()})
	}
	return nil
}

package actions

import (
	"context"
	"errors"
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
	// IfOffline runs instead of the transfer when no agent (or not
	// kf_account) is online.
	IfOffline engine.Steps `yaml:"if_offline" doc:"actions run instead of the transfer when no agent (or not kf_account) is online; who is online is asked of WeChat (getonlinekflist), kept 30 s and shared on Redis; when the check fails the transfer goes ahead"`
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
	if len(a.p.IfOffline) > 0 {
		online, err := c.AgentsOnline(ctx, kf)
		switch {
		case err != nil && !errors.Is(err, engine.ErrNoAPI):
			c.Logger.Warn("transfer: who is online is unknown; transferring (WeChat decides)", "err", err)
		case err == nil && !online:
			c.Handoff(engine.HandoffOffline)
			return c.Run(ctx, a.p.IfOffline)
		}
	}
	// The user waits for an agent from now, and the bot keeps quiet: it is
	// recorded before the reply goes, or the user's next message could
	// arrive first and be answered.
	if err := c.SetHandoff(ctx, &engine.KfState{Waiting: true, Since: c.Now()}); err != nil {
		c.Logger.Warn("transfer: the handoff is not recorded; the bot may answer the user's next messages", "err", err)
	}
	// A transfer can only be the passive reply: one that is not (another
	// reply won, or it comes too late and is not held) reaches nobody, and
	// the user waits for no one.
	if c.Reply(&wechat.Reply{Type: wechat.ReplyTransfer, KfAccount: kf}) && (!c.Late() || c.HoldsLate()) {
		c.Handoff(engine.HandoffTransferred)
		return nil
	}
	return c.SetHandoff(ctx, nil)
}

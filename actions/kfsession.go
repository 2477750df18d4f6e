package actions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine"
)

func init() {
	engine.Register(engine.Spec{
		Name:   "kf_session",
		Doc:    "give the user's conversation to a named agent (create), or end the agent's session (close), through the WeChat API",
		Params: func() any { return new(KfSessionParams) },
		New:    func(p any) (engine.Action, error) { return &kfSessionAction{p: p.(*KfSessionParams)}, nil },
		Inline: true, // one API call, bounded: the push waits for it
	})
}

// KfSessionParams are the params of `kf_session`: exactly one of Create
// and Close.
type KfSessionParams struct {
	Create engine.Template `yaml:"create" doc:"the agent (prefix@wechat-id) who takes the user's conversation; they must be online"`
	Close  bool            `yaml:"close" doc:"end the session of the agent who holds the user's conversation (user.kf.account)"`
}

// Validate wants one of create and close.
func (p *KfSessionParams) Validate() error {
	switch {
	case p.Create.String() == "" && !p.Close:
		return errors.New("want create: AGENT or close: true")
	case p.Create.String() != "" && p.Close:
		return errors.New("create and close: choose one")
	case p.Create.Constant() && p.Create.String() != "" && !strings.Contains(p.Create.String(), "@"):
		return fmt.Errorf("create: %q is not of the form prefix@wechat-id", p.Create.String())
	}
	return nil
}

type kfSessionAction struct{ p *KfSessionParams }

// kfSessionTimeout bounds the call: the push waits for it.
const kfSessionTimeout = 2 * time.Second

func (a *kfSessionAction) Run(ctx context.Context, c *engine.Call) error {
	client := c.Client()
	if client == nil {
		if c.DryRun() {
			return a.record(ctx, c) // rule tests and explain: as if WeChat took it
		}
		return fmt.Errorf("kf_session: %w", engine.ErrNoAPI)
	}
	ctx, cancel := context.WithTimeout(ctx, kfSessionTimeout)
	defer cancel()
	if a.p.Close {
		k, ok := engine.KfOf(c.Env.User)
		if !ok || k.Account == "" {
			return nil // nobody holds it: nothing to close
		}
		if err := client.KfSessionClose(ctx, k.Account, c.Event.From); err != nil {
			return fmt.Errorf("kf_session: closing %s's session: %w", k.Account, err)
		}
		return a.record(ctx, c)
	}
	agent, err := c.Render(&a.p.Create)
	if err != nil {
		return err
	}
	if err := client.KfSessionCreate(ctx, agent, c.Event.From); err != nil {
		return fmt.Errorf("kf_session: giving the user to %s: %w", agent, err)
	}
	return a.record(ctx, c)
}

// record notes the session in user.kf at once (WeChat's kf events confirm
// it later), so that the user's next pushes are quiet from now.
func (a *kfSessionAction) record(ctx context.Context, c *engine.Call) error {
	if a.p.Close {
		return c.SetHandoff(ctx, nil)
	}
	agent, err := c.Render(&a.p.Create)
	if err != nil {
		return err
	}
	return c.SetHandoff(ctx, &engine.KfState{Account: agent, Since: c.Now()})
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/wechat"
)

// Who is online to take a transfer is asked of WeChat at most every
// OnlineTTL, and the answer kept in the store's user state under a name
// no OpenID has, with its own expiry, so that replicas on Redis share it:
// a burst of transfers makes one API call, not one each.
const (
	// OnlineTTL is how long the list of agents online is kept.
	OnlineTTL     = 30 * time.Second
	onlineUser    = store.InternalUserPrefix + "kf-online"
	onlineKey     = "accounts"
	onlineTimeout = 2 * time.Second
)

// ErrNoAPI is an action that needs the WeChat API on a bot without API
// credentials (or in an offline run).
var ErrNoAPI = errors.New("no WeChat API: the account has no AppID and AppSecret (--appid, --secret)")

// Client is the WeChat API for actions that need an answer while the push
// waits; nil without API credentials and in offline runs.
func (c *Call) Client() *wechat.Client {
	if c.progress == nil || c.progress.e == nil || c.progress.dryRun {
		return nil
	}
	return c.progress.e.client
}

// AgentsOnline reports whether an agent is online to take a transfer:
// account, when set, must be one of them. A failed check returns the
// error; the caller then lets WeChat decide.
func (c *Call) AgentsOnline(ctx context.Context, account string) (bool, error) {
	online, err := c.agentsOnline(ctx)
	if err != nil {
		return false, err
	}
	if account == "" {
		return len(online) > 0, nil
	}
	return slices.ContainsFunc(online, func(a string) bool { return strings.EqualFold(a, account) }), nil
}

func (c *Call) agentsOnline(ctx context.Context) ([]string, error) {
	e := c.progress.e
	if e == nil || e.state == nil {
		return nil, ErrNoAPI
	}
	if u, err := e.state.LoadUser(ctx, onlineUser); err == nil {
		if list, ok := u[onlineKey].([]any); ok {
			out := make([]string, 0, len(list))
			for _, a := range list {
				if s, ok := a.(string); ok {
					out = append(out, s)
				}
			}
			return out, nil
		}
	}
	client := c.Client()
	if client == nil {
		return nil, ErrNoAPI
	}
	ctx, cancel := context.WithTimeout(ctx, onlineTimeout)
	defer cancel()
	list, err := client.KfOnline(ctx)
	if err != nil {
		return nil, fmt.Errorf("asking who is online: %w", err)
	}
	accounts := make([]any, 0, len(list))
	names := make([]string, 0, len(list))
	for _, k := range list {
		accounts, names = append(accounts, k.Account), append(names, k.Account)
	}
	p := &store.UserPatch{Clear: true, Set: map[string]any{onlineKey: accounts}, TTL: OnlineTTL}
	if err := e.state.PatchUser(ctx, onlineUser, p); err != nil {
		c.Logger.Warn("keeping the list of agents online failed; the next transfer asks again", "err", err)
	}
	return names, nil
}

// Run runs steps (an action's own actions, see Steps) as part of this
// call, in order; the first error stops them.
func (c *Call) Run(ctx context.Context, steps Steps) error {
	for _, st := range steps {
		if err := st.Action.Run(ctx, c); err != nil {
			return fmt.Errorf("%s: %w", st.Name, err)
		}
	}
	return nil
}

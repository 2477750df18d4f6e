package wechat

import (
	"context"
	"net/http"
)

// The session paths: giving a user to an agent, and ending it.
const (
	PathKfSessionCreate = "/customservice/kfsession/create"
	PathKfSessionClose  = "/customservice/kfsession/close"
)

type kfSessionBody struct {
	Account string `json:"kf_account"`
	OpenID  string `json:"openid"`
}

// KfSessionCreate gives the user's conversation to the agent account (it
// must be bound to a WeChat user and online; WeChat answers 0 when the
// session exists already).
func (c *Client) KfSessionCreate(ctx context.Context, account, openID string) error {
	if err := ValidateKfAccount(account); err != nil {
		return err
	}
	return c.Call(ctx, http.MethodPost, PathKfSessionCreate, nil, kfSessionBody{account, openID}, nil)
}

// KfSessionClose ends the agent's session with the user.
func (c *Client) KfSessionClose(ctx context.Context, account, openID string) error {
	if err := ValidateKfAccount(account); err != nil {
		return err
	}
	return c.Call(ctx, http.MethodPost, PathKfSessionClose, nil, kfSessionBody{account, openID}, nil)
}

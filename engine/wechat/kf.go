package wechat

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"unicode/utf8"
)

// KfInfo is one customer-service account (getkflist).
type KfInfo struct {
	Account          string `json:"kf_account"`
	Nick             string `json:"kf_nick"`
	ID               string `json:"kf_id"`
	HeadImgURL       string `json:"kf_headimgurl"`
	WeChatID         string `json:"kf_wx"`
	InviteWeChatID   string `json:"invite_wx"`
	InviteExpireTime int64  `json:"invite_expire_time"`
	InviteStatus     string `json:"invite_status"` // waiting, rejected, expired
}

// KfOnline is one online customer-service account (getonlinekflist).
type KfOnline struct {
	Account      string `json:"kf_account"`
	Status       int    `json:"status"` // 1 PC, 2 mobile, 3 both
	ID           string `json:"kf_id"`
	AcceptedCase int    `json:"accepted_case"`
}

// kfAccountRE is prefix@wechat-id: a prefix of at most 10 letters, digits
// or underscores, and the account's WeChat ID (at most 30 characters).
var kfAccountRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,10}@[A-Za-z0-9_-]{1,30}$`)

// ValidKfAccount checks the form of a kf_account before any call.
func ValidKfAccount(account string) error {
	if !kfAccountRE.MatchString(account) {
		return fmt.Errorf("kf_account %q: want prefix@wechat-id, a prefix of at most 10 letters, digits or _ and the account's WeChat ID", account)
	}
	return nil
}

func validNickname(nick string) error {
	if n := utf8.RuneCountInString(nick); n == 0 || n > 16 {
		return fmt.Errorf("nickname %q: want 1 to 16 characters, got %d", nick, n)
	}
	return nil
}

// KfList lists the customer-service accounts.
func (c *Client) KfList(ctx context.Context) ([]KfInfo, error) {
	var ans struct {
		List []KfInfo `json:"kf_list"`
	}
	err := c.Call(ctx, http.MethodGet, "/cgi-bin/customservice/getkflist", nil, nil, &ans)
	return ans.List, err
}

// KfOnlineList lists the accounts online now.
func (c *Client) KfOnlineList(ctx context.Context) ([]KfOnline, error) {
	var ans struct {
		List []KfOnline `json:"kf_online_list"`
	}
	err := c.Call(ctx, http.MethodGet, "/cgi-bin/customservice/getonlinekflist", nil, nil, &ans)
	return ans.List, err
}

// KfAdd adds an account (the new kefu takes no password any more).
func (c *Client) KfAdd(ctx context.Context, account, nickname string) error {
	return c.kfWrite(ctx, "/customservice/kfaccount/add", account, nickname)
}

// KfUpdate changes an account's nickname.
func (c *Client) KfUpdate(ctx context.Context, account, nickname string) error {
	return c.kfWrite(ctx, "/customservice/kfaccount/update", account, nickname)
}

func (c *Client) kfWrite(ctx context.Context, path, account, nickname string) error {
	if err := ValidKfAccount(account); err != nil {
		return err
	}
	if err := validNickname(nickname); err != nil {
		return err
	}
	return c.Call(ctx, http.MethodPost, path, nil, map[string]string{"kf_account": account, "nickname": nickname}, nil)
}

// KfDelete deletes an account. The current documentation says POST with a
// JSON body, older SDKs use the query string; both forms go in one request.
func (c *Client) KfDelete(ctx context.Context, account string) error {
	if err := ValidKfAccount(account); err != nil {
		return err
	}
	return c.Call(ctx, http.MethodPost, "/customservice/kfaccount/del", url.Values{"kf_account": {account}},
		map[string]string{"kf_account": account}, nil)
}

// KfAvatar uploads an account's avatar (JPG, 640×640 recommended) as the
// multipart field "media".
func (c *Client) KfAvatar(ctx context.Context, account, filename string, image io.Reader) error {
	if err := ValidKfAccount(account); err != nil {
		return err
	}
	return c.Upload(ctx, "/customservice/kfaccount/uploadheadimg", url.Values{"kf_account": {account}}, "media", filename, image, nil)
}

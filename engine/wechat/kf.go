package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kefu account limits, from the add-account documentation.
const (
	KfPrefixMax   = 10 // characters before "@": letters, digits, underscore
	KfSuffixMax   = 30 // characters after "@": the account's WeChat ID
	KfNicknameMax = 16 // characters of a nickname
)

// ErrInvalidKfAccount means a kf_account or nickname does not have the form
// WeChat accepts; it is found before any call, so no quota is spent on it.
var ErrInvalidKfAccount = errors.New("invalid kefu account")

// ValidateKfAccount checks the form PREFIX@WECHATID: a prefix of 1-10
// letters, digits or underscores, and a non-empty suffix of at most 30
// characters (the Official Account's WeChat ID).
func ValidateKfAccount(account string) error {
	prefix, suffix, ok := strings.Cut(account, "@")
	if !ok {
		return fmt.Errorf("%w %q: want PREFIX@WECHATID, e.g. test1@yourwechatid (the suffix is the Official Account's WeChat ID)", ErrInvalidKfAccount, account)
	}
	if prefix == "" || utf8.RuneCountInString(prefix) > KfPrefixMax || strings.IndexFunc(prefix, notPrefixChar) >= 0 {
		return fmt.Errorf("%w %q: the part before \"@\" must be 1-%d letters, digits or underscores", ErrInvalidKfAccount, account, KfPrefixMax)
	}
	if suffix == "" {
		return fmt.Errorf("%w %q: the part after \"@\" is empty: put the Official Account's WeChat ID there", ErrInvalidKfAccount, account)
	}
	if n := utf8.RuneCountInString(suffix); n > KfSuffixMax {
		return fmt.Errorf("%w %q: the part after \"@\" has %d characters, at most %d", ErrInvalidKfAccount, account, n, KfSuffixMax)
	}
	// A second "@", spaces or control characters cannot be part of a WeChat
	// ID, and would only earn a 65401 after a round trip.
	if strings.IndexFunc(suffix, func(r rune) bool { return r == '@' || unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("%w %q: the part after \"@\" must be a WeChat ID, without \"@\" or spaces", ErrInvalidKfAccount, account)
	}
	return nil
}

func notPrefixChar(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
}

// ValidateKfNickname checks a kefu nickname: 1-16 characters.
func ValidateKfNickname(nickname string) error {
	if strings.TrimSpace(nickname) == "" {
		return fmt.Errorf("%w: the nickname is empty: give 1-%d characters", ErrInvalidKfAccount, KfNicknameMax)
	}
	if n := utf8.RuneCountInString(nickname); n > KfNicknameMax {
		return fmt.Errorf("%w: nickname %q has %d characters, at most %d", ErrInvalidKfAccount, nickname, n, KfNicknameMax)
	}
	return nil
}

// KfInfo is one kefu account, as /cgi-bin/customservice/getkflist lists it.
type KfInfo struct {
	Account    string `json:"kf_account"`
	Nickname   string `json:"kf_nick"`
	ID         KfID   `json:"kf_id"`
	HeadImgURL string `json:"kf_headimgurl"`
	// WeChatID is the WeChat user bound to the account; empty until an
	// invitation is accepted.
	WeChatID string `json:"kf_wx"`
	// InviteWeChatID, InviteExpireTime (Unix seconds) and InviteStatus
	// ("waiting", "rejected", "expired") describe a pending invitation.
	InviteWeChatID   string `json:"invite_wx"`
	InviteExpireTime int64  `json:"invite_expire_time"`
	InviteStatus     string `json:"invite_status"`
}

// KfOnline is one kefu account that is online, as
// /cgi-bin/customservice/getonlinekflist lists it.
type KfOnline struct {
	Account string `json:"kf_account"`
	// Status is where the worker is logged in: KfStatusPC, KfStatusMobile or
	// both.
	Status int  `json:"status"`
	ID     KfID `json:"kf_id"`
	// AcceptedCase is how many sessions the worker is serving now.
	AcceptedCase int `json:"accepted_case"`
}

// Values of KfOnline.Status.
const (
	KfStatusPC     = 1
	KfStatusMobile = 2
	KfStatusBoth   = 3
)

// StatusText says where an online worker is logged in.
func (k KfOnline) StatusText() string {
	switch k.Status {
	case KfStatusPC:
		return "pc"
	case KfStatusMobile:
		return "mobile"
	case KfStatusBoth:
		return "pc+mobile"
	}
	return fmt.Sprintf("status %d", k.Status)
}

// KfID is a kefu account's kf_id: WeChat has sent it both as a number and
// as a string, so it reads either.
type KfID string

// UnmarshalJSON implements json.Unmarshaler.
func (id *KfID) UnmarshalJSON(data []byte) error {
	v, err := numberOrString(data)
	if err != nil {
		return fmt.Errorf("kf_id: %w", err)
	}
	*id = KfID(v)
	return nil
}

// numberOrString reads a JSON number or string as a string; absent or null
// is "".
func numberOrString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}

// The kefu management paths. The two lists live under /cgi-bin/, the
// account operations do not: a classic mix-up.
const (
	pathKfList       = "/cgi-bin/customservice/getkflist"
	pathKfOnlineList = "/cgi-bin/customservice/getonlinekflist"
	pathKfAdd        = "/customservice/kfaccount/add"
	pathKfUpdate     = "/customservice/kfaccount/update"
	pathKfDelete     = "/customservice/kfaccount/del"
	pathKfAvatar     = "/customservice/kfaccount/uploadheadimg"
	pathKfInvite     = "/customservice/kfaccount/inviteworker"
)

// KfList lists every kefu account.
func (c *Client) KfList(ctx context.Context) ([]KfInfo, error) {
	var ans struct {
		List []KfInfo `json:"kf_list"`
	}
	if err := c.Call(ctx, http.MethodGet, pathKfList, nil, nil, &ans); err != nil {
		return nil, err
	}
	return ans.List, nil
}

// KfOnline lists the kefu accounts whose workers are online now.
func (c *Client) KfOnline(ctx context.Context) ([]KfOnline, error) {
	var ans struct {
		List []KfOnline `json:"kf_online_list"`
	}
	if err := c.Call(ctx, http.MethodGet, pathKfOnlineList, nil, nil, &ans); err != nil {
		return nil, err
	}
	return ans.List, nil
}

type kfAccountBody struct {
	Account  string `json:"kf_account"`
	Nickname string `json:"nickname,omitempty"`
}

// KfAdd adds a kefu account. WeChat no longer takes a password (older SDKs
// still send an MD5 one); the account works once a WeChat user accepts an
// invitation (KfInviteWorker).
func (c *Client) KfAdd(ctx context.Context, account, nickname string) error {
	if err := validateKf(account, nickname); err != nil {
		return err
	}
	return c.Call(ctx, http.MethodPost, pathKfAdd, nil, kfAccountBody{account, nickname}, nil)
}

// KfUpdate changes the nickname of a kefu account.
func (c *Client) KfUpdate(ctx context.Context, account, nickname string) error {
	if err := validateKf(account, nickname); err != nil {
		return err
	}
	return c.Call(ctx, http.MethodPost, pathKfUpdate, nil, kfAccountBody{account, nickname}, nil)
}

func validateKf(account, nickname string) error {
	if err := ValidateKfAccount(account); err != nil {
		return err
	}
	return ValidateKfNickname(nickname)
}

// KfDelete deletes a kefu account. The current documentation has a POST
// with a JSON body, older servers and SDKs a GET with kf_account in the
// query; the request carries both forms so that either reading works.
func (c *Client) KfDelete(ctx context.Context, account string) error {
	if err := ValidateKfAccount(account); err != nil {
		return err
	}
	return c.Call(ctx, http.MethodPost, pathKfDelete, url.Values{"kf_account": {account}}, kfAccountBody{Account: account}, nil)
}

// KfAvatar sets the avatar of a kefu account from r (WeChat takes a JPEG,
// 640×640 recommended, and answers 61457 to other formats). filename is
// the name sent in the multipart form.
func (c *Client) KfAvatar(ctx context.Context, account, filename string, r io.Reader) error {
	if err := ValidateKfAccount(account); err != nil {
		return err
	}
	if filename == "" {
		filename = "avatar.jpg"
	}
	return c.Upload(ctx, pathKfAvatar, url.Values{"kf_account": {account}}, "media", filename, r, nil)
}

// KfInviteWorker invites the WeChat user wechatID to work as account; the
// account cannot serve until the user accepts (65407-65412 otherwise).
func (c *Client) KfInviteWorker(ctx context.Context, account, wechatID string) error {
	if err := ValidateKfAccount(account); err != nil {
		return err
	}
	if strings.TrimSpace(wechatID) == "" {
		return fmt.Errorf("%w: inviting to %s: the WeChat ID of the worker is empty", ErrInvalidKfAccount, account)
	}
	body := struct {
		Account  string `json:"kf_account"`
		InviteWx string `json:"invite_wx"`
	}{account, wechatID}
	return c.Call(ctx, http.MethodPost, pathKfInvite, nil, body, nil)
}

// The hints of the kefu management errors not in errorHints; they are added
// here, beside the calls that meet them.
var kfHints = map[int]string{
	61454: "the kefu account name is too long: a prefix of at most 10 characters before \"@\"",
	61455: "the kefu account name has illegal characters: letters, digits and underscores before \"@\"",
	61457: "the avatar must be a JPEG file (640×640 recommended)",
	65402: "the kefu account is not bound to a WeChat user yet: invite one (wxbot kf invite) and have them accept",
	65407: "that WeChat user already works for this account",
	65408: "this account has already invited that WeChat user",
	65409: "invalid WeChat ID: give the worker's WeChat ID (微信号)",
	65410: "that WeChat user is bound to the most kefu accounts allowed (5)",
	65411: "the kefu account already has an invitation waiting for confirmation",
	65412: "the kefu account is already bound to a WeChat user",
}

func init() { addHints(kfHints) }

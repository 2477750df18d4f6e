package wechat

import (
	"context"
	"net/http"
	"net/url"
)

// The kefu session and chat-record paths: under /customservice/, not
// /cgi-bin/, like the account operations.
const (
	pathKfSessionList = "/customservice/kfsession/getsessionlist"
	pathKfWaitCase    = "/customservice/kfsession/getwaitcase"
	pathKfMsgList     = "/customservice/msgrecord/getmsglist"
)

// KfSession is a conversation a kefu account is serving, as
// /customservice/kfsession/getsessionlist lists it.
type KfSession struct {
	OpenID     string `json:"openid"`
	CreateTime int64  `json:"createtime"` // when the session began, Unix seconds
}

// KfSessionList lists the conversations account is serving now.
func (c *Client) KfSessionList(ctx context.Context, account string) ([]KfSession, error) {
	if err := ValidateKfAccount(account); err != nil {
		return nil, err
	}
	var ans struct {
		List []KfSession `json:"sessionlist"`
	}
	if err := c.Call(ctx, http.MethodGet, pathKfSessionList, url.Values{"kf_account": {account}}, nil, &ans); err != nil {
		return nil, err
	}
	return ans.List, nil
}

// KfWaiting is a user waiting for a kefu account to take the conversation,
// as /customservice/kfsession/getwaitcase lists it.
type KfWaiting struct {
	OpenID string `json:"openid"`
	// LatestTime is when the user last wrote, Unix seconds.
	LatestTime int64 `json:"latest_time"`
}

// KfWaitCaseMax is the most waiting users WeChat lists: those who have
// waited longest.
const KfWaitCaseMax = 100

// KfWaitCase returns how many users wait for a kefu account, and the (at
// most KfWaitCaseMax) who have waited longest.
func (c *Client) KfWaitCase(ctx context.Context) (count int, waiting []KfWaiting, err error) {
	var ans struct {
		Count int         `json:"count"`
		List  []KfWaiting `json:"waitcaselist"`
	}
	if err := c.Call(ctx, http.MethodGet, pathKfWaitCase, nil, nil, &ans); err != nil {
		return 0, nil, err
	}
	// An answer without count still says who waits.
	return max(ans.Count, len(ans.List)), ans.List, nil
}

// The hints of the session and record errors, beside the calls that meet
// them.
var kfSessionHints = map[int]string{
	65416: "invalid parameter: the time range or the page size is wrong",
	65417: "the time range is too long: WeChat takes at most a day per call (wxbot splits longer ranges itself)",
}

func init() { addHints(kfSessionHints) }

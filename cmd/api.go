package cmd

import (
	"net/http"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
)

// apiFlags are what the API commands (kf, menu) need.
type apiFlags struct {
	appID, secret, base, tokenAPI string
}

func (a *apiFlags) register(fs *flagSet) {
	fs.StringVar(&a.appID, "appid", "", "AppID (required)")
	fs.StringVar(&a.secret, "secret", "", "AppSecret (required; better as WXBOT_SECRET)")
	fs.StringVar(&a.base, "api-base", wechat.DefaultAPIBase, "WeChat API root")
	fs.StringVar(&a.tokenAPI, "token-api", wechat.TokenAPIStable, "stable or classic")
}

func (a *apiFlags) client() (*wechat.Client, error) {
	if a.appID == "" || a.secret == "" {
		return nil, usagef("--appid and --secret (or WXBOT_APPID and WXBOT_SECRET) are required")
	}
	c, err := wechat.NewClient(wechat.ClientConfig{HTTP: &http.Client{Timeout: 15 * time.Second},
		Base: a.base, AppID: a.appID, Secret: wechat.Secret(a.secret), TokenAPI: a.tokenAPI})
	if err != nil {
		return nil, usagef("%v", err)
	}
	return c, nil
}

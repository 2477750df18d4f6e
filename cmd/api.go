package cmd

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
)

// apiTimeout bounds one WeChat API call; the API answers in well under a
// second, so a call still waiting after this is not coming back.
const apiTimeout = 15 * time.Second

// apiFlags are what it takes to call the WeChat API (kf, menu, and the kefu
// sender of serve).
type apiFlags struct {
	fs       *flagSet
	appID    string
	secret   string
	base     string
	tokenAPI string
	account  accountFlags
}

// register adds --appid, --secret, --api-base and --token-api. A command
// that already has --appid (serve, through protoFlags) keeps its flag and
// the client reads the same value.
func (a *apiFlags) register(fs *flagSet) {
	a.fs = fs
	if fs.Lookup("appid") == nil {
		fs.StringVar(&a.appID, "appid", "", "AppID (required for API calls)")
	}
	fs.StringVar(&a.secret, "secret", "", "AppSecret (required for API calls; never printed)")
	fs.StringVar(&a.base, "api-base", wechat.DefaultAPIBase, "WeChat API root")
	fs.StringVar(&a.tokenAPI, "token-api", wechat.TokenAPIStable,
		"stable (/cgi-bin/stable_token, safe with many replicas) or classic (/cgi-bin/token)")
	a.account.register(fs)
}

// appIDValue is --appid, wherever it was registered.
func (a *apiFlags) appIDValue() string {
	if f := a.fs.Lookup("appid"); f != nil {
		return f.Value.String()
	}
	return a.appID
}

// client builds an API client from the flags; a missing or malformed
// setting is a usage error, found before any network call.
func (a *apiFlags) client(log *slog.Logger) (*wechat.Client, error) {
	appID, secret := a.appIDValue(), a.secret
	acct, ok, err := a.account.load(a.fs.env)
	if err != nil {
		return nil, err
	}
	if ok {
		if err := refuseWith(a.fs, acct.Name, "appid", "secret"); err != nil {
			return nil, err
		}
		if acct.Secret == "" {
			return nil, usagef("--account %s: the accounts file gives it no secret_env or secret_file: API calls need its AppSecret", acct.Name)
		}
		appID, secret = acct.AppID, string(acct.Secret)
	}
	switch {
	case appID == "" && secret == "":
		return nil, usagef("--appid and --secret (or WXBOT_APPID and WXBOT_SECRET) are required for API calls: find them on the 微信开发者平台 under 我的业务 → 公众号/服务号 → 基础信息")
	case appID == "":
		return nil, usagef("--appid (or WXBOT_APPID) is required for API calls")
	case secret == "":
		return nil, usagef("--secret (or WXBOT_SECRET) is required for API calls")
	}
	if a.tokenAPI != wechat.TokenAPIStable && a.tokenAPI != wechat.TokenAPIClassic {
		return nil, usagef("--token-api %q: want %s or %s", a.tokenAPI, wechat.TokenAPIStable, wechat.TokenAPIClassic)
	}
	if u, err := url.Parse(a.base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--api-base %q: want an http(s) URL such as %s", a.base, wechat.DefaultAPIBase)
	}
	c, err := wechat.NewClient(wechat.ClientConfig{
		HTTP:     &http.Client{Timeout: apiTimeout},
		Base:     a.base,
		AppID:    appID,
		Secret:   wechat.Secret(secret),
		TokenAPI: a.tokenAPI,
		Logger:   log,
	})
	if err != nil {
		return nil, fmt.Errorf("api client: %w", err)
	}
	return c, nil
}

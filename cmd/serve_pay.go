package cmd

import (
	"fmt"
	"os"
	"strings"

	"github.com/wxbot/wxbot/engine/wechatpay"
)

// payFlags are the WeChat Pay settings: serve verifies notifications with
// them, and `simulate pay` reads the same ones (and environment variables)
// to sign notifications the bot accepts.
type payFlags struct {
	apiV3Key     string
	platformCert string // a PEM file, or the PEM itself
	publicKeyID  string
}

func (p *payFlags) register(fs *flagSet) {
	fs.StringVar(&p.apiV3Key, "pay-apiv3-key", "", "WeChat Pay APIv3 key (32 characters); with --pay-platform-cert, enables POST /wechatpay/notify")
	fs.StringVar(&p.platformCert, "pay-platform-cert", "", "PEM file (or the PEM itself) of the WeChat Pay platform certificate(s) or public key that verify notifications")
	fs.StringVar(&p.publicKeyID, "pay-public-key-id", "", "the id (PUB_KEY_ID_…) of the public key in --pay-platform-cert; without one, that key verifies any Wechatpay-Serial")
}

// keys reads --pay-platform-cert.
func (p *payFlags) keys() ([]wechatpay.PublicKey, error) {
	data := []byte(p.platformCert)
	if !strings.HasPrefix(strings.TrimSpace(p.platformCert), "-----BEGIN") {
		var err error
		if data, err = os.ReadFile(p.platformCert); err != nil {
			return nil, usagef("--pay-platform-cert: %v", err)
		}
	}
	keys, err := wechatpay.ParsePEM(data, p.publicKeyID)
	if err != nil {
		return nil, usagef("--pay-platform-cert: %v", err)
	}
	return keys, nil
}

// verifier builds the notification verifier, or nil when payments are not
// configured. Half a configuration is an error: a bot that silently refuses
// every payment is worse than one that does not start.
func (p *payFlags) verifier() (*wechatpay.Verifier, error) {
	switch {
	case p.apiV3Key == "" && p.platformCert == "":
		if p.publicKeyID != "" {
			return nil, usagef("--pay-public-key-id needs --pay-platform-cert and --pay-apiv3-key")
		}
		return nil, nil
	case p.apiV3Key == "":
		return nil, usagef("--pay-platform-cert needs --pay-apiv3-key (or WXBOT_PAY_APIV3_KEY): the notifications are encrypted with it")
	case p.platformCert == "":
		return nil, usagef("--pay-apiv3-key needs --pay-platform-cert (or WXBOT_PAY_PLATFORM_CERT): the WeChat Pay certificate or public key that verifies notifications")
	}
	keys, err := p.keys()
	if err != nil {
		return nil, err
	}
	v, err := wechatpay.NewVerifier(p.apiV3Key, keys)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return v, nil
}

// serials describes the configured keys for the start-up log.
func serials(v *wechatpay.Verifier) string {
	var out []string
	for _, s := range v.Serials() {
		if s == "" {
			s = "(any)"
		}
		out = append(out, s)
	}
	return fmt.Sprint(out)
}

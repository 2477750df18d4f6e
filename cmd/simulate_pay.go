package cmd

import (
	"bytes"
	"context"
	"crypto/rsa"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine/callback"
	"github.com/wxbot/wxbot/engine/wechatpay"
)

// simulatePayFlags are the flags of `simulate pay`, on top of simulate's
// own (--url, --from, --appid, --timeout).
type simulatePayFlags struct {
	pay           payFlags // the bot's settings, to sign what it accepts
	privateKey    string
	serial        string
	transactionID string
	attach        string
}

func (p *simulatePayFlags) register(fs *flagSet) {
	p.pay.register(fs)
	// The same settings as the bot's, seen from WeChat Pay's side.
	fs.Lookup("pay-apiv3-key").Usage = "pay: the APIv3 key the notification is encrypted with: the bot's --pay-apiv3-key"
	fs.Lookup("pay-platform-cert").Usage = "pay: the bot's --pay-platform-cert, to send the serial it expects"
	fs.Lookup("pay-public-key-id").Usage = "pay: the bot's --pay-public-key-id, sent as the serial when set"
	fs.StringVar(&p.privateKey, "pay-private-key", "", "pay: PEM file (or the PEM itself) of the test private key that signs as WeChat Pay; the bot's --pay-platform-cert holds its public half")
	fs.StringVar(&p.serial, "serial", "", "pay: Wechatpay-Serial (default: the serial of --pay-platform-cert's certificate, or --pay-public-key-id)")
	fs.StringVar(&p.transactionID, "transaction-id", "", "pay: transaction_id (random when empty); repeat it to simulate a redelivery")
	fs.StringVar(&p.attach, "attach", "", "pay: the order's attach field")
}

// defaultPayURL is where `simulate pay` sends when --url is not given.
const defaultPayURL = "http://127.0.0.1:8080" + callback.PayNotifyPath

// payStatusMeaning explains the bot's answer to an operator.
var payStatusMeaning = map[int]string{
	http.StatusOK:                  "accepted",
	http.StatusNoContent:           "accepted: the payment rules ran, or had run before for this transaction_id (WeChat Pay stops delivering)",
	http.StatusBadRequest:          "refused: not a well-formed WeChat Pay notification",
	http.StatusUnauthorized:        "refused: signature not verified: --pay-private-key must be the private half of the bot's --pay-platform-cert, and --serial its serial",
	http.StatusForbidden:           "refused: timestamp 5 minutes or more off: check both clocks",
	http.StatusNotFound:            "no payment endpoint there: start wxbot serve with --pay-apiv3-key and --pay-platform-cert, and point --url at /wechatpay/notify",
	http.StatusMethodNotAllowed:    "no payment endpoint there: point --url at /wechatpay/notify",
	http.StatusInternalServerError: "the bot failed: if its log says it cannot decrypt, --pay-apiv3-key differs between here and the bot (WeChat Pay would deliver again)",
	http.StatusServiceUnavailable:  "the bot is shutting down (WeChat Pay would deliver again)",
}

// runSimulatePay sends a signed WeChat Pay v3 TRANSACTION.SUCCESS
// notification: args are AMOUNT_FEN [OUT_TRADE_NO].
func runSimulatePay(ctx context.Context, env *cmdEnv, fs *flagSet, s *simulateFlags, p *simulatePayFlags, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return usagef("simulate pay AMOUNT_FEN [OUT_TRADE_NO]")
	}
	total, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || total <= 0 {
		return usagef("simulate pay: amount %q: want a whole number of fen above 0 (100 = ¥1.00)", args[0])
	}
	if p.privateKey == "" {
		return usagef("simulate pay needs --pay-private-key: the private half of a test key pair whose public half (or certificate) the bot has as --pay-platform-cert")
	}
	if len(p.pay.apiV3Key) != wechatpay.APIv3KeySize {
		return usagef("simulate pay needs --pay-apiv3-key (or WXBOT_PAY_APIV3_KEY) of %d characters, the same as the bot's", wechatpay.APIv3KeySize)
	}
	key, err := readPrivateKey(p.privateKey)
	if err != nil {
		return err
	}
	serial, err := p.signingSerial(key)
	if err != nil {
		return err
	}
	target := defaultPayURL
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "url" {
			target = s.url
		}
	})
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--url %q: want an http:// or https:// URL", target)
	}

	tx := simulatedTransaction(s, p, total, args[1:])
	signer := &wechatpay.Signer{Key: key, Serial: serial, APIv3Key: p.pay.apiV3Key}
	h, body, err := signer.Notify(wechatpay.EventTransactionSuccess, tx)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = h
	req.Header.Set("User-Agent", "Mozilla/4.0 (wxbot simulate pay)")
	sent := time.Now()
	resp, err := (&http.Client{Timeout: s.timeout}).Do(req)
	if err != nil {
		return fmt.Errorf("sending the notification: %w (%s)", err, unreachableHint(err, "--url its /wechatpay/notify"))
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	fmt.Fprintf(env.stdout, "transaction_id: %s\nout_trade_no: %s\ntotal: %d fen\nfrom: %s\nserial: %s\n",
		tx.TransactionID, tx.OutTradeNo, total, tx.Payer.OpenID, serial)
	meaning := payStatusMeaning[resp.StatusCode]
	if resp.StatusCode/100 != 2 {
		if meaning == "" {
			meaning = "not what WeChat Pay expects (200 or 204 on success)"
		}
		if !strings.HasSuffix(u.Path, callback.PayNotifyPath) {
			// the callback at --path refuses a notification as a push
			// with a bad signature: the key is not to blame
			meaning = fmt.Sprintf("--url's path is %q, not the payment endpoint: point --url at %s (the callback path answers pushes, not payments)",
				u.Path, callback.PayNotifyPath)
		}
		return fmt.Errorf("the bot answered %s: %s", resp.Status, meaning)
	}
	fmt.Fprintf(env.stdout, "status: %s (%s)\n", resp.Status, meaning)
	fmt.Fprintf(env.stderr, "answered in %s\n", roundDuration(time.Since(sent))) // stdout stays the same for the same notification
	return nil
}

// simulatedTransaction is the paid transaction a notification carries;
// rest is the optional OUT_TRADE_NO.
func simulatedTransaction(s *simulateFlags, p *simulatePayFlags, total int64, rest []string) *wechatpay.Transaction {
	now := time.Now()
	tx := &wechatpay.Transaction{
		AppID: s.proto.appID, MchID: "1900000109", OutTradeNo: "SIM" + now.Format("20060102150405") + randomDigits(6),
		TransactionID: p.transactionID, TradeType: "JSAPI", TradeState: "SUCCESS", TradeStateDesc: "支付成功",
		BankType: "OTHERS", Attach: p.attach, SuccessTime: now.In(time.FixedZone("CST", 8*3600)).Format(time.RFC3339),
		Payer:  wechatpay.Payer{OpenID: s.from},
		Amount: wechatpay.Amount{Total: total, PayerTotal: total, Currency: "CNY", PayerCurrency: "CNY"},
	}
	if len(rest) > 0 {
		tx.OutTradeNo = rest[0]
	}
	if tx.TransactionID == "" {
		tx.TransactionID = "4200" + randomDigits(24)
	}
	if tx.AppID == "" {
		tx.AppID = "wxSimulatedAppID0"
	}
	return tx
}

// signingSerial is the Wechatpay-Serial to send: --serial, else the one the
// bot's settings imply for key.
func (p *simulatePayFlags) signingSerial(key *rsa.PrivateKey) (string, error) {
	if p.serial != "" {
		return p.serial, nil
	}
	if p.pay.platformCert != "" {
		keys, err := p.pay.keys()
		if err != nil {
			return "", err
		}
		for _, k := range keys {
			if k.Key.Equal(&key.PublicKey) {
				if k.Serial == "" {
					return "PUB_KEY_ID_SIMULATED", nil // the bot takes any serial for it
				}
				return k.Serial, nil
			}
		}
		return "", usagef("--pay-private-key does not match any key in --pay-platform-cert: the bot would refuse its signature")
	}
	if p.pay.publicKeyID != "" {
		return p.pay.publicKeyID, nil
	}
	return "PUB_KEY_ID_SIMULATED", nil
}

// readPrivateKey reads a PEM file, or the PEM itself.
func readPrivateKey(v string) (*rsa.PrivateKey, error) {
	data := []byte(v)
	if !strings.HasPrefix(strings.TrimSpace(v), "-----BEGIN") {
		var err error
		if data, err = os.ReadFile(v); err != nil {
			return nil, usagef("--pay-private-key: %v", err)
		}
	}
	k, err := wechatpay.ParsePrivateKey(data)
	if err != nil {
		return nil, usagef("--pay-private-key: %v", err)
	}
	return k, nil
}

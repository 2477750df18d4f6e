package cmd

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
	"github.com/wxbot/wxbot/engine/wechatpay"
)

const (
	e2ePayKey    = "e2eAPIv3key0123456789abcdefABCDE"
	e2ePaySerial = "3775B6A45ACD588826D15E583A95F5DD36DC1C2B"
)

// payFiles writes a test key pair standing in for WeChat Pay's: the
// private key (for simulate pay) and a certificate of the public key (for
// the bot), plus an impostor's private key.
func payFiles(t *testing.T) (keyPEM, certPEM, impostorPEM string, key *rsa.PrivateKey) {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	impostor, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := new(big.Int).SetString(e2ePaySerial, 16)
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "Tenpay.com Root CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := x509.MarshalPKCS8PrivateKey(key)
	k2, _ := x509.MarshalPKCS8PrivateKey(impostor)
	return write("key.pem", "PRIVATE KEY", k1), write("cert.pem", "CERTIFICATE", der), write("impostor.pem", "PRIVATE KEY", k2), key
}

// crm is a shop's service that records the webhook calls it gets.
type crm struct {
	*httptest.Server
	mu    sync.Mutex
	calls []map[string]any
}

func newCRM(t *testing.T) *crm {
	c := &crm{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		c.mu.Lock()
		c.calls = append(c.calls, m)
		c.mu.Unlock()
		io.WriteString(w, `{"reply": {"text": "a payment takes no reply: dropped"}}`)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *crm) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

// TestPaymentEndToEnd: signed notifications run the payment rules once per
// transaction, across redeliveries and a restart; forged, stale and
// undecryptable ones are refused and run nothing.
func TestPaymentEndToEnd(t *testing.T) {
	keyPEM, certPEM, impostorPEM, key := payFiles(t)
	shop := newCRM(t)
	fake := wechattest.New("wxpay000000000001", "pay-secret")
	defer fake.Close()
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesPath, []byte(fmt.Sprintf(`version: 1
rules:
  - name: paid
    on: payment
    actions:
      - template: {template_id: TPL_PAID, data: {amount: "${event.payment.total / 100}", order: "${event.payment.out_trade_no}"}}
      - webhook:
          url: %q
          body: '{"openid": ${toJSON(event.from)}, "transaction_id": ${toJSON(event.payment.transaction_id)}, "total": ${event.payment.total}, "attach": ${toJSON(event.payment.attach)}}'
      - kefu: {text: "the payer's window is unknown: attempted, WeChat decides"}
`, shop.URL+"/paid")), 0o644)
	storePath := "bolt:" + filepath.Join(dir, "wxbot.db")
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=wxpay000000000001", "WXBOT_SECRET=pay-secret",
		"WXBOT_API_BASE=" + fake.URL, "WXBOT_PAY_APIV3_KEY=" + e2ePayKey, "WXBOT_PAY_PLATFORM_CERT=" + certPEM}
	b := startBot(t, env, "--rules", rulesPath, "--store", storePath)
	payURL := strings.TrimSuffix(b.url, "/wechat") + "/wechatpay/notify"
	pay := func(env []string, args ...string) (string, string, int) {
		return wxbot(t, env, append([]string{"simulate", "pay", "--url", payURL, "--pay-private-key", keyPEM, "--from", "oPayer"}, args...)...)
	}
	settled := func(want int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for shop.count() < want || len(fake.Delivered(wechat.TemplatePath)) < want {
			if time.Now().After(deadline) {
				t.Fatalf("%d webhook calls, %d template sends; want %d", shop.count(), len(fake.Delivered(wechat.TemplatePath)), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		waitIdle(t, b)
		if n, m := shop.count(), len(fake.Delivered(wechat.TemplatePath)); n != want || m != want {
			t.Fatalf("%d webhook calls, %d template sends; want %d each", n, m, want)
		}
	}

	// WeChat Pay delivers the same transaction three times: the rules run once.
	for i := range 3 {
		out, errOut, code := pay(env, "--transaction-id", "4200000001", "--attach", "vip", "12800", "T1001")
		if code != 0 || !strings.Contains(out, "status: 204 No Content (accepted") {
			t.Fatalf("delivery %d: exit %d\n%s%s", i+1, code, out, errOut)
		}
	}
	settled(1)
	shop.mu.Lock()
	got := fmt.Sprint(shop.calls[0])
	shop.mu.Unlock()
	if want := "map[attach:vip openid:oPayer total:12800 transaction_id:4200000001]"; got != want {
		t.Errorf("webhook body %s, want %s", got, want)
	}
	var tm wechat.TemplateMessage
	json.Unmarshal(fake.Delivered(wechat.TemplatePath)[0].Body, &tm)
	if tm.ToUser != "oPayer" || tm.TemplateID != "TPL_PAID" || tm.Data["amount"].Value != "128" || tm.Data["order"].Value != "T1001" {
		t.Errorf("template message %+v", tm)
	}

	// After a restart on the same store, a redelivery still runs nothing.
	b.cmd.Process.Signal(os.Interrupt)
	b.waitExit(t)
	b = startBot(t, env, "--rules", rulesPath, "--store", storePath)
	payURL = strings.TrimSuffix(b.url, "/wechat") + "/wechatpay/notify"
	if out, errOut, code := pay(env, "--transaction-id", "4200000001", "12800", "T1001"); code != 0 {
		t.Fatalf("redelivery after the restart: exit %d\n%s%s", code, out, errOut)
	}
	settled(1)
	if !strings.Contains(b.stderr.String(), "its rules ran before") {
		t.Errorf("the redelivery was not logged as one:\n%s", b.stderr.String())
	}

	// Refusals: each answered with its status, nothing runs.
	post := func(h http.Header, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, payURL, bytes.NewReader(body))
		req.Header = h
		resp, err := e2eHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		if string(answer) != `{"code":"FAIL","message":"失败"}` {
			t.Errorf("refusal body %q", answer)
		}
		return resp.StatusCode
	}
	signer := &wechatpay.Signer{Key: key, Serial: e2ePaySerial, APIv3Key: e2ePayKey}
	tx := func(id string) *wechatpay.Transaction {
		return &wechatpay.Transaction{TransactionID: id, OutTradeNo: "T" + id, TradeState: "SUCCESS",
			Payer: wechatpay.Payer{OpenID: "oPayer"}, Amount: wechatpay.Amount{Total: 1, Currency: "CNY"}}
	}
	tests := []struct {
		name   string
		send   func() (code int, stderr string)
		status string
	}{
		{"bad signature", func() (int, string) {
			_, e, c := pay(env, "--pay-private-key", impostorPEM, "--serial", e2ePaySerial, "--transaction-id", "4200000002", "100")
			return c, e
		}, "401"},
		{"wrong serial", func() (int, string) {
			_, e, c := pay(env, "--serial", "7132D72A03E93CDDF8C03BBD1F37EEDF9AF4ECAE", "--transaction-id", "4200000003", "100")
			return c, e
		}, "401"},
		{"wrong APIv3 key", func() (int, string) {
			_, e, c := pay(append(env, "WXBOT_PAY_APIV3_KEY=another-apiv3-key-0123456789abcd"), "--transaction-id", "4200000004", "100")
			return c, e
		}, "500"},
		{"stale timestamp", func() (int, string) {
			body, _ := signer.Body(wechatpay.EventTransactionSuccess, tx("4200000005"))
			h, _ := signer.Headers(body, time.Now().Add(-10*time.Minute))
			return post(h, body), ""
		}, "403"},
		{"broken ciphertext", func() (int, string) {
			body, _ := signer.Body(wechatpay.EventTransactionSuccess, tx("4200000006"))
			body = bytes.Replace(body, []byte(`"ciphertext":"`), []byte(`"ciphertext":"AAAA`), 1)
			h, _ := signer.Headers(body, time.Now())
			return post(h, body), ""
		}, "500"},
		{"no signature", func() (int, string) {
			h, body, _ := signer.Notify(wechatpay.EventTransactionSuccess, tx("4200000007"))
			h.Del(wechatpay.HeaderSignature)
			return post(h, body), ""
		}, "400"},
	}
	for _, tt := range tests {
		code, stderr := tt.send()
		switch {
		case stderr == "" && fmt.Sprint(code) != tt.status:
			t.Errorf("%s: HTTP %d, want %s", tt.name, code, tt.status)
		case stderr != "" && (code != 1 || !strings.Contains(stderr, "the bot answered "+tt.status)):
			t.Errorf("%s: exit %d, %q; want exit 1 and a %s", tt.name, code, stderr, tt.status)
		}
	}
	settled(1)

	// A refusal claimed nothing: the genuine notification runs.
	if _, errOut, code := pay(env, "--transaction-id", "4200000002", "100"); code != 0 {
		t.Fatalf("genuine notification after its forgery: %s", errOut)
	}
	settled(2)

	// A payment opens no kefu window, and the bot never saw the payer's:
	// unknown is no certain refusal, so each send is attempted.
	eventually(t, b, "the two payments' kefu sends attempted", func() bool {
		return len(fake.Calls("/cgi-bin/message/custom/send")) == 2
	})
	logs := b.stderr.String()
	keyBytes, _ := os.ReadFile(keyPEM)
	for _, secret := range []string{e2ePayKey, "another-apiv3-key", string(keyBytes[40:80]), "pay-secret"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a secret %q", secret)
		}
	}
	for _, want := range []string{"payment notification refused", `"status":401`, `"status":403`, `"status":500`, "--pay-apiv3-key is not the APIv3 key"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
}

func TestPaymentSettings(t *testing.T) {
	keyPEM, certPEM, _, _ := payFiles(t)
	rules, _ := filepath.Abs("../examples/rules.yaml")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--rules", rules, "--pay-apiv3-key", e2ePayKey}, "--pay-apiv3-key needs --pay-platform-cert"},
		{[]string{"serve", "--rules", rules, "--pay-platform-cert", certPEM}, "--pay-platform-cert needs --pay-apiv3-key"},
		{[]string{"serve", "--rules", rules, "--pay-apiv3-key", "short", "--pay-platform-cert", certPEM}, "the APIv3 key is 5 bytes, want 32"},
		{[]string{"serve", "--rules", rules, "--pay-apiv3-key", e2ePayKey, "--pay-platform-cert", keyPEM}, "is a private key"},
		{[]string{"serve", "--rules", rules, "--pay-apiv3-key", e2ePayKey, "--pay-platform-cert", "/nonexistent.pem"}, "--pay-platform-cert: open /nonexistent.pem"},
		{[]string{"simulate", "pay", "100"}, "simulate pay needs --pay-private-key"},
		{[]string{"simulate", "pay", "--pay-private-key", keyPEM, "100"}, "simulate pay needs --pay-apiv3-key"},
		{[]string{"simulate", "pay", "--pay-private-key", keyPEM, "--pay-apiv3-key", e2ePayKey, "ten"}, `amount "ten": want a whole number of fen`},
		{[]string{"simulate", "pay", "--pay-private-key", keyPEM, "--pay-apiv3-key", e2ePayKey}, "simulate pay AMOUNT_FEN [OUT_TRADE_NO]"},
		{[]string{"simulate", "pay", "--pay-private-key", certPEM, "--pay-apiv3-key", e2ePayKey, "100"}, "no PRIVATE KEY"},
	}
	for _, tt := range tests {
		_, errOut, code := runCmd(map[string]string{"WXBOT_TOKEN": "t"}, tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, %q; want a usage error with %q", tt.args, code, errOut, tt.want)
		}
		if strings.Contains(errOut, e2ePayKey) {
			t.Errorf("%v: the error holds the APIv3 key", tt.args)
		}
	}
	// A key that is not the certificate's is caught before sending.
	_, _, impostorPEM, _ := payFiles(t)
	_, errOut, code := runCmd(nil, "simulate", "pay", "--pay-private-key", impostorPEM, "--pay-apiv3-key", e2ePayKey,
		"--pay-platform-cert", certPEM, "--url", "http://127.0.0.1:1/wechatpay/notify", "100")
	if code != exitUsage || !strings.Contains(errOut, "does not match any key in --pay-platform-cert") {
		t.Errorf("mismatched key: exit %d, %q", code, errOut)
	}
}

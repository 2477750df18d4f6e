package cmd

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// outsideProxy stands for the internet: the bot's HTTP clients send every
// call to a host that is not loopback through HTTP_PROXY and HTTPS_PROXY
// (net/http's ProxyFromEnvironment), so any call it gets is one an
// example makes outside this machine. It refuses them all.
type outsideProxy struct {
	*httptest.Server
	mu    sync.Mutex
	hosts []string
}

func newOutsideProxy(t *testing.T) *outsideProxy {
	p := &outsideProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hosts = append(p.hosts, r.Host)
		p.mu.Unlock()
		http.Error(w, "no call leaves the machine in an example", http.StatusBadGateway)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *outsideProxy) called() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.hosts...)
}

// env points a process's proxies at p (later entries win over the test's
// own environment).
func (p *outsideProxy) env() []string {
	var env []string
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		env = append(env, k+"="+p.URL)
	}
	return append(env, "NO_PROXY=", "no_proxy=")
}

// TestREADMEPaymentWalkthroughStaysLocal runs the README's payment
// walkthrough (examples/rules.yaml, a test key pair, simulate pay): the
// payment rule runs, and nothing it does calls a host outside this machine.
func TestREADMEPaymentWalkthroughStaysLocal(t *testing.T) {
	examples, _ := filepath.Abs("../examples/rules.yaml")
	keyPEM, certPEM, _, _ := payFiles(t)
	proxy := newOutsideProxy(t)
	env := append(proxy.env(), "WXBOT_TOKEN=mytoken", "WXBOT_PAY_APIV3_KEY="+e2ePayKey, "WXBOT_PAY_PLATFORM_CERT="+certPEM)
	b := startBot(t, env, "--rules", examples)
	payURL := strings.TrimSuffix(b.url, "/wechat") + "/wechatpay/notify"
	out, errOut, code := wxbot(t, env, "simulate", "pay", "--url", payURL, "--pay-private-key", keyPEM, "12800")
	if code != 0 || !strings.Contains(out, "204") {
		t.Fatalf("simulate pay: exit %d\n%s%s", code, out, errOut)
	}
	// The payment's line is logged once its actions have run: the
	// template's send and the webhook's first attempt.
	b.waitLog(t, `"msg":"payment"`, `"rules":["paid"]`)
	if hosts := proxy.called(); len(hosts) > 0 {
		t.Errorf("the walkthrough called %q outside this machine: examples must call nothing outside", hosts)
	}
}

package cmd

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// fakeProxy is a forward proxy on loopback: plain requests for the
// made-up API host go to the fake WeChat server, CONNECTs are refused
// (nothing leaves loopback). It records what it was asked.
type fakeProxy struct {
	mu   sync.Mutex
	seen []string
}

func (p *fakeProxy) handler(upstream string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen = append(p.seen, r.Method+" "+r.Host)
		p.mu.Unlock()
		if r.Method == http.MethodConnect {
			http.Error(w, "no tunnels in this test", http.StatusForbidden)
			return
		}
		u, _ := url.Parse(upstream + r.URL.RequestURI())
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, u.String(), r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
}

// TestAPIThroughProxy: API calls go through HTTP_PROXY or HTTPS_PROXY, as
// operators whose IP whitelist (40164) names a fixed egress proxy need.
// The API host is a made-up name, not loopback (Go never proxies
// loopback), and the proxy never resolves it.
func TestAPIThroughProxy(t *testing.T) {
	fake, _ := newAPIFake(t)
	fake.Answer("/cgi-bin/customservice/getkflist", `{"kf_list":[]}`)
	tests := []struct {
		name, base, proxyVar string
		wantExit             int
		wantSeen             string
	}{
		{"http via HTTP_PROXY", "http://api.weixin.example", "HTTP_PROXY", 0, "POST api.weixin.example"},
		{"https via HTTPS_PROXY", "https://api.weixin.example", "HTTPS_PROXY", exitError, "CONNECT api.weixin.example:443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeProxy{}
			srv := httptest.NewServer(p.handler(fake.URL))
			defer srv.Close()
			env := []string{"WXBOT_APPID=" + apiTestAppID, "WXBOT_SECRET=" + apiTestSecret, "WXBOT_API_BASE=" + tt.base,
				"NO_PROXY=", "no_proxy=", "HTTP_PROXY=", "HTTPS_PROXY=", tt.proxyVar + "=" + srv.URL}
			_, errOut, code := wxbot(t, env, "kf", "list")
			p.mu.Lock()
			seen := strings.Join(p.seen, "\n")
			p.mu.Unlock()
			if code != tt.wantExit || !strings.Contains(seen, tt.wantSeen) {
				t.Errorf("exit %d (want %d), the proxy saw:\n%s\nwant %q; stderr: %s", code, tt.wantExit, seen, tt.wantSeen, errOut)
			}
		})
	}
}

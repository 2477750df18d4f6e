package cmd

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// aiDownRules are the README's settings of an ai rule: a whole minute for
// the answer, retries included.
const aiDownRules = `version: 1
rules:
  - name: ask
    on: text
    actions:
      - ai: {timeout: 60s, apology: "抱歉, 暂时无法回答, 请稍后再试"}
`

const aiDownApology = "抱歉, 暂时无法回答, 请稍后再试"

// aiDownBot starts a bot on the README's ai settings and the default
// --reply-deadline, asking the model at base: with the kefu API (a fake
// WeChat API, returned) or without it (--kefu=false, nil).
func aiDownBot(t *testing.T, base string, kefu bool) (*botProc, *wechattest.Server) {
	t.Helper()
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(aiDownRules), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_AI_API_KEY=" + aiKey}
	args := []string{"--rules", rulesPath, "--ai-base-url", base, "--ai-model", "test-model"}
	if !kefu {
		return startBot(t, env, append(args, "--kefu=false")...), nil
	}
	fake := wechattest.New("wxaidown000000001", "aidown-secret")
	t.Cleanup(fake.Close)
	env = append(env, "WXBOT_APPID=wxaidown000000001", "WXBOT_SECRET=aidown-secret", "WXBOT_API_BASE="+fake.URL)
	return startBot(t, env, args...), fake
}

// TestAIProviderDownApologisesInTime: a provider that fails fast (its port
// refuses connections, or it answers 500) gets the user the apology as the
// passive reply to WeChat's first attempt, with or without the kefu API,
// however long the rule's timeout: the action retried it for the whole
// minute while the push was answered "success" (or held for the pending
// text).
func TestAIProviderDownApologisesInTime(t *testing.T) {
	t.Parallel()
	llmSrv := newFakeLLM(t)
	tests := []struct {
		name     string
		base     string
		question string
		kefu     bool
	}{
		{"refused, kefu", "http://" + freeAddr(t) + "/v1", "周末营业吗?", true},
		{"refused, no kefu", "http://" + freeAddr(t) + "/v1", "周末营业吗?", false},
		{"500, kefu", llmSrv.URL + "/v1", "fail 周末营业吗?", true},
		{"500, no kefu", llmSrv.URL + "/v1", "fail 周末营业吗?", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, fake := aiDownBot(t, tt.base, tt.kefu)
			if n, got := wechatAsk(t, b.url, "oDown", tt.question); n != 1 || got != aiDownApology {
				t.Errorf("attempt %d %q, want WeChat's first attempt answered with the apology", n, got)
			}
			b.waitLog(t, `"msg":"action failed"`)
			if fake != nil {
				waitIdle(t, b)
				if got := kefuTexts(fake); len(got) != 0 {
					t.Errorf("kefu sends %q after the passive apology", got)
				}
			}
			if strings.Contains(b.stderr.String(), aiKey) {
				t.Error("the API key is in the log")
			}
		})
	}
}

// blockedLLM is a provider that holds every request until release, then
// answers 502 at once: an answer that fails after the reply deadline.
type blockedLLM struct {
	*httptest.Server
	once    sync.Once
	release chan struct{}
}

func newBlockedLLM(t *testing.T) *blockedLLM {
	f := &blockedLLM{release: make(chan struct{})}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-f.release:
		case <-r.Context().Done():
			return
		}
		http.Error(w, `{"error":{"message":"bad gateway"}}`, http.StatusBadGateway)
	}))
	t.Cleanup(func() { f.open(); f.Close() })
	return f
}

func (f *blockedLLM) open() { f.once.Do(func() { close(f.release) }) }

// TestAIProviderFailingLateApologises: a provider that fails only after
// the push had to be answered gets the user the apology as late answers
// go: by kefu, or, without the kefu API, held for the user's next push
// (here past WeChat's last attempt, which got the pending text). The
// apology comes when the provider fails, not after retries to the
// rule's minute, and is never dropped.
func TestAIProviderFailingLateApologises(t *testing.T) {
	t.Parallel()
	for _, kefu := range []bool{true, false} {
		t.Run(fmt.Sprint("kefu=", kefu), func(t *testing.T) {
			t.Parallel()
			llmSrv := newBlockedLLM(t)
			b, fake := aiDownBot(t, llmSrv.URL+"/v1", kefu)
			n, got := wechatAsk(t, b.url, "oLate", "周末营业吗?")
			switch {
			case kefu && (n != 1 || got != "success"):
				t.Fatalf("attempt %d %q, want the first attempt answered success", n, got)
			case !kefu && (n != 3 || got != "答案还在生成, 回复任意文字获取"):
				t.Fatalf("attempt %d %q, want WeChat's third attempt answered with the pending text", n, got)
			}
			llmSrv.open()
			if kefu {
				if got := waitKefu(t, fake, map[string]int{"oLate": 1})["oLate"]; len(got) != 1 || got[0] != aiDownApology {
					t.Errorf("kefu sends %q, want the apology once", got)
				}
				return
			}
			b.waitLog(t, "held for the user's next push")
			if n, got := wechatAsk(t, b.url, "oLate", "好"); n != 1 || got != aiDownApology {
				t.Errorf("the next push got attempt %d %q, want the held apology", n, got)
			}
		})
	}
}

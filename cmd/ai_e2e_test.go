package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxbot/wxbot/actions"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

const aiKey = "sk-e2e-never-in-logs-7f3a9c"

// fakeLLM is an OpenAI-compatible Chat Completions server. It answers the
// last user message q with "答:q", after a pause for "sleep DURATION …",
// with 500 for "fail…", with a long answer of several paragraphs for
// "long", and records every request.
type fakeLLM struct {
	*httptest.Server
	mu    sync.Mutex
	calls []llmCall
}

type llmCall struct {
	auth     string
	model    string
	messages []map[string]string
}

func newFakeLLM(t *testing.T) *fakeLLM {
	f := &fakeLLM{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		var req struct {
			Model    string              `json:"model"`
			Messages []map[string]string `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.calls = append(f.calls, llmCall{auth: r.Header.Get("Authorization"), model: req.Model, messages: req.Messages})
		f.mu.Unlock()
		q := req.Messages[len(req.Messages)-1]["content"]
		answer := "答:" + q
		switch {
		case strings.HasPrefix(q, "sleep "):
			d, _ := time.ParseDuration(strings.Fields(q)[1])
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		case strings.HasPrefix(q, "fail"):
			http.Error(w, `{"error":{"message":"upstream internal detail 7731"}}`, http.StatusInternalServerError)
			return
		case q == "long":
			answer = longAIAnswer()
		}
		json.NewEncoder(w).Encode(map[string]any{
			"choices": []any{map[string]any{"message": map[string]string{"role": "assistant", "content": answer}, "finish_reason": "stop"}},
			"usage":   map[string]int{"prompt_tokens": 11, "completion_tokens": 7},
		})
	}))
	t.Cleanup(f.Close)
	return f
}

// asked returns the calls whose question was q.
func (f *fakeLLM) asked(q string) []llmCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []llmCall
	for _, c := range f.calls {
		if c.messages[len(c.messages)-1]["content"] == q {
			out = append(out, c)
		}
	}
	return out
}

func longAIAnswer() string {
	var paras []string
	for i := range 8 {
		paras = append(paras, fmt.Sprintf("第%d条:", i+1)+strings.Repeat("本店商品支持七天无理由退货。", 20))
	}
	return strings.Join(paras, "\n\n")
}

var msgIDs atomic.Int64

func init() { msgIDs.Store(time.Now().UnixNano() / 1000) }

// wechatAsk is WeChat delivering a user's text: a signed plaintext push,
// given up after 5 s and sent again at once, three attempts in all. It
// returns the attempt that was answered (0: none) and the reply's text
// ("success" for none).
func wechatAsk(t *testing.T, url, from, content string) (attempt int, text string) {
	t.Helper()
	return wechatAskVia(t, []string{url}, from, content)
}

// wechatAskVia is wechatAsk with attempt n sent to urls[(n-1) % len(urls)]
// (replicas behind a load balancer).
func wechatAskVia(t *testing.T, urls []string, from, content string) (attempt int, text string) {
	t.Helper()
	id := msgIDs.Add(1)
	for attempt = 1; attempt <= 3; attempt++ {
		body, err := pushOnce(urls[(attempt-1)%len(urls)], from, id, content)
		if err != nil {
			continue // timed out: WeChat retries
		}
		return attempt, body
	}
	return 0, ""
}

func pushOnce(base, from string, msgID int64, content string) (string, error) {
	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), strconv.FormatInt(msgIDs.Add(1), 10)
	u := fmt.Sprintf("%s?signature=%s&timestamp=%s&nonce=%s", base, wechat.Signature(e2eToken, ts, nonce), ts, nonce)
	xml := fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_e2e]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%s</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%d</MsgId></xml>`,
		from, ts, content, msgID)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Post(u, "text/xml", strings.NewReader(xml))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if len(b) == 0 || string(b) == "success" {
		return "success", nil
	}
	_, _, _, r, err := wechat.ParseReply(b)
	if err != nil {
		return "", err
	}
	return r.Content, nil
}

const aiE2ERules = `version: 1
vars: {shop: 测试小店}
rules:
  - name: limited
    on: text
    text: {prefix: ["限"]}
    actions:
      - ai: {daily_limit: 2, over_limit: "今天的提问次数已用完, 明天再来吧"}
  - name: failing
    on: text
    text: {prefix: ["fail"]}
    actions:
      - ai: {timeout: 1s, apology: "抱歉, 小助手开小差了"}
  - name: hook
    on: text
    text: {prefix: ["hook"]}
    actions:
      - webhook: {url: "${vars.hook}", timeout: 8s}
  - name: ask
    on: text
    priority: -100
    actions:
      - ai: {system: "你是${vars.shop}的客服", history: 6, timeout: 40s}
tests:
  - name: the model's answer is the reply
    event: {type: text, content: 你好}
    ai_answer: 您好!
    expect: {rules: [ask], reply: {text: 您好!}}
`

func writeAIRules(t *testing.T, hookURL string) string {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	src := strings.Replace(aiE2ERules, "vars: {shop: 测试小店}", fmt.Sprintf("vars: {shop: 测试小店, hook: %q}", hookURL+"/hook"), 1)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAIAnswersWithKefu: a verified account (the kefu API): fast answers
// are the passive reply, slow ones go by kefu, history is per user, the
// daily limit holds, a failing model is answered with the apology, a long
// answer arrives whole, and the key never reaches the log.
func TestAIAnswersWithKefu(t *testing.T) {
	t.Parallel()
	llmSrv := newFakeLLM(t)
	fake := wechattest.New("wxai0000000000001", "ai-secret")
	defer fake.Close()
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=wxai0000000000001", "WXBOT_SECRET=ai-secret",
		"WXBOT_API_BASE=" + fake.URL, "WXBOT_AI_API_KEY=" + aiKey}
	b := startBot(t, env, "--rules", writeAIRules(t, "http://127.0.0.1:1"), "--reply-deadline", "1500ms",
		"--ai-base-url", llmSrv.URL+"/v1", "--ai-model", "test-model")

	if n, got := wechatAsk(t, b.url, "oFast", "你好"); n != 1 || got != "答:你好" {
		t.Errorf("fast answer: attempt %d %q, want the passive reply 答:你好", n, got)
	}
	// History: carried, and per user.
	wechatAsk(t, b.url, "oHist", "q1")
	wechatAsk(t, b.url, "oHist", "q2")
	wechatAsk(t, b.url, "oOther", "q3")
	q2, q3 := llmSrv.asked("q2"), llmSrv.asked("q3")
	if len(q2) != 1 || fmt.Sprint(q2[0].messages) != "[map[content:你是测试小店的客服 role:system] map[content:q1 role:user] map[content:答:q1 role:assistant] map[content:q2 role:user]]" {
		t.Errorf("q2 was asked with %v, want the system prompt and oHist's first turn", q2)
	}
	if len(q3) != 1 || len(q3[0].messages) != 2 {
		t.Errorf("q3 (another user) was asked with %v, want no history", q3)
	}
	if q2[0].auth != "Bearer "+aiKey || q2[0].model != "test-model" {
		t.Errorf("the model was called with auth %q model %q", q2[0].auth, q2[0].model)
	}
	// The daily limit.
	for i, want := range []string{"答:限1", "答:限2", "今天的提问次数已用完, 明天再来吧"} {
		if _, got := wechatAsk(t, b.url, "oLimit", fmt.Sprint("限", i+1)); got != want {
			t.Errorf("question %d of a limit of 2: %q, want %q", i+1, got, want)
		}
	}
	if n := len(llmSrv.asked("限3")); n != 0 {
		t.Errorf("the model was asked past the limit (%d calls)", n)
	}
	// Upstream 500: the apology, never the upstream's text.
	if _, got := wechatAsk(t, b.url, "oFail", "fail please"); got != "抱歉, 小助手开小差了" {
		t.Errorf("upstream 500: %q, want the apology", got)
	}
	// A slow answer: "success" now, the answer by kefu.
	if n, got := wechatAsk(t, b.url, "oSlow", "sleep 2500ms 慢问题"); n != 1 || got != "success" {
		t.Errorf("slow answer: attempt %d %q, want success at once", n, got)
	}
	// A long answer: the first part passive, the rest by kefu, in order.
	_, first := wechatAsk(t, b.url, "oLong", "long")
	parts := actions.SplitText(longAIAnswer(), actions.MaxTextBytes, "")
	if len(parts) < 2 || first != parts[0] {
		t.Fatalf("long answer's passive part %q, want the first of %d", first, len(parts))
	}
	kefu := waitKefu(t, fake, map[string]int{"oSlow": 1, "oLong": len(parts) - 1})
	if got := kefu["oSlow"]; len(got) != 1 || got[0] != "答:sleep 2500ms 慢问题" {
		t.Errorf("slow answer by kefu: %q", got)
	}
	if got := strings.Join(append([]string{first}, kefu["oLong"]...), "\n\n"); got != longAIAnswer() {
		t.Errorf("the long answer did not arrive whole and in order:\n%q", got)
	}
	logs := b.waitLog(t, `"msg":"action failed"`)
	if strings.Contains(logs, aiKey) {
		t.Error("the API key is in the log")
	}
	for sample, atLeast := range map[string]float64{
		`wxbot_ai_answers_total{outcome="passive"}`:    7,
		`wxbot_ai_answers_total{outcome="kefu"}`:       1,
		`wxbot_ai_answers_total{outcome="error"}`:      1,
		`wxbot_ai_answers_total{outcome="over_limit"}`: 1,
		`wxbot_ai_tokens_total{direction="in"}`:        11 * 8,
		`wxbot_ai_tokens_total{direction="out"}`:       7 * 8,
	} {
		if v := scrape(t, b, sample); v < atLeast {
			t.Errorf("%s = %v, want at least %v", sample, v, atLeast)
		}
	}
}

// waitKefu waits for the kefu texts each user should get and returns them.
func waitKefu(t *testing.T, fake *wechattest.Server, want map[string]int) map[string][]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := map[string][]string{}
		for _, c := range fake.Delivered("/cgi-bin/message/custom/send") {
			var m struct {
				ToUser string `json:"touser"`
				Text   struct{ Content string }
			}
			json.Unmarshal(c.Body, &m)
			got[m.ToUser] = append(got[m.ToUser], m.Text.Content)
		}
		done := true
		for u, n := range want {
			done = done && len(got[u]) >= n
		}
		if done {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("kefu sends %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAIWithoutKefu: an account without the kefu API (--kefu=false), on
// WeChat's real schedule (an attempt every 5 s, three in all): an 8 s
// answer (and a 6 s webhook) answers WeChat's second attempt; a 25 s
// answer makes the third attempt answer the pending text and then
// answers the user's next push; a long answer comes a part per push.
func TestAIWithoutKefu(t *testing.T) {
	t.Parallel()
	llmSrv := newFakeLLM(t)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(6 * time.Second)
		io.WriteString(w, `{"reply": {"text": "webhook answer"}}`)
	}))
	defer hook.Close()
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_AI_API_KEY=" + aiKey}
	b := startBot(t, env, "--rules", writeAIRules(t, hook.URL), "--kefu=false",
		"--ai-base-url", llmSrv.URL+"/v1", "--ai-model", "test-model")

	t.Run("group", func(t *testing.T) {
		t.Run("fast answer passive", func(t *testing.T) {
			t.Parallel()
			if n, got := wechatAsk(t, b.url, "oFast", "你好"); n != 1 || got != "答:你好" {
				t.Errorf("attempt %d %q, want the first attempt answered 答:你好", n, got)
			}
		})
		t.Run("8s answer on a retry", func(t *testing.T) {
			t.Parallel()
			// Which attempt answers is the schedule's proof here; its times
			// are checked in virtual time (callback's
			// TestHeldPushOnWeChatSchedule), not on this machine's clock.
			n, got := wechatAsk(t, b.url, "o8", "sleep 8s 问题")
			if n != 2 || got != "答:sleep 8s 问题" {
				t.Errorf("attempt %d %q, want WeChat's second attempt answered with the answer", n, got)
			}
		})
		t.Run("slow webhook on a retry", func(t *testing.T) {
			t.Parallel()
			if n, got := wechatAsk(t, b.url, "oHook", "hook me"); n != 2 || got != "webhook answer" {
				t.Errorf("attempt %d %q, want WeChat's second attempt answered with the webhook's reply", n, got)
			}
		})
		t.Run("25s answer on the next push", func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			n, got := wechatAsk(t, b.url, "o25", "sleep 25s 问题")
			if n != 3 || got != "答案还在生成, 回复任意文字获取" {
				t.Fatalf("attempt %d %q, want WeChat's third attempt answered with --pending-text", n, got)
			}
			time.Sleep(time.Until(start.Add(26 * time.Second)))
			if n, got := wechatAsk(t, b.url, "o25", "好"); n != 1 || got != "答:sleep 25s 问题" {
				t.Errorf("the next push got attempt %d %q, want the held answer", n, got)
			}
			if calls := llmSrv.asked("好"); len(calls) != 0 {
				t.Error("the push that collected the answer was asked of the model")
			}
			if _, got := wechatAsk(t, b.url, "o25", "again"); got != "答:again" {
				t.Errorf("the push after: %q, want it handled as usual", got)
			}
		})
		t.Run("long answer a part per push", func(t *testing.T) {
			t.Parallel()
			parts := actions.SplitText(longAIAnswer(), actions.MaxTextBytes, actions.MoreNote)
			_, got := wechatAsk(t, b.url, "oLong", "long")
			all := []string{got}
			for range len(parts) - 1 {
				_, got := wechatAsk(t, b.url, "oLong", "1")
				all = append(all, got)
			}
			if strings.Join(all, "|") != strings.Join(parts, "|") {
				t.Errorf("parts %q\nwant %q", all, parts)
			}
			if !strings.HasSuffix(all[0], "(回复任意文字查看下一段)") || strings.Contains(all[len(all)-1], "查看下一段") {
				t.Error("the parts do not say whether another follows")
			}
		})
	})
	if v := scrape(t, b, `wxbot_ai_answers_total{outcome="pending"}`); v != 1 {
		t.Errorf(`wxbot_ai_answers_total{outcome="pending"} = %v, want 1`, v)
	}
	if v := scrape(t, b, `wxbot_pushes_total{outcome="pending",type="text"}`); v != 1 {
		t.Errorf(`pushes answered with the pending text: %v, want 1`, v)
	}
	if strings.Contains(b.stderr.String(), aiKey) {
		t.Error("the API key is in the log")
	}
}

// TestAIWithoutKefuOnRedisReplicas: replicas on one Redis share the
// history and the held replies, and a held push's retries that reach
// either replica wait for the one answer.
func TestAIWithoutKefuOnRedisReplicas(t *testing.T) {
	t.Parallel()
	rc := needRedis(t)
	prefix := redisPrefix(t, rc, "ai")
	llmSrv := newFakeLLM(t)
	rulesPath := writeAIRules(t, "http://127.0.0.1:1")
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_AI_API_KEY=" + aiKey}
	start := func(consumer string) *botProc {
		return startBot(t, env, "--rules", rulesPath, "--kefu=false", "--ai-base-url", llmSrv.URL+"/v1", "--ai-model", "test-model",
			"--store", "redis://127.0.0.1:6379/0?prefix="+prefix+"&consumer="+consumer)
	}
	a, b := start("a"), start("b")
	both := []string{a.url, b.url}

	wechatAsk(t, a.url, "oShared", "q1")
	wechatAsk(t, b.url, "oShared", "q2")
	if q2 := llmSrv.asked("q2"); len(q2) != 1 || len(q2[0].messages) != 4 {
		t.Errorf("q2 on the other replica was asked with %v, want the first turn along", q2)
	}
	parts := actions.SplitText(longAIAnswer(), actions.MaxTextBytes, actions.MoreNote)
	_, first := wechatAsk(t, a.url, "oLong", "long")
	all := []string{first}
	for i := range len(parts) - 1 {
		_, got := wechatAsk(t, both[(i+1)%2], "oLong", "1")
		all = append(all, got)
	}
	if strings.Join(all, "|") != strings.Join(parts, "|") {
		t.Errorf("a long answer's parts fetched from both replicas: %q, want %q", all, parts)
	}
	// Attempts on A, B, A: the third comes 10 s after the first, past the
	// age at which a claim on Redis is otherwise taken for a dead
	// replica's, and must still wait for the answer rather than run the
	// rules again.
	if n, got := wechatAskVia(t, both, "o12", "sleep 12s 跨副本"); n != 3 || got != "答:sleep 12s 跨副本" {
		t.Errorf("a 12 s answer, attempts on both replicas: attempt %d %q, want the third answered", n, got)
	}
	if len(llmSrv.asked("sleep 12s 跨副本")) != 1 {
		t.Error("a retry on the other replica ran the rules again")
	}
}

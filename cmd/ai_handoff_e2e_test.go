package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// aiHandoffRules answer with the model, which hands off on 人工 and when
// its answer holds [[handoff]] (the fake model echoes the question).
const aiHandoffRules = `version: 1
rules:
  - name: ask
    on: text
    actions:
      - ai:
          system: "答不了就写 [[handoff]]"
          timeout: 20s
          handoff: {keywords: [人工], marker: "[[handoff]]"}
`

// aiSay sends one push from user to b and returns simulate's output.
func aiSay(t *testing.T, b *botProc, user, kind string, args ...string) string {
	t.Helper()
	out, errOut, code := wxbot(t, nil, append([]string{"simulate", "--url", b.url, "--token", e2eToken, "--from", user, kind}, args...)...)
	if code != 0 {
		t.Fatalf("simulate %s %v from %s: exit %d: %s", kind, args, user, code, errOut)
	}
	return out
}

// TestAIHandoffE2E: the ai action's handoff over HTTP: a keyword and the
// model's marker transfer the user (the answer is not sent), the bot then
// keeps quiet without asking the model, and the metrics count it.
func TestAIHandoffE2E(t *testing.T) {
	t.Parallel()
	llmSrv := newFakeLLM(t)
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(aiHandoffRules), 0o644); err != nil {
		t.Fatal(err)
	}
	b := startBot(t, []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_AI_API_KEY=" + aiKey}, "--rules", path,
		"--ai-base-url", llmSrv.URL+"/v1", "--ai-model", "test-model")
	steps := []struct {
		user, text string
		want       string // in simulate's output
		asked      int    // model calls for text
	}{
		{"oAsk", "你好", "答:你好", 1},
		{"oKey", "转人工客服", "type: transfer_customer_service", 0},
		{"oKey", "在吗", "no reply", 0},
		{"oMark", "查订单 [[handoff]]", "type: transfer_customer_service", 1},
		{"oMark", "还在吗", "no reply", 0},
	}
	for i, st := range steps {
		out := aiSay(t, b, st.user, "text", st.text)
		if !strings.Contains(out, st.want) || strings.Contains(out, "答:查订单") {
			t.Errorf("step %d, %s: want %q (and no answer) in\n%s", i, st.text, st.want, out)
		}
		if n := len(llmSrv.asked(st.text)); n != st.asked {
			t.Errorf("step %d, %s: the model was asked %d times, want %d", i, st.text, n, st.asked)
		}
	}
	resp, err := e2eHTTP.Get(b.admin + "/state/oMark")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"waiting": true`) {
		t.Errorf("oMark's state %s, want user.kf waiting", body)
	}
	if v := scrape(t, b, `wxbot_ai_answers_total{outcome="handoff"}`); v != 2 {
		t.Errorf(`wxbot_ai_answers_total{outcome="handoff"} = %v, want 2`, v)
	}
}

// TestRecentInWebhookE2E: a webhook that alerts staff carries the user's
// last texts (event.recent), kept in the store across a restart.
func TestRecentInWebhookE2E(t *testing.T) {
	t.Parallel()
	bodies := make(chan string, 10)
	staff := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- string(b)
	}))
	defer staff.Close()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	src := fmt.Sprintf(`version: 1
rules:
  - name: alert
    on: text
    text: {contains: [人工]}
    actions:
      - webhook:
          url: %q
          body: '{"user": ${toJSON(event.from)}, "said": ${toJSON(event.content)}, "before": ${toJSON(map(event.recent, .text))}}'
      - reply: {text: "已通知客服"}
  - name: hello
    on: text
    actions:
      - reply: {text: "您好"}
`, staff.URL)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	db := "bolt:" + filepath.Join(t.TempDir(), "wxbot.db")
	env := []string{"WXBOT_TOKEN=" + e2eToken}
	b := startBot(t, env, "--rules", path, "--store", db)
	aiSay(t, b, "oRecent", "text", "订单 123 没到")
	aiSay(t, b, "oOther", "text", "别人的话")
	b.cmd.Process.Signal(os.Interrupt)
	b.waitExit(t)
	b = startBot(t, env, "--rules", path, "--store", db)
	aiSay(t, b, "oRecent", "text", `"快递" 呢`)
	if out := aiSay(t, b, "oRecent", "text", "转人工"); !strings.Contains(out, "已通知客服") {
		t.Fatalf("the alert rule did not answer:\n%s", out)
	}
	var got string
	eventually(t, b, "the staff alert", func() bool {
		select {
		case got = <-bodies:
			return true
		default:
			return false
		}
	})
	var alert struct {
		User, Said string
		Before     []string
	}
	if err := json.Unmarshal([]byte(got), &alert); err != nil {
		t.Fatalf("alert body %s: %v", got, err)
	}
	if want := `oRecent 转人工 ["订单 123 没到" "\"快递\" 呢"]`; fmt.Sprintf("%s %s %q", alert.User, alert.Said, alert.Before) != want {
		t.Errorf("alert %s, want %s (the texts before, across a restart; no other user's)", got, want)
	}
}

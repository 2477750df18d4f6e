package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// handoffRules transfer on 转人工 (saying so when nobody is online) and
// answer everything else.
const handoffRules = `version: 1
rules:
  - name: to-a-person
    on: text
    text: {contains: ["转人工"]}
    actions:
      - transfer:
          if_offline:
            - reply: {text: "客服不在线, 请留言, 我们稍后回复您"}
  - name: vip
    on: click
    key: VIP
    actions:
      - kf_session: {create: "vip@kftest"}
  - name: hello
    on: text
    actions:
      - reply: {text: "您好, 我是小助手"}
`

const pathOnline = "/cgi-bin/customservice/getonlinekflist"

// handoffBots starts n bots on one store with handoffRules against fake.
func handoffBots(t *testing.T, fake *wechattest.Server, stores ...string) []*botProc {
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rulesPath, []byte(handoffRules), 0o644)
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=wxhandoff00000001", "WXBOT_SECRET=handoff-secret",
		"WXBOT_API_BASE=" + fake.URL, "WXBOT_TOKEN_API=classic"}
	var bots []*botProc
	for _, st := range stores {
		bots = append(bots, startBot(t, env, "--rules", rulesPath, "--store", st))
	}
	return bots
}

// say sends one push from user to b and returns simulate's output.
func say(t *testing.T, b *botProc, user string, kind string, args ...string) string {
	t.Helper()
	out, errOut, code := wxbot(t, nil, append([]string{"simulate", "--url", b.url, "--token", e2eToken, "--from", user, kind}, args...)...)
	if code != 0 {
		t.Fatalf("simulate %s %v from %s: exit %d: %s", kind, args, user, code, errOut)
	}
	return out
}

// TestHandoffSession: a whole handoff over HTTP: the transfer, the user's
// messages while they wait and while an agent holds the conversation (the
// bot keeps quiet), the agent's close, and the bot answering again; the
// pushes go to two bots on one store in turn, as behind a load balancer.
func TestHandoffSession(t *testing.T) {
	t.Run("bolt", func(t *testing.T) {
		handoffSession(t, "bolt:"+filepath.Join(t.TempDir(), "wxbot.db"))
	})
	t.Run("two replicas on Redis", func(t *testing.T) {
		rc := needRedis(t)
		defer rc.Close()
		url := "redis://127.0.0.1:6379/0?prefix=" + redisPrefix(t, rc, "handoff")
		handoffSession(t, url+"&consumer=a", url+"&consumer=b")
	})
}

func handoffSession(t *testing.T, stores ...string) {
	fake := wechattest.New("wxhandoff00000001", "handoff-secret")
	defer fake.Close()
	fake.Answer(pathOnline, `{"kf_online_list":[{"kf_account":"mia@kftest","status":1,"kf_id":"1001","accepted_case":0}]}`)
	bots := handoffBots(t, fake, stores...)
	bot := func(i int) *botProc { return bots[i%len(bots)] }
	steps := []struct {
		kind, arg string
		want      string // in simulate's output
	}{
		{"text", "你好", "您好, 我是小助手"},
		{"text", "转人工", "type: transfer_customer_service"},
		{"text", "在吗", "no reply"},
		{"kf_create_session", "mia@kftest", "no reply"},
		{"text", "我的订单呢", "no reply"},
		{"kf_close_session", "mia@kftest", "no reply"},
		{"text", "你好", "您好, 我是小助手"},
	}
	for i, st := range steps {
		if out := say(t, bot(i), "oHandoff", st.kind, st.arg); !strings.Contains(out, st.want) {
			t.Errorf("step %d, %s %s: want %q in\n%s", i, st.kind, st.arg, st.want, out)
		}
	}
	if n := len(fake.Calls(pathOnline)); n != 1 {
		t.Errorf("%d online checks for one transfer, want 1", n)
	}

	// kf_session gives the user to a named agent through the API, and the
	// bot keeps quiet from then on.
	say(t, bot(0), "oVIP", "click", "VIP")
	calls := fake.Delivered(wechat.PathKfSessionCreate)
	if len(calls) != 1 || !strings.Contains(string(calls[0].Body), `"openid":"oVIP"`) || !strings.Contains(string(calls[0].Body), `"kf_account":"vip@kftest"`) {
		t.Errorf("kfsession/create calls: %+v", calls)
	}
	if out := say(t, bot(1), "oVIP", "text", "你好"); !strings.Contains(out, "no reply") {
		t.Errorf("after kf_session create the bot answered: %s", out)
	}
}

// TestHandoffOffline: with nobody online, the transfer's if_offline runs
// instead, and the bot goes on answering; a failing check transfers.
func TestHandoffOffline(t *testing.T) {
	fake := wechattest.New("wxhandoff00000001", "handoff-secret")
	defer fake.Close()
	fake.Answer(pathOnline, `{"kf_online_list":[]}`)
	b := handoffBots(t, fake, "bolt:"+filepath.Join(t.TempDir(), "wxbot.db"))[0]
	if out := say(t, b, "oOffline", "text", "转人工"); !strings.Contains(out, "客服不在线") {
		t.Errorf("nobody online: %s", out)
	}
	if out := say(t, b, "oOffline", "text", "你好"); !strings.Contains(out, "您好, 我是小助手") {
		t.Errorf("after an offline transfer the bot went quiet: %s", out)
	}
	if out := say(t, b, "oOffline2", "text", "转人工"); !strings.Contains(out, "客服不在线") {
		t.Errorf("nobody online, second user: %s", out)
	}
	if n := len(fake.Calls(pathOnline)); n != 1 {
		t.Errorf("%d online checks in 30 s, want 1 (kept 30 s)", n)
	}

	failing := wechattest.New("wxhandoff00000001", "handoff-secret")
	defer failing.Close()
	failing.FailUntilCleared(pathOnline, -1)
	b = handoffBots(t, failing, "bolt:"+filepath.Join(t.TempDir(), "wxbot.db"))[0]
	if out := say(t, b, "oFailing", "text", "转人工"); !strings.Contains(out, "type: transfer_customer_service") {
		t.Errorf("a failing online check: want the transfer (WeChat decides), got %s", out)
	}
}

// TestExplainHandoff: explain says why a rule stays quiet while a person
// holds the conversation, and that it runs again once the handoff is over.
func TestExplainHandoff(t *testing.T) {
	kf := `kf:='{"account":"mia@kftest","since":"2026-12-06T10:00:00+08:00"}'`
	tests := []struct {
		at, want, notWant string
	}{
		{"2026-12-06 10:05", "quiet: a person has the conversation (user.kf)", "matched: hello"},
		{"2026-12-06 10:45", "matched: hello", "quiet:"},
	}
	for _, tt := range tests {
		out, errOut, code := wxbot(t, nil, "explain", "../examples/handoff/", "--event", "type=text content=你好", "--user", kf, "--at", tt.at)
		if code != 0 || !strings.Contains(out, tt.want) || strings.Contains(out, tt.notWant) {
			t.Errorf("explain at %s: exit %d, want %q and not %q:\n%s%s", tt.at, code, tt.want, tt.notWant, out, errOut)
		}
	}
}

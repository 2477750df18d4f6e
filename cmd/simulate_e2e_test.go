package cmd

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestSimulateKindsAndReasons: simulate sends every kind the examples can
// answer, compatible mode and a push of one's own, and when the bot
// refuses a push it says why and what to check.
func TestSimulateKindsAndReasons(t *testing.T) {
	examples, _ := filepath.Abs("../examples/rules.yaml")
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=" + e2eAppID, "WXBOT_AES_KEY=" + e2eKey}
	b := startBot(t, env, "--rules", examples)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"video"}, `no reply`},
		{[]string{"shortvideo"}, `no reply`},
		{[]string{"link", "a title", "https://example.com/a"}, `no reply`},
		{[]string{"location_report", "--", "23.1", "-113.3"}, `no reply`},
		{[]string{"pic_weixin", "PHOTO"}, `no reply`},
		{[]string{"pic_sysphoto", "PHOTO"}, `no reply`},
		{[]string{"location_select", "WHERE", "23.1", "113.3", "广州塔"}, `no reply`},
		{[]string{"templatesendjobfinish", "failed:user block"}, `no reply`},
		{[]string{"--compat", "text", "价格"}, "type: news"},
		{[]string{"--xml", "../engine/wechat/testdata/push/event_CLICK.xml"}, `no reply`},
		{[]string{"--xml", "../engine/wechat/testdata/push/text.xml"}, "type: text"},
	} {
		out, errOut, code := wxbot(t, env, append([]string{"simulate", "--url", b.url}, c.args...)...)
		if code != 0 || !strings.Contains(out, c.want) {
			t.Errorf("simulate %v: exit %d\n%s%s\nwant %q", c.args, code, out, errOut, c.want)
		}
		if c.want != "no reply" && !strings.Contains(out, "encrypted: yes") {
			t.Errorf("simulate %v: the reply was not encrypted:\n%s", c.args, out)
		}
	}

	otherKey := "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"wrong token", []string{"WXBOT_TOKEN=wrong"}, []string{"--url", b.url, "text", "hi"}, "check --token"},
		{"wrong key", []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=" + e2eAppID, "WXBOT_AES_KEY=" + otherKey},
			[]string{"--url", b.url, "text", "hi"}, "cannot decrypt): check --aes-key and --appid"},
		{"wrong path", env, []string{"--url", strings.TrimSuffix(b.url, "/wechat") + "/wx", "text", "hi"}, "check --url against the bot's --path"},
	} {
		_, errOut, code := wxbot(t, c.env, append([]string{"simulate"}, c.args...)...)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, %q; want exit 1 saying %q", c.name, code, errOut, c.want)
		}
	}
	_, errOut, code := wxbot(t, env, "simulate", "--url", b.url, "text", "hello", "world")
	if code != 2 || !strings.Contains(errOut, "quote it, as in simulate text 'hello world'") {
		t.Errorf("simulate text hello world: exit %d, %q", code, errOut)
	}
}

package cmd

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

// runCmd runs a command line in-process with the given environment.
func runCmd(env map[string]string, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &cmdEnv{stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }})
	return out.String(), errb.String(), code
}

func TestFlagsFromEnvironment(t *testing.T) {
	c := &command{name: "t"}
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		want  time.Duration
		wantP []string
	}{
		{"default", nil, nil, 4 * time.Second, nil},
		{"env", map[string]string{"WXBOT_REPLY_DEADLINE": "2s"}, nil, 2 * time.Second, nil},
		{"flag wins over env", map[string]string{"WXBOT_REPLY_DEADLINE": "2s"}, []string{"--reply-deadline", "3s"}, 3 * time.Second, nil},
		{"flags after positionals", nil, []string{"text", "--reply-deadline=1s", "hello"}, time.Second, []string{"text", "hello"}},
		{"-- ends flags", nil, []string{"location", "--", "-33.8", "151.2"}, 4 * time.Second, []string{"location", "-33.8", "151.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := &cmdEnv{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer), getenv: func(k string) string { return tt.env[k] }}
			fs := newFlagSet(env, c)
			d := fs.Duration("reply-deadline", 4*time.Second, "")
			pos, err := fs.parse(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if *d != tt.want || strings.Join(pos, " ") != strings.Join(tt.wantP, " ") {
				t.Errorf("got %v %q, want %v %q", *d, pos, tt.want, tt.wantP)
			}
		})
	}
	env := &cmdEnv{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer), getenv: func(k string) string { return "soon" }}
	fs := newFlagSet(env, c)
	fs.Duration("reply-deadline", time.Second, "")
	if _, err := fs.parse(nil); err == nil || !strings.Contains(err.Error(), "WXBOT_REPLY_DEADLINE") {
		t.Errorf("bad env value: err = %v, want one naming WXBOT_REPLY_DEADLINE", err)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"nope"}, nil, `unknown command "nope"`},
		{[]string{"serve"}, nil, "--token (or WXBOT_TOKEN) is required"},
		{[]string{"serve", "--aes-key", "x"}, map[string]string{"WXBOT_TOKEN": "t"}, "--aes-key needs --appid"},
		{[]string{"serve", "--aes-key", "short", "--appid", "wx1"}, map[string]string{"WXBOT_TOKEN": "t"}, "--aes-key: "},
		{[]string{"serve", "--reply-deadline", "6s"}, map[string]string{"WXBOT_TOKEN": "t"}, "less than 5s"},
		{[]string{"serve", "--timezone", "Mars/Base"}, map[string]string{"WXBOT_TOKEN": "t"}, `--timezone "Mars/Base"`},
		{[]string{"serve", "--log-level", "loud"}, map[string]string{"WXBOT_TOKEN": "t"}, `--log-level "loud"`},
		{[]string{"simulate", "text"}, map[string]string{"WXBOT_TOKEN": "t"}, "simulate text TEXT"},
		{[]string{"simulate", "dance"}, map[string]string{"WXBOT_TOKEN": "t"}, `unknown KIND "dance"`},
		{[]string{"simulate", "location", "north", "1"}, map[string]string{"WXBOT_TOKEN": "t"}, `latitude "north" is not a number`},
		{[]string{"version", "extra"}, nil, "version takes no arguments"},
	}
	for _, tt := range tests {
		_, errOut, code := runCmd(tt.env, tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runCmd(nil, "version")
	if code != 0 || !strings.HasPrefix(out, "wxbot ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestSimulatedMessages(t *testing.T) {
	tests := []struct{ args []string }{
		{[]string{"text", "hi"}},
		{[]string{"click", "K"}},
		{[]string{"subscribe", "s1"}},
	}
	for _, tt := range tests {
		m, err := simulatedMessage(tt.args[0], tt.args[1:])
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		switch tt.args[0] {
		case "text":
			if m.MsgType != "text" || m.Content != "hi" {
				t.Errorf("text: %+v", m)
			}
		case "click":
			if m.Event != "CLICK" || m.EventKey != "K" {
				t.Errorf("click: %+v", m)
			}
		case "subscribe":
			if m.Event != "subscribe" || m.EventKey != "qrscene_s1" || m.Ticket == "" {
				t.Errorf("subscribe: %+v", m)
			}
		}
	}
}

func TestExamplesCheckAndTest(t *testing.T) {
	out, _, code := runCmd(nil, "check", "../examples/rules.yaml")
	if code != 0 || !strings.Contains(out, "0 errors") || !strings.Contains(out, "tests passed") {
		t.Errorf("check examples/rules.yaml: exit %d\n%s", code, out)
	}
	out, _, code = runCmd(nil, "test", "../examples/rules.yaml")
	if code != 0 || !strings.Contains(out, " passed, 0 failed") {
		t.Errorf("test examples/rules.yaml: exit %d\n%s", code, out)
	}
}

func TestCheckReportsEverything(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/rules.yaml"
	os.WriteFile(path, []byte(`version: 1
rules:
  - {name: a, on: text, when: "event.content", actions: [{reply: {txt: x}}]}
  - {name: b, on: text, enabled: false, actions: []}
`), 0o644)
	out, _, code := runCmd(nil, "check", path)
	want := path + ":3:31: rule \"a\": when: expected bool, but got string\n" +
		path + ":3:67: rule \"a\": actions[0] (reply): unknown field \"txt\" (known: image, music, news, text, video, voice)\n" +
		path + ": 2 errors, 0 warnings\n"
	if code != 1 || out != want {
		t.Errorf("check: exit %d\n%s\nwant exit 1 and\n%s", code, out, want)
	}

	os.WriteFile(path, []byte(`version: 1
rules:
  - {name: a, on: text, actions: [{reply: {text: hi}}]}
  - {name: b, on: text, enabled: false, actions: []}
tests:
  - {name: t1, event: {type: text}, expect: {reply: {text: hello}}}
`), 0o644)
	out, _, code = runCmd(nil, "check", path)
	want = path + ":4:5: warning: rule \"b\" is disabled (enabled: false): it is loaded and checked but never matches\n" +
		path + ":6:5: test \"t1\" failed: reply.text: got \"hi\", want \"hello\"\n" +
		path + ": 2 rules, 0 errors, 1 warning, 0 of 1 tests passed\n"
	if code != 1 || out != want {
		t.Errorf("check: exit %d\n%s\nwant exit 1 and\n%s", code, out, want)
	}
	out, _, code = runCmd(nil, "test", path)
	want = "FAIL t1 (" + path + ":6)\n     reply.text: got \"hi\", want \"hello\"\n0 passed, 1 failed\n"
	if code != 1 || out != want {
		t.Errorf("test: exit %d\n%s\nwant exit 1 and\n%s", code, out, want)
	}
}

func TestExplain(t *testing.T) {
	out, _, code := runCmd(nil, "explain", "../examples/rules.yaml", "--at", "2026-11-24 20:00", "--event", "type=text content=价格 from=oX")
	for _, want := range []string{
		"event text from=\"oX\" content=\"价格\" at 2026-11-24 20:00 Tue CST",
		"night", "no: when is false: hour(now()) < 8 || hour(now()) >= 22",
		"vip", "after-hours", "MATCHED (continue: true, goes on)",
		"price", "MATCHED (stops here)",
		"fallback", "not reached: an earlier rule matched and stopped",
		"welcome", "skipped: on subscribe",
		"matched: after-hours, price",
		"actions: price/reply",
		"reply:\n  type: news\n  article 1: 价目表 | 示例小店 2026 价目表 | https://example.com/prices | https://example.com/prices.png\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}

	// The live path's normalization: a subscribe's scene loses qrscene_.
	out, _, code = runCmd(nil, "explain", "../examples/rules.yaml", "--event", "type=subscribe key=qrscene_spring")
	if code != 0 || !strings.Contains(out, "content: 欢迎从「spring」关注示例小店!") {
		t.Errorf("explain of a QR subscribe: exit %d\n%s", code, out)
	}
	// An unknown type is refused, with the known ones.
	_, errOut, code := runCmd(nil, "explain", "../examples/rules.yaml", "--event", "type=txet")
	if code != 2 || !strings.Contains(errOut, `unknown type "txet"; did you mean "text"?`) || !strings.Contains(errOut, "location_report") {
		t.Errorf("explain type=txet: exit %d, %q", code, errOut)
	}
}

// TestExplainUser: --user sets the state explained with, and the output
// shows the state after the push.
func TestExplainUser(t *testing.T) {
	cases := []struct {
		user, content string
		want          []string
		code          int
	}{
		{"step=phone bookings:=2", "13800001234", []string{
			`user state: bookings=2 step="phone"`, "book-phone", "MATCHED (stops here)",
			`user state after: bookings=2 phone="13800001234" step="date"`, "content: 好的, 尾号 1234: 回复 1 今天, 2 明天"}, 0},
		{"step=date phone=13800001234", "9", []string{"book-date-again", "MATCHED", "content: 回复 1 今天, 2 明天 (回复 取消 退出)"}, 0},
		{"", "13800001234", []string{"matched: none", "reply: none"}, 0},
		{"n:=oops", "x", []string{"--user: user: n:=oops: the value is not JSON"}, 2},
	}
	for _, c := range cases {
		out, errOut, code := runCmd(nil, "explain", "../examples/booking/rules.yaml", "--event", "type=text content="+c.content, "--user", c.user)
		for _, w := range c.want {
			if !strings.Contains(out+errOut, w) {
				t.Errorf("explain --user %q: output lacks %q:\n%s%s", c.user, w, out, errOut)
			}
		}
		if code != c.code {
			t.Errorf("explain --user %q: exit %d, want %d", c.user, code, c.code)
		}
	}
}

// TestBenchRuns runs the load generator briefly against a bot it starts
// and the bare baseline: it must succeed, check replies and print ratios.
// (The figures themselves are in BENCHMARKS.md, not asserted.)
func TestBenchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers")
	}
	out, errOut, code := wxbot(t, nil, "bench", "--duration", "500ms", "--warmup", "100ms", "--concurrency", "4", "--baseline",
		"--aes-key", e2eKey, "--rules", "50", "--fill", "mixed", "--mix", "text,contains,prefix,regex,click,subscribe")
	if code != 0 {
		t.Fatalf("bench: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "bad (wxbot)") {
		t.Errorf("bench got wrong replies:\n%s", out)
	}
	for _, want := range []string{"safe mode", "wxbot ", "baseline ", "ratio: throughput", "server CPU per request"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 7 || (f[0] != "wxbot" && f[0] != "baseline") {
			continue
		}
		if _, err := strconv.ParseFloat(f[1], 64); err == nil && (f[5] != "0" || f[6] != "0") {
			t.Errorf("errors or bad replies: %s", line)
		}
	}
}

// TestEveryHelpExitsZero: `wxbot COMMAND --help` prints the command's usage
// and exits 0 for every command; internal commands stay out of the list.
func TestEveryHelpExitsZero(t *testing.T) {
	for _, name := range commandNames() {
		for _, h := range []string{"--help", "-h"} {
			out, errOut, code := runCmd(nil, name, h)
			if code != 0 {
				t.Errorf("wxbot %s %s: exit %d\n%s", name, h, code, errOut)
			}
			if !strings.Contains(out+errOut, "Usage: wxbot "+name) {
				t.Errorf("wxbot %s %s prints no usage:\n%s%s", name, h, out, errOut)
			}
			if strings.Contains(out+errOut, "-url wxbot") {
				t.Errorf("wxbot %s %s: a flag's usage names an argument from its backquotes:\n%s", name, h, out+errOut)
			}
		}
	}
	top, _, code := runCmd(nil, "--help")
	if code != 0 || strings.Contains(top, "bench-baseline") || !strings.Contains(top, "simulate") {
		t.Errorf("wxbot --help: exit %d\n%s", code, top)
	}
	out, errOut, _ := runCmd(nil, "simulate", "--help")
	if strings.Contains(out+errOut, "enables POST /wechatpay/notify") {
		t.Errorf("simulate --help describes serve's flags:\n%s", out+errOut)
	}
}

// TestBenchSaysWhatIsBad: a wrong sampled reply is explained: which push,
// what was expected, what came back.
// TestBenchRulesParse: the bench's rules file loads for every --fill kind,
// with as many rules as asked and the fillers first.
func TestBenchRulesParse(t *testing.T) {
	for _, kind := range fillKinds {
		l, err := rules.Parse("bench.yaml", []byte(benchRules(20, kind)))
		if err != nil {
			t.Fatalf("--fill %s: %v", kind, err)
		}
		if rs := l.Set.Rules; len(rs) != 20 || rs[0].Name != "fill6" || rs[14].Name != "price" {
			t.Errorf("--fill %s: %d rules, first %q", kind, len(rs), rs[0].Name)
		}
	}
}

func TestBenchSaysWhatIsBad(t *testing.T) {
	good := wechat.AppendReply(nil, "oU", "gh", 1, &wechat.Reply{Type: wechat.ReplyText, Content: "菜单价目表"})
	if why := replyProblem(good, "click", "t", nil); why != "" {
		t.Errorf("a right reply: %s", why)
	}
	wrong := wechat.AppendReply(nil, "oU", "gh", 1, &wechat.Reply{Type: wechat.ReplyText, Content: "hello"})
	if why := replyProblem(wrong, "click", "t", nil); why != `want a text reply "菜单价目表", got a text reply "hello"` {
		t.Errorf("a wrong reply: %q", why)
	}
	if why := replyProblem([]byte("success"), "text", "t", nil); !strings.Contains(why, `got "success"`) {
		t.Errorf("success: %q", why)
	}
	var b bytes.Buffer
	printBench(&b, []benchResult{{name: "wxbot", requests: 10, elapsed: time.Second, badReply: 1, firstBad: "push 64 (click): want …"}})
	if !strings.Contains(b.String(), "bad (wxbot): 1 sampled replies (1 in 64) were not what the bench's rules answer; first: push 64 (click)") {
		t.Errorf("bench output:\n%s", b.String())
	}
}

// TestNoSecretInURLErrors: a password or token in the URL of any flag that
// takes one never reaches the terminal.
func TestNoSecretInURLErrors(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--token", "t", "--store", "redis://:s3cret@127.0.0.1:1/notanumber"},
		{"serve", "--token", "t", "--store", "redis://user:s3cret@127.0.0.1:6379/0?claim_idle=bad"},
		{"simulate", "--token", "t", "--url", "http://user:s3cret@127.0.0.1:1/wechat", "--timeout", "1s", "text", "hi"},
		{"simulate", "--token", "t", "--url", "http://127.0.0.1:1/wechat?access_token=s3cret", "--timeout", "1s", "text", "hi"},
		{"kf", "list", "--appid", "wx1", "--secret", "s3cret", "--api-base", "http://user:s3cret@127.0.0.1:1"},
		{"bench", "--url", "http://user:s3cret@127.0.0.1:1/wechat", "--duration", "100ms", "--warmup", "0s"},
	} {
		out, errOut, code := runCmd(nil, args...)
		if code == 0 {
			t.Errorf("%v: succeeded", args)
		}
		if strings.Contains(out+errOut, "s3cret") {
			t.Errorf("%v: the secret is printed:\n%s%s", args, out, errOut)
		}
	}
	if got := redactSecrets(`Post "http://u:pw@h/x?access_token=abc&x=1": refused`); got != `Post "http://u:xxxxx@h/x?access_token=xxxxx&x=1": refused` {
		t.Errorf("redacted: %s", got)
	}
}

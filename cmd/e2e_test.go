package cmd

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The binary the end-to-end tests run is built on first use (so a run of
// only the in-process tests, such as CI's allocation pass, builds nothing)
// into a directory TestMain removes.
var (
	binDir      string
	buildOnce   sync.Once
	builtBinary string
	buildErr    error
)

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "wxbot-e2e")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binDir = dir
		return m.Run()
	}()
	os.Exit(code)
}

// wxbotBinary returns the path of the built wxbot, building it once.
func wxbotBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		path := filepath.Join(binDir, "wxbot")
		if runtime.GOOS == "windows" {
			path += ".exe"
		}
		// -pgo=off: the tests check behaviour, not speed, and a build with
		// cmd/wxbot/default.pgo compiles every package again (the test
		// binaries' packages, already built, are reused without it).
		args := []string{"build", "-pgo=off", "-o", path}
		if raceEnabled {
			args = append(args, "-race")
		}
		if coverDir() != "" {
			// Without a GOCOVERDIR a cover-built binary warns on stderr, which
			// the tests read: so -cover only when there is somewhere to write.
			args = append(args, "-cover")
		}
		out, err := exec.Command("go", append(args, "./wxbot")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building wxbot for the end-to-end tests: %v\n%s", err, out)
			return
		}
		builtBinary = path
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBinary
}

// subprocessEnv is the environment the binary runs with: the test's own,
// then extra, with the race detector's one-second sleep at exit turned off
// (GORACE's atexit_sleep_ms defaults to 1000; every run of a race-built
// binary paid it). The caller's other GORACE options are kept, and so is an
// atexit_sleep_ms the caller chose. A binary built without -race ignores
// GORACE.
//
// When the run collects coverage (coverDir), the binary, built with -cover,
// writes its counters there: serve, bench and the admin endpoints count.
func subprocessEnv(extra []string) []string {
	env := os.Environ()
	env = append(env, "GORACE="+noExitSleep(os.Getenv("GORACE")))
	if dir := coverDir(); dir != "" {
		env = append(env, "GOCOVERDIR="+dir)
	}
	return append(env, extra...)
}

// coverDir is where the binary's coverage counters go: the test binary's
// own -test.gocoverdir if set (go test -cover ... -args -test.gocoverdir=DIR
// puts both in DIR), else GOCOVERDIR; "" collects none.
func coverDir() string {
	if f := flag.Lookup("test.gocoverdir"); f != nil && f.Value.String() != "" {
		return f.Value.String()
	}
	return os.Getenv("GOCOVERDIR")
}

// noExitSleep adds atexit_sleep_ms=0 to GORACE options unless they set it.
func noExitSleep(gorace string) string {
	opts := strings.Fields(gorace)
	for _, opt := range opts {
		if strings.HasPrefix(opt, "atexit_sleep_ms=") {
			return gorace
		}
	}
	return strings.Join(append(opts, "atexit_sleep_ms=0"), " ")
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// botProc is a `wxbot serve` process.
type botProc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	url    string
	admin  string
	stderr *syncBuffer
}

type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { b := &syncBuffer{mu: make(chan struct{}, 1)}; return b }
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

// e2eHTTP makes the tests' own requests to a bot: one that accepts and
// never answers fails the test instead of hanging it until go test's timeout.
var e2eHTTP = &http.Client{Timeout: 30 * time.Second}

// waitExit waits for the bot to exit (after a signal or a kill); a bot still
// running after 20s, past the default --shutdown-timeout, is killed and the
// test fails.
func (b *botProc) waitExit(t *testing.T) {
	t.Helper()
	select {
	case <-b.exited:
	case <-time.After(20 * time.Second):
		b.cmd.Process.Kill()
		<-b.exited
		t.Fatalf("the bot did not exit within 20s:\n%s", b.stderr.String())
	}
}

// waitLog waits until the bot's log holds each of want and returns the log:
// a line can be written after the reply its push got.
func (b *botProc) waitLog(t *testing.T, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		logs := b.stderr.String()
		missing := ""
		for _, w := range want {
			if !strings.Contains(logs, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log still lacks %q after 15s:\n%s", missing, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startBot runs wxbot serve with args on free loopback ports and waits
// until /readyz answers.
func startBot(t *testing.T, env []string, args ...string) *botProc {
	t.Helper()
	return startBotWith(t, env, nil, args...)
}

// startBotWith is startBot with the admin listener bound where bind puts
// its free port (nil: loopback); the test reaches it on loopback.
func startBotWith(t *testing.T, env []string, bind func(port string) string, args ...string) *botProc {
	t.Helper()
	if !slices.Contains(args, "--store") {
		args = append(args, "--store", "bolt:"+filepath.Join(t.TempDir(), "wxbot.db"))
	}
	if !slices.Contains(args, "--spool") { // used with redis://; never in the source tree
		args = append(args, "--spool", filepath.Join(t.TempDir(), "spool.db"))
	}
	// A port found free can be taken by another process before the bot binds
	// it; then the bot exits at once and is started again on other ports.
	for attempt := 0; ; attempt++ {
		b, err := tryStartBot(t, env, bind, args)
		if err == nil {
			return b
		}
		if attempt == 4 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
	}
}

func tryStartBot(t *testing.T, env []string, bind func(port string) string, args []string) (*botProc, error) {
	listen, admin := freeAddr(t), freeAddr(t)
	adminBind := admin
	if bind != nil {
		_, port, _ := net.SplitHostPort(admin)
		adminBind = bind(port)
	}
	b := &botProc{url: "http://" + listen + "/wechat", admin: "http://" + admin, stderr: newSyncBuffer()}
	b.cmd = exec.Command(wxbotBinary(t), append([]string{"serve", "--listen", listen, "--admin-listen", adminBind, "--log-format", "json"}, args...)...)
	b.cmd.Env = subprocessEnv(env)
	b.cmd.Stderr = b.stderr
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	b.exited = make(chan struct{})
	go func() { b.cmd.Wait(); close(b.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := e2eHTTP.Get(b.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-b.exited:
			return nil, fmt.Errorf("wxbot serve exited before it was ready:\n%s", b.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			b.cmd.Process.Kill()
			<-b.exited
			return nil, fmt.Errorf("wxbot serve did not become ready: %v\n%s", err, b.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		b.cmd.Process.Signal(os.Interrupt)
		select {
		case <-b.exited:
		case <-time.After(15 * time.Second):
			b.cmd.Process.Kill()
			<-b.exited
		}
		if t.Failed() {
			t.Logf("wxbot serve log:\n%s", b.stderr.String())
		}
	})
	return b, nil
}

// wxbot runs the binary and returns its stdout, stderr and exit code.
func wxbot(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	out, errOut, code, err := runWxbot(wxbotBinary(t), env, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out, errOut, code
}

// runWxbot is wxbot for other goroutines than the test's (which must not
// call t.Fatal): err is a failure to run bin at all, or its 60s timeout.
func runWxbot(bin string, env []string, args ...string) (stdout, stderr string, code int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, bin, args...)
	c.Env = subprocessEnv(env)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err = c.Run()
	if ee, ok := err.(*exec.ExitError); ok && ctx.Err() == nil {
		code, err = ee.ExitCode(), nil
	} else if err != nil {
		err = fmt.Errorf("wxbot %s: %v (%v)\n%s", strings.Join(args, " "), err, ctx.Err(), errb.String())
	}
	return out.String(), errb.String(), code, err
}

const (
	e2eToken = "e2e-token"
	e2eKey   = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
	e2eAppID = "wx49f0ab532d5d035a"
)

func TestEndToEnd(t *testing.T) {
	examples, _ := filepath.Abs("../examples/rules.yaml")
	for _, mode := range []string{"plaintext", "safe"} {
		t.Run(mode, func(t *testing.T) {
			env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=" + e2eAppID}
			if mode == "safe" {
				env = append(env, "WXBOT_AES_KEY="+e2eKey)
			}
			b := startBot(t, env, "--rules", examples)
			cases := []struct {
				args []string
				want []string
			}{
				{[]string{"text", "价格"}, []string{"type: news", "article 1: 价目表 | 示例小店 2026 价目表 | https://example.com/prices"}},
				{[]string{"text", "这个多少钱"}, []string{"type: news"}},
				{[]string{"text", "123456"}, []string{"type: text", "content: 正在查询订单 123456, 请稍候"}},
				{[]string{"text", "转人工 谢谢"}, []string{"type: transfer_customer_service"}},
				{[]string{"click", "ONLINE_KF"}, []string{"type: transfer_customer_service", "kf_account: test1@kftest"}},
				{[]string{"click", "HOTLINE"}, []string{"content: 客服热线 400-000-0000"}},
				{[]string{"subscribe", "spring"}, []string{"content: 欢迎从「spring」关注示例小店! 回复 1 查看菜单"}},
				{[]string{"subscribe"}, []string{"type: text"}},
				{[]string{"scancode_waitmsg", "SCAN1", "ABC-123"}, []string{"content: 扫码结果: ABC-123"}},
				{[]string{"location", "--", "23.134521", "-113.358803", "广州塔"}, []string{"content: 收到位置 广州塔 (23.134521, -113.358803)"}},
				{[]string{"image"}, []string{"content: 收到! 回复 1 查看菜单"}},
				{[]string{"voice"}, []string{"content: 收到!"}},
				{[]string{"view", "https://example.com"}, []string{`no reply (the bot answered "success")`}},
				{[]string{"unsubscribe"}, []string{`no reply`}},
				{[]string{"scan", "spring"}, []string{"content: 欢迎回来! 您扫描的是「spring」。回复 1 查看菜单"}},
				{[]string{"scancode_push", "K", "R"}, []string{"content: 扫码结果: R"}},
			}
			for i, c := range cases {
				// a user each: after a transfer the bot keeps quiet for its user
				from := fmt.Sprintf("oEndToEnd%02d", i)
				out, errOut, code := wxbot(t, env, append([]string{"simulate", "--url", b.url, "--from", from}, c.args...)...)
				if code != 0 {
					t.Errorf("simulate %v: exit %d: %s", c.args, code, errOut)
					continue
				}
				for _, w := range c.want {
					if !strings.Contains(out, w) {
						t.Errorf("simulate %v: output\n%s\nlacks %q", c.args, out, w)
					}
				}
				if mode == "safe" && !strings.HasPrefix(c.want[0], "no reply") && !strings.Contains(out, "encrypted: yes") {
					t.Errorf("simulate %v in safe mode: reply not encrypted:\n%s", c.args, out)
				}
			}

			// A retry (same MsgId) gets the same answer and the rules run once.
			first, _, _ := wxbot(t, env, "simulate", "--url", b.url, "--msg-id", "4363689963896700987", "text", "1")
			again, _, _ := wxbot(t, env, "simulate", "--url", b.url, "--msg-id", "4363689963896700987", "text", "1")
			if first != again || !strings.Contains(first, "1. 价格") {
				t.Errorf("retry answered differently:\n%s\n---\n%s", first, again)
			}
			if n := strings.Count(b.stderr.String(), "retry answered from the first copy"); n != 1 {
				t.Errorf("%d retries logged as answered from the first copy, want 1", n)
			}

			// A wrong token is refused.
			_, errOut, code := wxbot(t, []string{"WXBOT_TOKEN=wrong"}, "simulate", "--url", b.url, "text", "价格")
			if code != 1 || !strings.Contains(errOut, "401") {
				t.Errorf("wrong token: exit %d, %q; want exit 1 with a 401", code, errOut)
			}
		})
	}
}

func TestServeRefusesBrokenRules(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	os.WriteFile(path, []byte("version: 1\nrules:\n  - name: a\n    on: txt\n    actions: []\n"), 0o644)
	_, errOut, code := wxbot(t, []string{"WXBOT_TOKEN=t"}, "serve", "--rules", path, "--listen", freeAddr(t), "--admin-listen", "")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if want := path + `:4:9: rule "a": on: unknown event type "txt"`; !strings.Contains(errOut, want) {
		t.Errorf("stderr %q lacks %q", errOut, want)
	}
}

func TestServeLogsAreJSONAndSecretFree(t *testing.T) {
	examples, _ := filepath.Abs("../examples/rules.yaml")
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=" + e2eAppID, "WXBOT_AES_KEY=" + e2eKey}
	b := startBot(t, env, "--rules", examples)
	wxbot(t, env, "simulate", "--url", b.url, "text", "价格")
	wxbot(t, []string{"WXBOT_TOKEN=bad"}, "simulate", "--url", b.url, "text", "价格")
	logs := b.waitLog(t, `"price"]`, `"msg":"push refused"`)
	sc := bufio.NewScanner(strings.NewReader(logs))
	lines := 0
	for sc.Scan() {
		lines++
		if !strings.HasPrefix(sc.Text(), "{") {
			t.Errorf("log line is not JSON: %s", sc.Text())
		}
	}
	if lines < 3 {
		t.Errorf("only %d log lines", lines)
	}
	for _, secret := range []string{e2eToken, e2eKey} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret %q", secret)
		}
	}
	// (after-hours and night may match too, depending on the time of day)
	if !strings.Contains(logs, `"msg":"push"`) || !strings.Contains(logs, `"price"]`) {
		t.Errorf("no push line naming the rule:\n%s", logs)
	}
	_ = io.Discard
}

func TestNoExitSleep(t *testing.T) {
	for in, want := range map[string]string{
		"":                "atexit_sleep_ms=0",
		"halt_on_error=1": "halt_on_error=1 atexit_sleep_ms=0",
		" log_path=/tmp/race  strip_path_prefix=/w ": "log_path=/tmp/race strip_path_prefix=/w atexit_sleep_ms=0",
		"atexit_sleep_ms=500 halt_on_error=1":        "atexit_sleep_ms=500 halt_on_error=1",
	} {
		if got := noExitSleep(in); got != want {
			t.Errorf("noExitSleep(%q) = %q, want %q", in, got, want)
		}
	}
}

// eventually polls ok until it holds: for a state the bot will reach (a
// delivery, a reload), never for the absence of something. The 30 s are a
// hung test's bound, not a speed requirement.
func eventually(t *testing.T, b *botProc, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, b.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

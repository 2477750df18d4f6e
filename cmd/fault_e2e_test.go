package cmd

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// Proxy modes: forward bytes, hold them (a Redis that accepts connections
// but stops answering), or close every connection (a Redis that refuses).
const (
	forward int32 = iota
	hang
	refuse
)

// faultProxy is a TCP proxy in front of the real Redis whose mode a test
// switches.
type faultProxy struct {
	ln     net.Listener
	target string
	mode   atomic.Int32
	mu     sync.Mutex
	conns  []net.Conn
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target}
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.closeAll() })
	return p
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) set(mode int32) {
	p.mode.Store(mode)
	if mode == refuse {
		p.closeAll()
	}
}

func (p *faultProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *faultProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.mode.Load() == refuse {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

// pipe copies src to dst, holding the bytes while the proxy hangs.
func (p *faultProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for n > 0 && p.mode.Load() == hang {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				src.Close()
			}
			return
		}
	}
}

const faultRules = `version: 1
rules:
  - name: hello
    on: text
    text: hello
    actions:
      - reply: {text: "hello back"}
  - name: cool
    on: text
    text: cool
    cooldown: 1h
    actions:
      - reply: {text: "cool once"}
  - name: order
    on: text
    text: order
    actions:
      - reply: {text: "order ${event.msg_id} received"}
      - kefu: {text: "k ${event.msg_id}"}
`

// TestRedisThatHangsOrRefuses: with Redis hanging (accepting but not
// answering) every kind of push is answered well inside WeChat's 5 s,
// /readyz says 503, and the kefu sends accepted meanwhile are delivered
// once after Redis is back; the same when Redis refuses connections.
func TestRedisThatHangsOrRefuses(t *testing.T) {
	rc := needRedis(t)
	defer rc.Close()
	prefix := redisPrefix(t, rc, "fault")
	proxy := newFaultProxy(t, "127.0.0.1:6379")
	fake := wechattest.New("wxfault0000000001", "fault-secret")
	defer fake.Close()
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rulesPath, []byte(faultRules), 0o644)
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=wxfault0000000001", "WXBOT_SECRET=fault-secret",
		"WXBOT_API_BASE=" + fake.URL, "WXBOT_TOKEN_API=classic"}
	b := startBot(t, env, "--rules", rulesPath, "--store", "redis://"+proxy.addr()+"/0?prefix="+prefix)

	msgID, from := 5000, "oFault"
	push := func(text, want string) {
		t.Helper()
		msgID++
		// The rule's reply, not the deadline's "success", is the bot's own
		// word that the push finished within --reply-deadline.
		out, errOut, code := wxbot(t, env, "simulate", "--url", b.url, "--from", from, "--msg-id", fmt.Sprint(msgID), "text", text)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("push %q from %s: exit %d (want the rule's reply within the reply deadline)\n%s%s", text, from, code, out, errOut)
		}
	}
	ready := func() int {
		resp, err := e2eHTTP.Get(b.admin + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	until := func(what string, ok func() bool) { t.Helper(); eventually(t, b, what, ok) }
	delivered := func() int { return len(fake.Delivered("/cgi-bin/message/custom/send")) }

	push("order", "order 5001 received")
	until("the first kefu send", func() bool { return delivered() == 1 })

	for _, mode := range []struct {
		name string
		mode int32
	}{{"hang", hang}, {"refuse", refuse}} {
		proxy.set(mode.mode)
		from = "oFault-" + mode.name // a cooldown of its own
		before := delivered()
		push("hello", "hello back")
		push("cool", "cool once")
		push("order", "received")
		push("order", "received")
		if code := ready(); code != http.StatusServiceUnavailable {
			t.Errorf("%s: /readyz %d, want 503", mode.name, code)
		}
		if scrape(t, b, "wxbot_store_degraded") != 1 {
			t.Errorf("%s: wxbot_store_degraded is not 1", mode.name)
		}
		proxy.set(forward)
		until(mode.name+": /readyz 200 again", func() bool { return ready() == http.StatusOK })
		until(mode.name+": the spooled sends delivered", func() bool { return delivered() == before+2 })
		waitIdle(t, b)
		if n := delivered() - before; n != 2 {
			t.Errorf("%s: %d sends delivered for 2 accepted", mode.name, n)
		}
	}
	if !strings.Contains(b.stderr.String(), "degraded") || !strings.Contains(b.stderr.String(), "the store answers again") {
		t.Errorf("no log line says when degradation started and ended")
	}
}

// TestRetryAfterRestartRunsNothing: a push answered just before a deploy
// (SIGTERM) and retried by WeChat after the restart gets the first reply's
// bytes, runs no rule again (a random reply stays the same) and sends its
// kefu message once.
func TestRetryAfterRestartRunsNothing(t *testing.T) {
	fake := wechattest.New("wxrestart00000001", "restart-secret")
	defer fake.Close()
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesPath, []byte(`version: 1
rules:
  - name: lucky
    on: text
    actions:
      - reply: {text: ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]}
      - kefu: {text: "thanks"}
`), 0o644)
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=wxrestart00000001", "WXBOT_SECRET=restart-secret",
		"WXBOT_API_BASE=" + fake.URL}
	args := []string{"--rules", rulesPath, "--store", "bolt:" + filepath.Join(dir, "wxbot.db")}
	push := func(b *botProc) string {
		out, errOut, code := wxbot(t, env, "simulate", "--url", b.url, "--from", "oDeploy", "--msg-id", "777000111", "text", "hi")
		if code != 0 {
			t.Fatalf("simulate: %s", errOut)
		}
		return out
	}
	b := startBot(t, env, args...)
	first := push(b)
	deadline := time.Now().Add(15 * time.Second)
	for len(fake.Delivered("/cgi-bin/message/custom/send")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the kefu send was not delivered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.waitExit(t)

	b = startBot(t, env, args...)
	for i := 0; i < 3; i++ { // WeChat's retries
		if again := push(b); again != first {
			t.Fatalf("the retry after the restart got\n%s\nnot the first reply\n%s", again, first)
		}
	}
	// The retries were answered from the kept answer: no rule matched in
	// this process (a match is counted before its push is answered), so no
	// second send can have been queued.
	eventually(t, b, "the 3 retries counted", func() bool { return scrape(t, b, "wxbot_retries_coalesced_total") == 3 })
	if n := scrape(t, b, `wxbot_rule_matches_total{rule="lucky"}`); n > 0 {
		t.Errorf("the restarted bot matched the rule %v times for retries", n)
	}
	waitIdle(t, b)
	if n := len(fake.Delivered("/cgi-bin/message/custom/send")); n != 1 {
		t.Errorf("%d kefu sends for one push and its retries, want 1", n)
	}
	if !strings.Contains(b.stderr.String(), "answers kept for WeChat's retries") {
		t.Error("the restarted bot did not say it kept answers")
	}
}

// TestCostlyRulesBounded: `check` refuses an expression that could hold
// a push for tens of seconds, or whose cost grows with what the push holds
// (repeat, a range sized by it, its text looped over inside a loop over
// it), and a bot running the costliest kind it allows answers a 100 KB
// push with the rule's reply, not the deadline's "success". The bot's own
// reply deadline is the bound: the test measures no time itself (a busy
// machine made a wall-clock bound fail at 11 s for a 1-s push).
func TestCostlyRulesBounded(t *testing.T) {
	dir := t.TempDir()
	costly := filepath.Join(dir, "costly.yaml")
	os.WriteFile(costly, []byte(`version: 1
rules:
  - name: forever
    on: text
    when: 'let r = 1..600; all(r, {all(r, {all(r, {# > 0})})})'
    actions:
      - reply: {text: "never"}
  - name: repeats
    on: text
    when: 'len(repeat(event.content, 1000000)) > 0'
    actions:
      - reply: {text: "never"}
  - name: ranges
    on: text
    when: 'toJSON(map(1..int(event.content), {#})) != ""'
    actions:
      - reply: {text: "never"}
  - name: squares
    on: text
    when: 'all(split(event.content, ""), {all(split(event.content, ""), {# != "x"})})'
    actions:
      - reply: {text: "never"}
`), 0o644)
	out, errOut, code := wxbot(t, nil, "check", costly)
	for _, want := range []struct{ rule, says string }{
		{"forever", "too costly for a push: up to about 8.65e+08 evaluation steps (loops over collections nest)"},
		{"repeats", "repeat(event.content, 1000000) repeats by what the push holds"},
		{"ranges", "the range 1..int(event.content) is sized at run time"},
		{"squares", "evaluation steps for a push of 100 KB of text, over the limit of 5000000 (--rules-max-cost), and it grows with the push"},
	} {
		said := false
		for _, line := range strings.Split(out+errOut, "\n") {
			said = said || strings.Contains(line, `rule "`+want.rule+`": when: `) && strings.Contains(line, want.says)
		}
		if code != 1 || !said {
			t.Errorf("check: exit %d, and does not say of %s %q:\n%s%s", code, want.rule, want.says, out, errOut)
		}
	}

	allowed := filepath.Join(dir, "allowed.yaml")
	os.WriteFile(allowed, []byte(`version: 1
rules:
  - name: heavy
    on: text
    when: 'len(join(map(split(event.content, ","), {trim(#) + "、" + upper(#)}), "")) > 0'
    actions:
      - reply: {text: "done"}
`), 0o644)
	env := []string{"WXBOT_TOKEN=" + e2eToken}
	b := startBot(t, env, "--rules", allowed)
	out, errOut, code = wxbot(t, env, "simulate", "--url", b.url, "text", strings.Repeat(",", 100_000))
	if code != 0 || !strings.Contains(out, "content: done") {
		t.Errorf("the costliest allowed rule, a 100 KB push: exit %d\n%.2000s%.2000s", code, out, errOut)
	}
}

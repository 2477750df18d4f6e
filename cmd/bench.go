package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
)

func init() {
	register(&command{name: "bench", args: "[--url URL] [--baseline]",
		summary: "load generator: signed pushes at a concurrency for a duration; --baseline compares with a bare net/http handler",
		run:     runBench})
	register(&command{name: "bench-baseline", summary: "(used by bench) a bare net/http handler that reads the body and writes a fixed reply",
		run: runBaseline, hidden: true})
}

type benchFlags struct {
	url         string
	token       string
	aesKey      string
	appID       string
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	rules       int
	rulesFile   string
	baseline    bool
	mix         string
	fill        string
	cpuProfile  string
	serverPID   int
}

func runBench(ctx context.Context, env *cmdEnv, args []string) error {
	f, kinds, cipher, err := parseBenchFlags(env, args)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	mode := "plaintext"
	if cipher != nil {
		mode = "safe mode"
	}
	fmt.Fprintf(env.stdout, "wxbot bench: %d in flight, %v per target (after %v warm-up), %s, mix %s\n",
		f.concurrency, f.duration, f.warmup, mode, f.mix)

	target := f.url
	pid := f.serverPID
	admin := ""
	if target == "" {
		srv, err := startBenchBot(ctx, self, f)
		if err != nil {
			return err
		}
		defer srv.stop()
		target, pid, admin = srv.url, srv.pid, srv.admin
		printBenchBot(env.stdout, srv, f)
	} else if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return usagef("--url %q: want an http:// or https:// URL", target)
	}
	results := []benchResult{}
	profiled := make(chan error, 1)
	if f.cpuProfile != "" {
		go func() { profiled <- profileBot(ctx, admin, f.cpuProfile, f.warmup, f.duration) }()
	}
	r, err := measure(ctx, "wxbot", target, pid, kinds, cipher, f, f.rulesFile == "")
	if err != nil {
		return err
	}
	if f.cpuProfile != "" {
		if err := <-profiled; err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "CPU profile of wxbot serve written to %s\n", f.cpuProfile)
	}
	results = append(results, r)
	if f.baseline {
		r, err := measureBaseline(ctx, self, kinds, cipher, f)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	printBench(env.stdout, results)
	return nil
}

// register declares bench's flags; parseBenchFlags checks them together
// once all are read, as some only make sense with others.
func (f *benchFlags) register(fs *flagSet) {
	fs.StringVar(&f.url, "url", "", "the bot's callback URL; empty starts wxbot serve on loopback for the run")
	fs.StringVar(&f.token, "token", "bench-token", "Token the pushes are signed with")
	fs.StringVar(&f.aesKey, "aes-key", "", "EncodingAESKey: send safe-mode pushes (with a self-started bot, any 43-character key)")
	fs.StringVar(&f.appID, "appid", "wxbench000000000", "AppID for safe mode")
	fs.IntVar(&f.concurrency, "concurrency", 32, "requests in flight")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long each target is measured (at most 5m)")
	fs.DurationVar(&f.warmup, "warmup", time.Second, "load before measuring")
	fs.IntVar(&f.rules, "rules", 1, "keyword rules in the self-started bot's rules file (1 to 100000)")
	fs.StringVar(&f.rulesFile, "rules-file", "", "run the self-started bot on this rules file instead (replies are then not checked)")
	fs.BoolVar(&f.baseline, "baseline", false, "also measure a bare net/http handler and print the ratios")
	fs.StringVar(&f.mix, "mix", "text,click,subscribe", "push kinds to cycle through: text (an exact keyword), contains, prefix, regex, click, subscribe")
	fs.StringVar(&f.fill, "fill", "exact", "gate of the --rules filler rules, placed before the rules the pushes hit: "+strings.Join(fillKinds, ", ")+" (mixed cycles through them all)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the self-started bot over the measured window to this file (cmd/wxbot/pgo.sh makes default.pgo of it)")
	fs.IntVar(&f.serverPID, "server-pid", 0, "PID of the bot at --url, to read its CPU time (Linux)")
}

// parseBenchFlags reads and checks bench's flags, and returns the push
// kinds of --mix and the cipher of --aes-key: a mistake is told before
// any bot is started.
func parseBenchFlags(env *cmdEnv, args []string) (*benchFlags, []string, *wechat.Cipher, error) {
	var f benchFlags
	fs := newFlagSet(env, commands["bench"])
	f.register(fs)
	pos, err := fs.parse(args)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(pos) > 0 {
		return nil, nil, nil, usagef("bench takes no arguments")
	}
	switch {
	case f.concurrency < 1 || f.concurrency > 4096:
		return nil, nil, nil, usagef("--concurrency %d: want 1 to 4096", f.concurrency)
	case f.duration <= 0 || f.duration > 5*time.Minute:
		return nil, nil, nil, usagef("--duration %v: want more than 0 and at most 5m", f.duration)
	case f.rules < 1 || f.rules > 100000:
		return nil, nil, nil, usagef("--rules %d: want 1 to 100000", f.rules)
	}
	kinds := strings.Split(f.mix, ",")
	for _, k := range kinds {
		if _, ok := benchPushes[k]; !ok {
			return nil, nil, nil, usagef("--mix: unknown kind %q (text, contains, prefix, regex, click, subscribe)", k)
		}
	}
	if !slices.Contains(fillKinds, f.fill) {
		return nil, nil, nil, usagef("--fill %q: want one of %s", f.fill, strings.Join(fillKinds, ", "))
	}
	if (f.rulesFile != "" || f.cpuProfile != "") && f.url != "" {
		return nil, nil, nil, usagef("--rules-file and --cpuprofile are for the bot bench starts; drop --url")
	}
	var cipher *wechat.Cipher
	if f.aesKey != "" {
		if cipher, err = wechat.NewCipher(f.aesKey, f.appID); err != nil {
			return nil, nil, nil, usagef("--aes-key: %v", err)
		}
	}
	return &f, kinds, cipher, nil
}

// printBenchBot says what the bot bench started serves, and how long it
// took to load it: the numbers that follow are for these rules.
func printBenchBot(w io.Writer, srv *benchServer, f *benchFlags) {
	if f.rulesFile != "" {
		fmt.Fprintf(w, "started wxbot serve (pid %d) on %s in %v\n", srv.pid, f.rulesFile, srv.ready.Round(time.Millisecond))
		return
	}
	fmt.Fprintf(w, "started wxbot serve (pid %d) in %v: %d rule(s): %d %s fillers, then exact, contains, prefix and regex keywords, a click and a subscribe rule\n",
		srv.pid, srv.ready.Round(time.Millisecond), max(f.rules, 6), max(f.rules-6, 0), f.fill)
}

// measureBaseline measures a bare net/http handler under the same load,
// for the ratios; it stops the handler's process before the report.
func measureBaseline(ctx context.Context, self string, kinds []string, cipher *wechat.Cipher, f *benchFlags) (benchResult, error) {
	srv, err := startBaseline(ctx, self)
	if err != nil {
		return benchResult{}, err
	}
	r, err := measure(ctx, "baseline", srv.url, srv.pid, kinds, cipher, f, false)
	srv.stop()
	return r, err
}

// benchServer is a server process started for the run.
type benchServer struct {
	url   string
	admin string // its admin listener, when a profile is asked for
	pid   int
	ready time.Duration // from the start of the process until it answered
	cmd   *exec.Cmd
	dir   string
	logs  *bytes.Buffer
}

func (s *benchServer) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// benchPushes are the push kinds of --mix: the text they send, and what
// the bench's rules answer.
var benchPushes = map[string]struct{ content, reply string }{
	"text":      {"价格", "价目表: https://example.com/p"},
	"contains":  {"这个多少钱啊", "价目表在此"},
	"prefix":    {"查询订单状态", "正在查询"},
	"regex":     {"123456", "订单号已收到"},
	"click":     {"", "菜单价目表"},
	"subscribe": {"", "欢迎关注"},
}

// fillKinds are the gates of --fill: exact keywords, click keys, contains
// and prefix literals (the prefix behind a condition), regexes, conditions
// on the content, dialog steps (user.step), and all of them in turn.
var fillKinds = []string{"exact", "key", "contains", "prefix", "regex", "content", "step", "mixed"}

// benchRules writes n rules: n-6 fillers of the kind given, which no push
// of the bench matches, then the six the pushes hit. The fillers come first,
// so that a matcher that visits rules in order pays for every one.
func benchRules(n int, fill string) string {
	var b strings.Builder
	b.WriteString("version: 1\nrules:\n")
	for i := 6; i < n; i++ {
		kind := fill
		if fill == "mixed" {
			kind = fillKinds[i%(len(fillKinds)-1)]
		}
		if i == 6 && (fill == "step" || fill == "mixed") {
			// Dialog steps need a rule that sets the step, as a real
			// dialog has (without one, every step rule is a warning).
			b.WriteString("  - {name: fill6, on: click, key: STEP, actions: [{state: {set: {step: \"${event.content}\"}}}]}\n")
			continue
		}
		fmt.Fprintf(&b, "  - {name: fill%d, %s, actions: [{reply: {text: \"回复%d\"}}]}\n", i, fmt.Sprintf(fillGates[kind], i), i)
	}
	b.WriteString("  - {name: price, on: text, text: 价格, actions: [{reply: {text: \"价目表: https://example.com/p\"}}]}\n")
	b.WriteString("  - {name: menu, on: click, key: MENU_PRICE, actions: [{reply: {text: \"菜单价目表\"}}]}\n")
	b.WriteString("  - {name: welcome, on: subscribe, actions: [{reply: {text: \"欢迎关注\"}}]}\n")
	b.WriteString("  - {name: howmuch, on: text, text: {contains: [多少钱]}, actions: [{reply: {text: \"价目表在此\"}}]}\n")
	b.WriteString("  - {name: query, on: text, text: {prefix: [查询]}, actions: [{reply: {text: \"正在查询\"}}]}\n")
	b.WriteString("  - {name: order, on: text, text: {regex: ['^\\d{6}$']}, actions: [{reply: {text: \"订单号已收到\"}}]}\n")
	return b.String()
}

// fillGates are the on and gate of each kind of filler rule, given its
// number.
var fillGates = map[string]string{
	"exact":    `on: text, text: {exact: ["关键词%[1]d", "keyword%[1]d"]}`,
	"key":      `on: click, key: MENU_%d`,
	"contains": `on: text, text: {contains: [商品%d号]}`,
	"prefix":   `on: text, text: {prefix: [订单%d]}, when: 'event.from startsWith "oVIP"'`,
	"regex":    `on: text, text: {regex: ['^查询%d-\d+$']}`,
	"content":  `on: text, when: 'event.content == "c%d" && len(event.from) > 0'`,
	"step":     `on: text, when: 'user.step == "s%d"'`,
}

func startBenchBot(ctx context.Context, self string, f *benchFlags) (*benchServer, error) {
	dir, err := os.MkdirTemp("", "wxbot-bench")
	if err != nil {
		return nil, err
	}
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(benchRules(f.rules, f.fill)), 0o644); err != nil {
		return nil, err
	}
	if f.rulesFile != "" {
		if rules, err = filepath.Abs(f.rulesFile); err != nil {
			return nil, err
		}
	}
	addr, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	admin := ""
	if f.cpuProfile != "" {
		if admin, err = freeLoopback(); err != nil {
			return nil, err
		}
	}
	args := []string{"serve", "--listen", addr, "--admin-listen", admin, "--rules", rules,
		"--store", "bolt:" + filepath.Join(dir, "wxbot.db"), "--log-level", "warn", "--log-format", "json"}
	// An admin token of the operator's environment would guard the pprof
	// the bench reads; its own bot's admin listener is on loopback and needs
	// none.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "WXBOT_ADMIN_TOKEN=") || strings.HasPrefix(kv, "WXBOT_ADMIN_TOKEN_FILE=")
	})
	env = append(env, "WXBOT_TOKEN="+f.token)
	if f.aesKey != "" {
		env = append(env, "WXBOT_AES_KEY="+f.aesKey, "WXBOT_APPID="+f.appID)
	}
	s := &benchServer{url: "http://" + addr + "/wechat", admin: admin, dir: dir, logs: new(bytes.Buffer)}
	if err := startServer(ctx, s, self, args, env); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// profileBot fetches the bot's CPU profile over the measured window (after
// the warm-up) from its admin listener's pprof, into file.
func profileBot(ctx context.Context, admin, file string, warmup, d time.Duration) error {
	if admin == "" {
		return errors.New("cpuprofile: the bot has no admin listener")
	}
	select {
	case <-time.After(warmup):
	case <-ctx.Done():
		return ctx.Err()
	}
	secs := max(int(d/time.Second), 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cpuprofile: fetching the profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cpuprofile: the bot's pprof answered %s", resp.Status)
	}
	out, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("cpuprofile: %w", err)
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		out.Close()
		return fmt.Errorf("cpuprofile: writing %s: %w", file, err)
	}
	return out.Close()
}

func startBaseline(ctx context.Context, self string) (*benchServer, error) {
	addr, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	s := &benchServer{url: "http://" + addr + "/wechat", logs: new(bytes.Buffer)}
	return s, startServer(ctx, s, self, []string{"bench-baseline", "--listen", addr}, os.Environ())
}

// startServer starts a server process and waits until it accepts pushes.
func startServer(ctx context.Context, s *benchServer, self string, args, env []string) error {
	s.cmd = exec.Command(self, args...)
	s.cmd.Env = env
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", args[0], err)
	}
	s.pid = s.cmd.Process.Pid
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	for {
		resp, err := http.Get(s.url) // an unsigned GET: any answer means it listens
		if err == nil {
			resp.Body.Close()
			s.ready = time.Since(start) // loading the rules, mostly
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return fmt.Errorf("%s did not start: %v\n%s", args[0], err, s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runBaseline serves the bare handler the bench compares with.
func runBaseline(ctx context.Context, env *cmdEnv, args []string) error {
	var listen string
	fs := newFlagSet(env, commands["bench-baseline"])
	fs.StringVar(&listen, "listen", "127.0.0.1:0", "listener")
	if _, err := fs.parse(args); err != nil {
		return err
	}
	reply := []byte("<xml><ToUserName><![CDATA[oUser]]></ToUserName><FromUserName><![CDATA[gh_bench]]></FromUserName>" +
		"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[价目表]]></Content></xml>")
	srv := &http.Server{Addr: listen, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.Write(reply)
	})}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type benchResult struct {
	name      string
	requests  int64
	errors    int64
	badReply  int64
	firstBad  string // the first wrong reply: which sample, what was expected, what came back
	elapsed   time.Duration
	latencies []time.Duration
	cpu       time.Duration // server CPU during the measured window; 0 if unknown
	peakRSS   int64         // bytes, the largest RSS sampled under load; 0 if unknown
}

// benchUsers is how many followers the pushes come from: a realistic
// number of kefu windows for the bot to track.
const benchUsers = 50_000

// benchStart anchors CreateTime so that (sender, CreateTime) never repeats.
var benchStart = time.Now().Unix()

// benchPush builds one signed push that is new to the bot's retry dedup: a
// unique MsgId for messages, a unique (sender, CreateTime) for events.
func benchPush(target, token string, cipher *wechat.Cipher, kind string, id, runBase int64) (*http.Request, error) {
	m := &wechat.Message{ToUserName: "gh_bench", FromUserName: "oBenchUser" + strconv.FormatInt(id%benchUsers, 10),
		CreateTime: benchStart + id/benchUsers}
	switch kind {
	case "text", "contains", "prefix", "regex":
		m.MsgType, m.Content, m.MsgID = "text", benchPushes[kind].content, strconv.FormatInt(runBase+id, 10)
	case "click":
		m.MsgType, m.Event, m.EventKey = "event", "CLICK", "MENU_PRICE"
	default:
		m.MsgType, m.Event = "event", "subscribe"
	}
	return SignedPush(context.Background(), target, token, cipher, m)
}

// replyProblem checks a sampled reply against what the bench's rules
// answer; it says what was wrong, or "" when the reply is right.
func replyProblem(body []byte, kind, token string, cipher *wechat.Cipher) string {
	if cipher != nil {
		if !bytes.Contains(body, []byte("<Encrypt>")) {
			return fmt.Sprintf("want an encrypted reply, got %q", truncate(string(body), 80))
		}
		e, err := wechat.ParseReplyEnvelope(body)
		if err != nil {
			return "the encrypted reply's envelope: " + err.Error()
		}
		if !wechat.VerifyMsgSignature(token, e.TimeStamp, e.Nonce, e.Encrypt, e.MsgSignature) {
			return "the reply's MsgSignature does not match"
		}
		if body, err = cipher.Decrypt(e.Encrypt); err != nil {
			return "decrypting the reply: " + err.Error()
		}
	}
	want := benchPushes[kind].reply
	_, _, _, r, err := wechat.ParseReply(body)
	if err != nil {
		return fmt.Sprintf("want a text reply %q, got %q (%v)", want, truncate(string(body), 80), err)
	}
	if r.Type != wechat.ReplyText || r.Content != want {
		return fmt.Sprintf("want a text reply %q, got a %s reply %q", want, r.Type, truncate(r.Content, 80))
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// processCPU reads a process's user+system CPU time from /proc (Linux).
func processCPU(pid int) (time.Duration, bool) {
	if pid <= 0 {
		return 0, false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name may hold spaces; fields start after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 13 {
		return 0, false
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, true
}

// processRSS reads VmRSS (the resident set now) from /proc (Linux).
func processRSS(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func pct(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	return lat[min(len(lat)-1, int(float64(len(lat))*p))]
}

func printBench(w io.Writer, rs []benchResult) {
	fmt.Fprintf(w, "%-9s %9s %9s %9s %9s %7s %7s %12s %9s\n", "target", "req/s", "p50", "p90", "p99", "errors", "bad", "CPU/request", "RSS (max)")
	for i := range rs {
		r := &rs[i]
		slices.Sort(r.latencies)
		cpu, rss := "n/a", "n/a"
		if r.cpu > 0 {
			cpu = (r.cpu / time.Duration(r.requests)).Round(100 * time.Nanosecond).String()
		}
		if r.peakRSS > 0 {
			rss = fmt.Sprintf("%.1f MiB", float64(r.peakRSS)/(1<<20))
		}
		fmt.Fprintf(w, "%-9s %9.0f %9s %9s %9s %7d %7d %12s %9s\n", r.name, float64(r.requests)/r.elapsed.Seconds(),
			pct(r.latencies, .5).Round(time.Microsecond), pct(r.latencies, .9).Round(time.Microsecond),
			pct(r.latencies, .99).Round(time.Microsecond), r.errors, r.badReply, cpu, rss)
	}
	for _, r := range rs {
		if r.badReply > 0 {
			fmt.Fprintf(w, "bad (%s): %d sampled replies (1 in 64) were not what the bench's rules answer; first: %s\n",
				r.name, r.badReply, r.firstBad)
		}
	}
	if len(rs) == 2 {
		bot, base := rs[0], rs[1]
		thr := (float64(bot.requests) / bot.elapsed.Seconds()) / (float64(base.requests) / base.elapsed.Seconds())
		fmt.Fprintf(w, "ratio: throughput %.2f of the bare handler", thr)
		if bot.cpu > 0 && base.cpu > 0 {
			c := (float64(bot.cpu) / float64(bot.requests)) / (float64(base.cpu) / float64(base.requests))
			fmt.Fprintf(w, ", server CPU per request %.2fx", c)
		}
		fmt.Fprintln(w)
	}
}

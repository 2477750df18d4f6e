package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/wxbot/wxbot/actions"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/callback"
	"github.com/wxbot/wxbot/engine/dedup"
	"github.com/wxbot/wxbot/engine/metrics"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

func init() {
	register(&command{name: "serve", summary: "run the bot: the WeChat callback and the admin endpoints", run: runServe})
}

// serveFlags are the settings of `wxbot serve`.
type serveFlags struct {
	proto             protoFlags
	log               logFlags
	previousToken     string
	previousAESKey    string
	requireEncryption bool
	rules             string
	listen, path      string
	adminListen       string
	timezone          string
	replyDeadline     time.Duration
	maxSkew           time.Duration
	shutdownTimeout   time.Duration
	secret            string
	apiBase           string
	tokenAPI          string
	store             string
	spool             string
	rulesMaxBytes     int64
	rulesMaxCount     int
	rulesMaxCost      int
	rulesPoll         time.Duration
	retryMemory       int
	replayMemory      int
	pay               payFlags
	ai                aiFlags
	console           consoleFlags // console.go
}

func (s *serveFlags) register(fs *flagSet) {
	s.proto.register(fs)
	s.log.register(fs)
	fs.StringVar(&s.previousToken, "previous-token", "", "previous Token, still accepted while the console switches to a new one")
	fs.StringVar(&s.previousAESKey, "previous-aes-key", "", "previous EncodingAESKey, still accepted while the console switches")
	fs.BoolVar(&s.requireEncryption, "require-encryption", false, "refuse plaintext pushes")
	fs.StringVar(&s.rules, "rules", "rules.yaml", "the rules: a file, or a directory whose *.yaml files are merged in name order")
	fs.StringVar(&s.listen, "listen", ":8080", "callback listener address")
	fs.StringVar(&s.path, "path", "/wechat", "callback path (GET verification and POST pushes)")
	fs.StringVar(&s.adminListen, "admin-listen", "127.0.0.1:9090", "admin listener (health, readiness); empty disables")
	fs.StringVar(&s.timezone, "timezone", "Asia/Shanghai", "time zone of now(), hour(), weekday() and event.time")
	fs.DurationVar(&s.replyDeadline, "reply-deadline", 4*time.Second, "answer \"success\" when no passive reply is ready by then (WeChat gives up at 5s)")
	fs.DurationVar(&s.maxSkew, "max-skew", 5*time.Minute, "reject pushes whose timestamp is further off (replay guard); 0 disables")
	fs.DurationVar(&s.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long SIGTERM waits for pushes and actions in flight")
	fs.StringVar(&s.secret, "secret", "", "AppSecret; with --appid, enables API calls (kefu sends)")
	fs.StringVar(&s.apiBase, "api-base", wechat.DefaultAPIBase, "WeChat API root (tests point it at a fake)")
	fs.StringVar(&s.tokenAPI, "token-api", wechat.TokenAPIStable, "stable (/cgi-bin/stable_token, safe with many replicas) or classic (/cgi-bin/token)")
	fs.StringVar(&s.store, "store", "bolt:wxbot.db", "state (kefu outbox, kefu windows, cooldowns, payment claims): bolt:PATH embedded, or redis://HOST:PORT/DB shared by replicas, which then also share retries' answers and the access_token")
	fs.Int64Var(&s.rulesMaxBytes, "rules-max-bytes", rules.DefaultLimits.MaxBytes, "refuse rules files over this many bytes in all")
	fs.IntVar(&s.rulesMaxCount, "rules-max-count", rules.DefaultLimits.MaxRules, "refuse rules with more rules than this")
	fs.DurationVar(&s.rulesPoll, "rules-poll", 30*time.Second, "how often the rules' bytes are compared with the running rules', behind the file watcher; 0 disables")
	fs.IntVar(&s.rulesMaxCost, "rules-max-cost", rules.DefaultLimits.MaxCost, "refuse an expression whose worst case takes more evaluation steps than this")
	fs.StringVar(&s.spool, "spool", "wxbot-spool.db", "with a redis:// store: the local bbolt file where sends accepted while Redis fails wait for it")
	fs.IntVar(&s.retryMemory, "retry-memory", dedup.DefaultBytes, "bytes of memory for the answers kept for WeChat's retries (past it, kept for less than 30s)")
	fs.IntVar(&s.replayMemory, "replay-memory", store.DefaultReplayMemory, "bytes of memory for the signed query strings kept against replays on bolt: (past it, for less than --max-skew)")
	s.pay.register(fs)
	s.ai.register(fs)
	s.console.register(fs)
}

func runServe(ctx context.Context, env *cmdEnv, args []string) error {
	s, err := parseServeFlags(env, args)
	if err != nil {
		return err
	}
	b, err := s.build(env)
	if err != nil {
		return err
	}
	defer b.close()
	return b.run(ctx)
}

// parseServeFlags reads and checks the flags; nothing is opened yet.
func parseServeFlags(env *cmdEnv, args []string) (*serveFlags, error) {
	s := new(serveFlags)
	fs := newFlagSet(env, commands["serve"])
	s.register(fs)
	pos, err := fs.parse(args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, usagef("serve takes no arguments (got %q); the rules come from --rules", pos)
	}
	if err := s.proto.check(); err != nil {
		return nil, err
	}
	if s.replyDeadline <= 0 || s.replyDeadline >= 5*time.Second {
		return nil, usagef("--reply-deadline %v: want more than 0 and less than 5s (WeChat drops the connection at 5s)", s.replyDeadline)
	}
	if !strings.HasPrefix(s.path, "/") {
		return nil, usagef("--path %q: must start with /", s.path)
	}
	if s.previousAESKey != "" && s.proto.appID == "" {
		return nil, usagef("--previous-aes-key needs --appid")
	}
	if s.requireEncryption && s.proto.aesKey == "" {
		return nil, usagef("--require-encryption needs --aes-key")
	}
	if s.rulesMaxBytes <= 0 || s.rulesMaxCount <= 0 || s.rulesMaxCost <= 0 {
		return nil, usagef("--rules-max-bytes, --rules-max-count and --rules-max-cost must be positive")
	}
	if err := s.console.check(); err != nil {
		return nil, err
	}
	if s.retryMemory < 64<<10 || s.replayMemory < 64<<10 {
		return nil, usagef("--retry-memory %d, --replay-memory %d: want at least 65536 bytes each", s.retryMemory, s.replayMemory)
	}
	rules.DefaultLimits = rules.Limits{MaxBytes: s.rulesMaxBytes, MaxRules: s.rulesMaxCount, MaxCost: s.rulesMaxCost}
	return s, nil
}

// server is a built `wxbot serve`: everything opened, nothing listening
// yet.
type server struct {
	s        *serveFlags
	log      *slog.Logger
	st       store.Store
	m        *metrics.Metrics
	eng      *engine.Engine
	reloader *rules.Reloader
	callback callback.Config
	pay      *callback.PayHandler // nil without WeChat Pay
	outbox   *outbox.Outbox

	stopOutbox context.CancelFunc
	outboxDone chan struct{}
	backend    *store.Backend
	closed     bool
}

// build opens the store, loads the rules and wires the engine, the outbox
// and the handlers. On error, whatever it opened is closed.
func (s *serveFlags) build(env *cmdEnv) (_ *server, err error) {
	b := &server{s: s}
	if b.log, err = newLogger(env.stderr, s.log); err != nil {
		return nil, err
	}
	loc, err := loadLocation(s.timezone)
	if err != nil {
		return nil, err
	}
	if b.callback, err = s.callbackConfig(b.log); err != nil {
		return nil, err
	}
	payVerifier, err := s.pay.verifier()
	if err != nil {
		return nil, err
	}
	if payVerifier != nil && s.path == callback.PayNotifyPath {
		return nil, usagef("--path %s: that is the payment notify path; choose another", s.path)
	}
	loaded, err := loadRulesForServe(env, s.rules, loc, b.log)
	if err != nil {
		return nil, err
	}
	if err := b.openStore(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	b.wireMetrics()
	b.callback.Dedup, b.callback.Replays = b.backend.Dedup, b.backend.Replays
	var tokens wechat.TokenCache
	if b.backend.Tokens != nil { // replicas share the access_token
		tokens = b.backend.Tokens(s.proto.appID)
	} else if s.tokenAPI == wechat.TokenAPIClassic {
		b.log.Info("--token-api classic keeps the token in this process: run one replica, or share a redis:// store")
	}
	ob, api, err := s.outbox(b.st, tokens, b.m, b.log)
	if err != nil {
		return nil, err
	}
	if !api && (usesAction(loaded.Set, "kefu") || usesAction(loaded.Set, "template")) {
		b.log.Warn("the rules send kefu or template messages but --appid and --secret are not both set: those sends will fail")
	}
	b.outbox = ob
	b.startOutbox(ob)
	opts := engine.Options{Location: loc, Logger: b.log, State: b.st, Outbox: ob, Observer: b.m}
	if err := b.wireAI(&opts, loaded.Set, api); err != nil {
		return nil, err
	}
	b.eng = engine.New(opts)
	b.eng.SetRules(loaded.Set)
	b.log.Info("rules loaded", "source", s.rules, "rules", len(loaded.Set.Rules), "hash", loaded.Set.Hash)
	b.reloader = rules.NewReloader(s.rules, loc, b.eng, b.log)
	b.reloader.Poll = s.rulesPoll
	b.reloader.Initial(loaded)
	debug.FreeOSMemory() // the start-up parse's garbage, see Reloader.Reload
	if payVerifier != nil {
		b.pay = callback.NewPayHandler(b.eng, callback.PayConfig{
			Verifier: payVerifier, Claims: b.st, Wait: s.replyDeadline, Logger: b.log, Hints: payHints})
		b.log.Info("payment notifications enabled", "path", callback.PayNotifyPath, "serials", serials(payVerifier))
	}
	return b, nil
}

// callbackHints name the flags to check when the callback refuses a push.
var callbackHints = map[string]string{
	"bad_signature":     "check that --token is the console's Token (during a change, set --previous-token)",
	"decrypt":           "check --aes-key and --appid against the console (during a key change, set --previous-aes-key)",
	"plaintext_refused": "--require-encryption is set: set the console to safe mode",
}

// payHints name the flags to check when a payment notification is refused.
var payHints = map[int]string{
	http.StatusUnauthorized:        "signature not verified: check --pay-platform-cert (WeChat Pay may have rotated its certificate or public key) or the sender is not WeChat Pay",
	http.StatusInternalServerError: "verified but not decryptable: --pay-apiv3-key is not the APIv3 key set in the merchant console; WeChat Pay redelivers for 24 h",
}

// callbackConfig is the WeChat callback's configuration from the flags.
func (s *serveFlags) callbackConfig(log *slog.Logger) (callback.Config, error) {
	cfg := callback.Config{
		Token: s.proto.token, PreviousToken: s.previousToken,
		RequireEncryption: s.requireEncryption, MaxSkew: s.maxSkew,
		ReplyDeadline: s.replyDeadline, Logger: log, Hints: callbackHints,
	}
	var err error
	if s.proto.aesKey != "" {
		if cfg.Cipher, err = wechat.NewCipher(s.proto.aesKey, s.proto.appID); err != nil {
			return cfg, usagef("--aes-key: %v", err)
		}
	}
	if s.previousAESKey != "" {
		if cfg.PreviousCipher, err = wechat.NewCipher(s.previousAESKey, s.proto.appID); err != nil {
			return cfg, usagef("--previous-aes-key: %v", err)
		}
	}
	return cfg, nil
}

// loadRulesForServe loads the rules the bot starts on, through the gate a
// reload passes: a broken file or a failing test of its own stops the
// start, with the diagnostics or the failing tests and their lines.
func loadRulesForServe(env *cmdEnv, path string, loc *time.Location, log *slog.Logger) (*rules.Loaded, error) {
	loaded, err := rules.Load(path)
	if err != nil {
		var re *rules.Error
		if errors.As(err, &re) {
			fmt.Fprintln(env.stderr, re.Diags.String())
			return nil, fmt.Errorf("%s: %d error(s); the bot does not start on a broken rules file (run `wxbot check %s`)", path, len(re.Diags.Errors()), path)
		}
		return nil, err
	}
	if err := rules.TestsPass(context.Background(), loaded, loc); err != nil {
		fmt.Fprintln(env.stderr, err)
		return nil, fmt.Errorf("%s: the bot does not start on rules whose own tests fail, as a reload would refuse them (run `wxbot test %s`)", path, path)
	}
	for _, d := range loaded.Diags {
		log.Warn("rules", "warning", d.String())
	}
	return loaded, nil
}

// openStore opens --store with everything the bot needs from it: state,
// queue, retry answers, replay window, shared token cache.
func (b *server) openStore() error {
	var err error
	b.backend, err = store.Open(b.s.store, store.Options{
		Logger: b.log, RetryMemory: b.s.retryMemory, ReplayMemory: b.s.replayMemory, Spool: b.s.spool,
		HoldLate: !b.s.ai.kefu,
		OnDegraded: func(degraded bool) {
			if b.m != nil {
				b.m.StoreDegraded(degraded)
			}
		},
		OnDedupFallback: func(error) {
			if b.m != nil {
				b.m.DedupFallback()
			}
		},
	})
	if err != nil {
		return fmt.Errorf("--store: %w", err)
	}
	b.st = b.backend.Store
	return nil
}

// wireMetrics builds the metrics, which read the store and the rules.
func (b *server) wireMetrics() {
	version, _ := buildInfo()
	b.m = metrics.New(version, func() metrics.ReloadStatus {
		rs := b.reloader.Status()
		return metrics.ReloadStatus{OK: rs.LastReloadOK, LastOK: rs.LoadedAt, Hash: rs.Hash,
			Rules: len(b.eng.Rules().Rules), Successes: rs.Reloads, Failures: rs.ReloadFailures}
	}, b.st.Pending)
	b.m.CountUsers(b.st.CountUsers)
}

// startOutbox delivers sends until close; sends from before a restart go
// first.
func (b *server) startOutbox(ob *outbox.Outbox) {
	var octx context.Context
	octx, b.stopOutbox = context.WithCancel(context.Background())
	b.outboxDone = make(chan struct{})
	go func() { ob.Run(octx); close(b.outboxDone) }()
	if n, err := b.st.Pending(context.Background()); err == nil && n > 0 {
		b.log.Info("outbox has sends from before the restart", "pending", n)
	}
}

// close stops the outbox (deliveries in flight finish; the rest stay in
// the store for the next start) and closes the store.
func (b *server) close() {
	if b.closed {
		return
	}
	b.closed = true
	if b.stopOutbox != nil {
		b.stopOutbox()
		<-b.outboxDone
		b.stopOutbox = nil
		if n, err := b.st.Pending(context.Background()); err == nil && n > 0 {
			b.log.Info("outbox sends kept for the next start", "pending", n)
		}
	}
	if b.backend != nil {
		b.backend.Close()
	}
}

// run serves until ctx is done or a listener fails, then drains: the
// listeners, the engine's actions, and (in close) the outbox.
func (b *server) run(ctx context.Context) error {
	rctx, stopReloads := context.WithCancel(context.Background())
	defer stopReloads()
	go b.reloader.Run(rctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			b.reloader.Trigger("SIGHUP")
		}
	}()
	servers, errc, err := b.listen()
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		b.log.Info("shutting down", "timeout", b.s.shutdownTimeout)
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			b.log.Error("listener failed", "err", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), b.s.shutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			b.log.Warn("listener did not drain in time", "err", err)
		}
	}
	if err := b.eng.Close(sctx); err != nil {
		b.log.Warn("actions still running at shutdown were cancelled", "err", err)
	}
	b.close()
	b.log.Info("stopped")
	return nil
}

// listen starts the callback listener and, unless disabled, the admin one.
func (b *server) listen() ([]*http.Server, <-chan error, error) {
	mux := http.NewServeMux()
	mux.Handle(b.s.path, callback.NewHandler(b.eng, b.callback))
	if b.pay != nil {
		mux.Handle(callback.PayNotifyPath, b.pay)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(b.log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", b.s.listen)
	if err != nil {
		return nil, nil, fmt.Errorf("--listen %s: %w", b.s.listen, err)
	}
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(ln) }()
	b.log.Info("listening", "addr", ln.Addr().String(), "path", b.s.path, "encryption", b.callback.Cipher != nil)
	if b.callback.Cipher != nil && !b.callback.RequireEncryption {
		b.log.Warn("plaintext pushes are still accepted beside encrypted ones (the console's compatible mode): once it is in safe mode, set --require-encryption, so that a body cannot be forged under a signature seen elsewhere")
	}
	servers := []*http.Server{srv}
	console, err := b.listenConsole(errc) // console.go; nil when off
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	if console != nil {
		servers = append(servers, console)
	}
	if b.s.adminListen == "" {
		return servers, errc, nil
	}
	aln, err := net.Listen("tcp", b.s.adminListen)
	if err != nil {
		for _, s := range servers {
			s.Close()
		}
		return nil, nil, fmt.Errorf("--admin-listen %s: %w", b.s.adminListen, err)
	}
	admin := &http.Server{Handler: adminMux(b.eng, b.reloader, b.st, b.m), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute} // profiles take 30 s
	go func() { errc <- admin.Serve(aln) }()
	b.log.Info("admin listening", "addr", aln.Addr().String())
	return append(servers, admin), errc, nil
}

// outbox builds the outbox of asynchronous sends: webhook retries always,
// kefu and template messages when API credentials are set (api reports
// whether they are).
func (s *serveFlags) outbox(st store.Store, tokens wechat.TokenCache, m *metrics.Metrics, log *slog.Logger) (ob *outbox.Outbox, api bool, err error) {
	ob = outbox.New(st, outbox.Options{Logger: log, Observer: m})
	ob.Register(actions.KindWebhook, &actions.WebhookDeliverer{Log: log})
	if s.proto.appID == "" || s.secret == "" {
		return ob, false, nil
	}
	client, err := wechat.NewClient(wechat.ClientConfig{
		HTTP: &http.Client{Timeout: 10 * time.Second}, Base: s.apiBase,
		AppID: s.proto.appID, Secret: wechat.Secret(s.secret), TokenAPI: s.tokenAPI, Tokens: tokens, Logger: log,
		OnRefresh: m.TokenRefreshed,
	})
	if err != nil {
		return nil, false, usagef("%v", err)
	}
	ob.Register(outbox.KindKefu, &actions.KefuDeliverer{Client: client, Store: st, Now: time.Now, Log: log, WindowClosed: m.WindowClosed})
	ob.Register(actions.KindTemplate, &actions.TemplateDeliverer{Client: client, Log: log})
	return ob, true, nil
}

// usesAction reports whether any rule has a step of the named action.
func usesAction(set *engine.RuleSet, name string) bool {
	for _, r := range set.Rules {
		for _, st := range r.Steps {
			if st.Name == name {
				return true
			}
		}
	}
	return false
}

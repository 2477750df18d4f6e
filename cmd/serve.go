package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wxbot/wxbot/cmd/bot"
	"github.com/wxbot/wxbot/engine/callback"
	"github.com/wxbot/wxbot/engine/dedup"
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
	adminToken        adminTokenFlags // admin_token.go
	adminSecret       wechat.Secret   // the token adminToken gives, "" for none
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
	sendAPI           sendAPIFlags // sendapi.go
	accounts          string       // --accounts FILE: several accounts (fleet.go)
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
	s.adminToken.register(fs, true)
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
	fs.StringVar(&s.spool, "spool", "wxbot-spool.db", "with a redis:// store: the local bbolt file where sends accepted while Redis fails wait for it (when another bot holds it, the first free one of FILE.1 to FILE.15)")
	fs.IntVar(&s.retryMemory, "retry-memory", dedup.DefaultBytes, "bytes of memory for the answers kept for WeChat's retries (past it, kept for less than 30s)")
	fs.IntVar(&s.replayMemory, "replay-memory", store.DefaultReplayMemory, "bytes of memory for the signed query strings kept against replays on bolt: (past it, for less than --max-skew)")
	fs.StringVar(&s.accounts, "accounts", "", "serve several Official Accounts: their names, AppIDs, secrets (from env or files) and rules, in a YAML file; each answers at --path/NAME; replaces --token, --appid, --secret, --aes-key and --rules")
	s.pay.register(fs)
	s.ai.register(fs)
	s.console.register(fs)
	s.sendAPI.register(fs)
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
	defer b.run.Stop(context.Background())
	return b.serve(ctx)
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
	if s.accounts != "" {
		if err := s.checkAccountsFlags(fs); err != nil {
			return nil, err
		}
	} else if err := s.proto.check(); err != nil {
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
	if s.adminSecret, err = s.adminToken.value(); err != nil {
		return nil, err
	}
	if err := s.sendAPI.check(); err != nil {
		return nil, err
	}
	if err := s.ai.check(); err != nil {
		return nil, err
	}
	if s.retryMemory < 64<<10 || s.replayMemory < 64<<10 {
		return nil, usagef("--retry-memory %d, --replay-memory %d: want at least 65536 bytes each", s.retryMemory, s.replayMemory)
	}
	rules.DefaultLimits = rules.Limits{MaxBytes: s.rulesMaxBytes, MaxRules: s.rulesMaxCount, MaxCost: s.rulesMaxCost}
	return s, nil
}

// server is a built `wxbot serve`: the bots built and opened, nothing
// listening yet.
type server struct {
	s   *serveFlags
	log *slog.Logger
	run runner
	bot *bot.Bot // the one account's, without --accounts (the console's)
}

// runner is what serve runs: one bot, or a fleet of them (--accounts).
type runner interface {
	Start()
	Stop(ctx context.Context) error
	Reload(reason string)
	// mount routes the callback paths under path.
	mount(mux *http.ServeMux, path string)
	Admin() http.Handler
}

// single is the one account of a serve without --accounts, at --path.
type single struct{ *bot.Bot }

func (b single) mount(mux *http.ServeMux, path string) {
	mux.Handle(path, b.Callback())
	if pay := b.Pay(); pay != nil {
		mux.Handle(callback.PayNotifyPath, pay)
	}
}

// build turns the flags into the bots' settings and builds them (cmd/bot).
func (s *serveFlags) build(env *cmdEnv) (*server, error) {
	log, err := newLogger(env.stderr, s.log)
	if err != nil {
		return nil, err
	}
	if s.accounts != "" {
		f, err := newFleet(env, s, log)
		if err != nil {
			return nil, err
		}
		return &server{s: s, log: log, run: f}, nil
	}
	st, err := s.settings(log)
	if err != nil {
		return nil, err
	}
	st.Diagnostics = env.stderr
	b, err := bot.New(st)
	switch {
	case errors.Is(err, bot.ErrSettings):
		return nil, usagef("%s", strings.TrimPrefix(err.Error(), bot.ErrSettings.Error()+": "))
	case err != nil:
		return nil, err
	}
	if st.Pay != nil {
		log.Info("payment notifications enabled", "path", callback.PayNotifyPath, "serials", serials(st.Pay))
	}
	return &server{s: s, log: log, run: single{b}, bot: b}, nil
}

// settings are the bot's settings from the flags.
func (s *serveFlags) settings(log *slog.Logger) (bot.Settings, error) {
	st, err := s.botSettings(log)
	if err != nil {
		return st, err
	}
	cb, err := s.callbackConfig()
	if err != nil {
		return bot.Settings{}, err
	}
	payVerifier, err := s.pay.verifier()
	if err != nil {
		return bot.Settings{}, err
	}
	if payVerifier != nil && s.path == callback.PayNotifyPath {
		return bot.Settings{}, usagef("--path %s: that is the payment notify path; choose another", s.path)
	}
	st.Callback, st.AppID, st.Secret, st.Rules = cb, s.proto.appID, s.secret, s.rules
	st.Pay, st.PayHints = payVerifier, payHints
	return st, nil
}

// botSettings are the settings every account's bot shares: all but the
// account's own (callback secrets, AppID, secret, rules, payments).
func (s *serveFlags) botSettings(log *slog.Logger) (bot.Settings, error) {
	loc, err := loadLocation(s.timezone)
	if err != nil {
		return bot.Settings{}, err
	}
	version, _ := buildInfo()
	a := s.ai
	return bot.Settings{
		APIBase: s.apiBase, TokenAPI: s.tokenAPI, RulesPoll: s.rulesPoll, Location: loc,
		Store: s.store, StoreOptions: s.storeOptions(1),
		AI: bot.AI{BaseURL: a.baseURL, APIKey: a.apiKey, Model: a.model, Concurrency: a.concurrency,
			NoKefu: !a.kefu, PendingText: a.pendingText},
		Version: version, Logger: log,
	}, nil
}

// storeOptions are the store's settings for a process of n accounts: the
// memory budgets are the process's, shared evenly (at least 64 KiB each).
func (s *serveFlags) storeOptions(n int) store.Options {
	share := func(total int) int { return max(total/max(n, 1), 64<<10) }
	return store.Options{RetryMemory: share(s.retryMemory), ReplayMemory: share(s.replayMemory), Spool: s.spool}
}

// checkAccountsFlags refuses the single account's flags beside --accounts:
// each account's come from the file.
func (s *serveFlags) checkAccountsFlags(fs *flagSet) error {
	var given []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "token", "appid", "secret", "aes-key", "rules", "previous-token", "previous-aes-key", "require-encryption",
			"pay-apiv3-key", "pay-platform-cert", "pay-public-key-id":
			given = append(given, "--"+f.Name)
		}
	})
	if len(given) > 0 {
		return usagef("%s: not with --accounts, where each account's token, appid, secrets and rules come from the accounts file "+
			"(payment notifications serve one merchant account: run them without --accounts)", strings.Join(given, ", "))
	}
	return nil
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
func (s *serveFlags) callbackConfig() (callback.Config, error) {
	cfg := callback.Config{
		Token: s.proto.token, PreviousToken: s.previousToken,
		RequireEncryption: s.requireEncryption, MaxSkew: s.maxSkew,
		ReplyDeadline: s.replyDeadline, Hints: callbackHints,
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

// run serves until ctx is done or a listener fails, then drains: the
// listeners, the engine's actions, and (in close) the outbox.
func (b *server) serve(ctx context.Context) error {
	b.run.Start()
	if f, ok := b.run.(*fleet); ok {
		wctx, stop := context.WithCancel(context.Background())
		defer stop()
		go f.watch(wctx)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			b.run.Reload("SIGHUP")
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
	if err := b.run.Stop(sctx); err != nil {
		b.log.Warn("actions still running at shutdown were cancelled", "err", err)
	}
	b.log.Info("stopped")
	return nil
}

// listen starts the callback listener and, unless disabled, the admin one.
func (b *server) listen() ([]*http.Server, <-chan error, error) {
	mux := http.NewServeMux()
	b.run.mount(mux, b.s.path)
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
	errc := make(chan error, 4) // a slot per listener: callback, console, send API, admin
	go func() { errc <- srv.Serve(ln) }()
	if f, ok := b.run.(*fleet); ok {
		b.log.Info("listening", "addr", ln.Addr().String(), "path", strings.TrimSuffix(b.s.path, "/")+"/NAME", "accounts", f.names())
	} else {
		b.log.Info("listening", "addr", ln.Addr().String(), "path", b.s.path, "encryption", b.bot.CallbackConfig().Cipher != nil)
	}
	if b.bot == nil {
		// each account's encryption is its own: see the accounts file
	} else if cb := b.bot.CallbackConfig(); cb.Cipher != nil && !cb.RequireEncryption {
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
	sendAPI, err := b.listenSendAPI(errc) // sendapi.go; nil when off
	if err != nil {
		for _, s := range servers {
			s.Close()
		}
		return nil, nil, err
	}
	if sendAPI != nil {
		servers = append(servers, sendAPI)
	}
	if b.s.adminListen == "" {
		return servers, errc, nil
	}
	adminSrv, err := b.listenAdmin(errc) // admin_token.go
	if err != nil {
		for _, s := range servers {
			s.Close()
		}
		return nil, nil, err
	}
	return append(servers, adminSrv), errc, nil
}

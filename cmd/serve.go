package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/wxbot/wxbot/actions"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/metrics"
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
	pay               payFlags
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
	fs.StringVar(&s.store, "store", "bolt:wxbot.db", "state (kefu outbox, retries, windows, cooldowns, token): bolt:PATH embedded, or redis://HOST:PORT/DB shared by replicas")
	s.pay.register(fs)
}

func runServe(ctx context.Context, env *cmdEnv, args []string) error {
	var s serveFlags
	fs := newFlagSet(env, commands["serve"])
	s.register(fs)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve takes no arguments (got %q); the rules come from --rules", pos)
	}
	if err := s.proto.check(); err != nil {
		return err
	}
	if s.replyDeadline <= 0 || s.replyDeadline >= 5*time.Second {
		return usagef("--reply-deadline %v: want more than 0 and less than 5s (WeChat drops the connection at 5s)", s.replyDeadline)
	}
	if !strings.HasPrefix(s.path, "/") {
		return usagef("--path %q: must start with /", s.path)
	}
	log, err := newLogger(env.stderr, s.log)
	if err != nil {
		return err
	}
	loc, err := loadLocation(s.timezone)
	if err != nil {
		return err
	}
	hcfg := engine.HandlerConfig{
		Token: s.proto.token, PreviousToken: s.previousToken,
		RequireEncryption: s.requireEncryption, MaxSkew: s.maxSkew,
		ReplyDeadline: s.replyDeadline, Logger: log,
	}
	if s.proto.aesKey != "" {
		if hcfg.Cipher, err = wechat.NewCipher(s.proto.aesKey, s.proto.appID); err != nil {
			return usagef("--aes-key: %v", err)
		}
	}
	if s.previousAESKey != "" {
		if s.proto.appID == "" {
			return usagef("--previous-aes-key needs --appid")
		}
		if hcfg.PreviousCipher, err = wechat.NewCipher(s.previousAESKey, s.proto.appID); err != nil {
			return usagef("--previous-aes-key: %v", err)
		}
	}
	if s.requireEncryption && hcfg.Cipher == nil {
		return usagef("--require-encryption needs --aes-key")
	}
	payVerifier, err := s.pay.verifier()
	if err != nil {
		return err
	}
	if payVerifier != nil && s.path == engine.PayNotifyPath {
		return usagef("--path %s: that is the payment notify path; choose another", s.path)
	}

	loaded, err := rules.Load(s.rules)
	if err != nil {
		var re *rules.Error
		if errors.As(err, &re) {
			fmt.Fprintln(env.stderr, re.Diags.String())
			return fmt.Errorf("%s: %d error(s); the bot does not start on a broken rules file (run `wxbot check %s`)", s.rules, len(re.Diags.Errors()), s.rules)
		}
		return err
	}
	for _, d := range loaded.Diags {
		log.Warn("rules", "warning", d.String())
	}
	st, err := store.Open(s.store, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	version, _ := buildInfo()
	var reloader *rules.Reloader // set below; the metrics read it at scrape time
	var eng *engine.Engine
	m := metrics.New(version, func() metrics.ReloadStatus {
		rs := reloader.Status()
		return metrics.ReloadStatus{OK: rs.LastReloadOK, LastOK: rs.LoadedAt, Hash: rs.Hash,
			Rules: len(eng.Rules().Rules), Successes: rs.Reloads + 1, Failures: rs.ReloadFailures}
	}, st.Pending)
	var tokens wechat.TokenCache
	if r, ok := st.(*store.Redis); ok {
		// Replicas share retries' answers and the access_token.
		hcfg.Dedup = &engine.FallbackDeduper{
			Primary: store.NewRedisDedup(r, engine.DefaultDedupTTL),
			Local:   engine.NewDedup(engine.DefaultDedupTTL, time.Now),
			OnFallback: func(err error) {
				m.DedupFallback()
				log.Warn("Redis unreachable: retries are deduplicated in this process only", "err", err)
			},
		}
		tokens = r.TokenCache(s.proto.appID)
	} else if s.tokenAPI == wechat.TokenAPIClassic {
		log.Info("--token-api classic keeps the token in this process: run one replica, or share a redis:// store")
	}
	outbox, api, err := s.outbox(st, tokens, m, log)
	if err != nil {
		return err
	}
	if !api && (usesAction(loaded.Set, "kefu") || usesAction(loaded.Set, "template")) {
		log.Warn("the rules send kefu or template messages but --appid and --secret are not both set: those sends will fail")
	}
	octx, stopOutbox := context.WithCancel(context.Background())
	outboxDone := make(chan struct{})
	defer func() { stopOutbox(); <-outboxDone }() // before the store closes
	go func() { outbox.Run(octx); close(outboxDone) }()
	if n, err := st.Pending(ctx); err == nil && n > 0 {
		log.Info("outbox has sends from before the restart", "pending", n)
	}
	eng = engine.New(engine.Options{Location: loc, Logger: log, Store: st, Outbox: outbox, Observer: m})
	eng.SetRules(loaded.Set)
	log.Info("rules loaded", "source", s.rules, "rules", len(loaded.Set.Rules), "hash", loaded.Set.Hash)
	reloader = rules.NewReloader(s.rules, loc, eng, log)
	reloader.Initial(loaded)
	debug.FreeOSMemory() // the start-up parse's garbage, see Reloader.Reload
	rctx, stopReloads := context.WithCancel(context.Background())
	defer stopReloads()
	go reloader.Run(rctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			reloader.Trigger("SIGHUP")
		}
	}()

	mux := http.NewServeMux()
	mux.Handle(s.path, engine.NewHandler(eng, hcfg))
	if payVerifier != nil {
		mux.Handle(engine.PayNotifyPath, engine.NewPayHandler(eng, engine.PayHandlerConfig{
			Verifier: payVerifier, Wait: s.replyDeadline, Logger: log}))
		log.Info("payment notifications enabled", "path", engine.PayNotifyPath, "serials", serials(payVerifier))
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	servers := []*http.Server{srv}
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", s.listen, err)
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "path", s.path, "encryption", hcfg.Cipher != nil)

	if s.adminListen != "" {
		aln, err := net.Listen("tcp", s.adminListen)
		if err != nil {
			srv.Close()
			return fmt.Errorf("--admin-listen %s: %w", s.adminListen, err)
		}
		admin := &http.Server{Handler: adminMux(eng, reloader, st, m), ReadHeaderTimeout: 5 * time.Second}
		servers = append(servers, admin)
		go func() { errc <- admin.Serve(aln) }()
		log.Info("admin listening", "addr", aln.Addr().String())
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", s.shutdownTimeout)
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("listener failed", "err", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("listener did not drain in time", "err", err)
		}
	}
	if err := eng.Close(sctx); err != nil {
		log.Warn("actions still running at shutdown were cancelled", "err", err)
	}
	// Deliveries in flight finish; the rest stay in the store for the next start.
	stopOutbox()
	<-outboxDone
	if n, err := st.Pending(context.Background()); err == nil && n > 0 {
		log.Info("outbox sends kept for the next start", "pending", n)
	}
	log.Info("stopped")
	return nil
}

// outbox builds the outbox of asynchronous sends: webhook retries always,
// kefu and template messages when API credentials are set (api reports
// whether they are).
func (s *serveFlags) outbox(st engine.Store, tokens wechat.TokenCache, m *metrics.Metrics, log *slog.Logger) (ob *engine.Outbox, api bool, err error) {
	ob = engine.NewOutbox(st, engine.OutboxOptions{Logger: log, Observer: m})
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
	ob.Register(engine.KindKefu, &actions.KefuDeliverer{Client: client, Store: st, Now: time.Now, Log: log, WindowClosed: m.WindowClosed})
	ob.Register(actions.KindTemplate, &actions.TemplateDeliverer{Client: client, Log: log})
	return ob, true, nil
}

// usesAction reports whether any rule has a step of the named action.
func usesAction(set *engine.RuleSet, name string) bool {
	for _, r := range set.Rules {
		for _, st := range r.Actions {
			if st.Name == name {
				return true
			}
		}
	}
	return false
}

// adminMux serves the operator endpoints; it is on its own listener so the
// public callback exposes nothing else.
func adminMux(eng *engine.Engine, reloader *rules.Reloader, st engine.Store, m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	// Profiles for performance work; the admin listener is loopback by default.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /outbox", func(w http.ResponseWriter, r *http.Request) {
		pending, err := st.Pending(r.Context())
		if err != nil {
			http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		dead, err := st.DeadLetters(r.Context(), 100)
		if err != nil {
			http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"pending": pending, "dead_letters": dead})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if eng.Rules().Hash == "" {
			http.Error(w, "rules not loaded", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := st.Pending(ctx); err != nil { // a round trip to the store
			http.Error(w, "store unreachable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /rules", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, rulesReport(eng, reloader))
	})
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		status := http.StatusOK
		if err := reloader.Reload(r.Context(), "POST /reload", true); err != nil {
			status = http.StatusUnprocessableEntity
		}
		writeJSON(w, status, rulesReport(eng, reloader))
	})
	return mux
}

// ruleReport is one rule in GET /rules.
type ruleReport struct {
	Name     string   `json:"name"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	On       []string `json:"on"`
	Priority int      `json:"priority"`
	Enabled  bool     `json:"enabled"`
	Hits     uint64   `json:"hits"`
}

func rulesReport(eng *engine.Engine, reloader *rules.Reloader) any {
	set := eng.Rules()
	list := make([]ruleReport, len(set.Rules))
	for i, r := range set.Rules {
		list[i] = ruleReport{Name: r.Name, File: r.Pos.File, Line: r.Pos.Line, On: r.On,
			Priority: r.Priority, Enabled: !r.Disabled, Hits: r.Hits()}
	}
	return struct {
		rules.Status
		Rules []ruleReport `json:"rules"`
	}{reloader.Status(), list}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/wxbot/wxbot/actions"
	"github.com/wxbot/wxbot/actions/llm"
	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/callback"
	"github.com/wxbot/wxbot/engine/metrics"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechatpay"
	"github.com/wxbot/wxbot/rules"
)

// Settings are one account's bot, as `wxbot serve` reads them from its
// flags (the flag named beside each field).
type Settings struct {
	// Callback is the WeChat callback's configuration: Token,
	// PreviousToken, the ciphers, RequireEncryption, MaxSkew, ReplyDeadline,
	// Hints. New fills in the logger, the retry cache and the replay window.
	Callback callback.Config
	// AppID and Secret enable API calls (kefu and template sends); API is
	// --api-base, TokenAPI --token-api.
	AppID, Secret, APIBase, TokenAPI string
	// Rules is the rules file or directory (--rules); RulesPoll
	// --rules-poll.
	Rules     string
	RulesPoll time.Duration
	// Watcher is the process's shared file watcher (many accounts); nil
	// gives the bot's reloader one of its own.
	Watcher *rules.Watcher
	// Many says the caller builds many bots: it hands the start-up
	// garbage back to the OS once, after the last, not each bot.
	Many bool
	// Fleet, when set, holds the bot's metrics as the series of Account
	// in the process's one registry.
	Fleet    *metrics.Fleet
	Account  string
	Location *time.Location
	// Store is --store, StoreOptions its memory and spool settings.
	Store        string
	StoreOptions store.Options
	// OpenStore, when set, opens the bot's backend instead of Store: an
	// account's view of the process's store (store.Backend.Account). The
	// bot closes what it returns.
	OpenStore func(store.Options) (*store.Backend, error)
	// Pay verifies WeChat Pay notifications; nil without payments.
	Pay      *wechatpay.Verifier
	PayHints map[int]string
	AI       AI
	Version  string
	Logger   *slog.Logger
	// Diagnostics receives a broken rules file's problems at start, one a
	// line, as `wxbot check` prints them (the log has a summary).
	Diagnostics io.Writer
}

// AI are the settings of the ai action's model and of late replies.
type AI struct {
	BaseURL, APIKey, Model string
	Concurrency            int
	// NoKefu: the account has no kefu API (--kefu=false): late replies
	// wait for WeChat's retries, then for the user's next push.
	NoKefu      bool
	PendingText string
}

// ErrSettings marks an error in the settings (a bad AppID, an AI endpoint
// that is not a URL): the caller's usage error, not a failure to start.
var ErrSettings = errors.New("bad settings")

func settingsError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrSettings}, args...)...)
}

// ErrRules is a start refused because of the rules: a broken file or a
// failing test of its own (the details went to Settings.Diagnostics).
var ErrRules = errors.New("rules refused")

// Bot is one account's running bot.
type Bot struct {
	s        Settings
	log      *slog.Logger
	backend  *store.Backend
	st       store.Store
	m        *metrics.Metrics
	eng      *engine.Engine
	reloader *rules.Reloader
	callback callback.Config
	pay      *callback.PayHandler // nil without WeChat Pay
	outbox   *outbox.Outbox
	client   *wechat.Client // nil without API credentials

	stopOutbox context.CancelFunc
	outboxDone chan struct{}
	stopReload context.CancelFunc
	closed     bool
}

// New builds a bot: it loads the rules through the gate a reload passes,
// opens the store and wires the engine, the outbox and the handlers.
// Nothing runs until Start. On error, whatever it opened is closed.
func New(s Settings) (_ *Bot, err error) {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Diagnostics == nil {
		s.Diagnostics = io.Discard
	}
	b := &Bot{s: s, log: s.Logger, callback: s.Callback}
	b.callback.Logger = b.log
	loaded, err := loadRules(s.Diagnostics, s.Rules, s.Location, b.log)
	if err != nil {
		return nil, err
	}
	if err := b.openStore(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.Stop(context.Background())
		}
	}()
	b.wireMetrics()
	b.callback.Dedup, b.callback.Replays = b.backend.Dedup, b.backend.Replays
	if err := b.wireOutbox(loaded.Set); err != nil {
		return nil, err
	}
	opts := engine.Options{Location: s.Location, Logger: b.log, State: b.st, Outbox: b.outbox, Observer: b.m,
		ReplyDeadline: s.Callback.ReplyDeadline, Client: b.client}
	if t, ok := b.st.(store.Tallies); ok { // the console's Analytics and Unanswered
		opts.Tallies = t
	}
	if err := b.wireAI(&opts, loaded.Set); err != nil {
		return nil, err
	}
	b.eng = engine.New(opts)
	b.eng.SetRules(loaded.Set)
	b.log.Info("rules loaded", "source", s.Rules, "rules", len(loaded.Set.Rules), "hash", loaded.Set.Hash)
	b.reloader = rules.NewReloader(s.Rules, s.Location, b.eng, b.log)
	b.reloader.Poll, b.reloader.Watcher, b.reloader.Shared = s.RulesPoll, s.Watcher, s.Many
	b.reloader.Initial(loaded)
	if !s.Many {
		debug.FreeOSMemory() // the start-up parse's garbage, see Reloader.Reload
	}
	if s.Pay != nil {
		b.pay = callback.NewPayHandler(b.eng, callback.PayConfig{
			Verifier: s.Pay, Claims: b.st, Wait: s.Callback.ReplyDeadline, Logger: b.log, Hints: s.PayHints})
	}
	return b, nil
}

// loadRules loads the rules the bot starts on, through the gate a reload
// passes: a broken file or a failing test of its own stops the start, with
// the diagnostics or the failing tests and their lines.
func loadRules(diag io.Writer, path string, loc *time.Location, log *slog.Logger) (*rules.Loaded, error) {
	loaded, err := rules.Load(path)
	if err != nil {
		var re *rules.Error
		if errors.As(err, &re) {
			fmt.Fprintln(diag, re.Diags.String())
			return nil, fmt.Errorf("%w: %s: %d error(s); the bot does not start on a broken rules file (run `wxbot check %s`)", ErrRules, path, len(re.Diags.Errors()), path)
		}
		return nil, err
	}
	if err := rules.TestsPass(context.Background(), loaded, loc); err != nil {
		fmt.Fprintln(diag, err)
		return nil, fmt.Errorf("%w: %s: the bot does not start on rules whose own tests fail, as a reload would refuse them (run `wxbot test %s`)", ErrRules, path, path)
	}
	for _, d := range loaded.Diags {
		log.Warn("rules", "warning", d.String())
	}
	return loaded, nil
}

// openStore opens the store with everything the bot needs from it: state,
// queue, retry answers, replay window, shared token cache.
func (b *Bot) openStore() error {
	o := b.s.StoreOptions
	o.Logger, o.HoldLate = b.log, b.s.AI.NoKefu
	o.OnDegraded = func(degraded bool) {
		if b.m != nil {
			b.m.StoreDegraded(degraded)
		}
	}
	o.OnDedupFallback = func(error) {
		if b.m != nil {
			b.m.DedupFallback()
		}
	}
	open := b.s.OpenStore
	if open == nil {
		open = func(o store.Options) (*store.Backend, error) { return store.Open(b.s.Store, o) }
	}
	var err error
	if b.backend, err = open(o); err != nil {
		return fmt.Errorf("--store: %w", err)
	}
	b.st = b.backend.Store
	return nil
}

// wireMetrics builds the metrics, which read the store and the rules.
func (b *Bot) wireMetrics() {
	if b.s.Fleet != nil {
		b.m = b.s.Fleet.Account(b.s.Account, b.reloadStatus, b.st.Pending)
	} else {
		b.m = metrics.New(b.s.Version, b.reloadStatus, b.st.Pending)
	}
	b.m.CountUsers(b.st.CountUsers)
	b.m.CountHandoffSessions(func(ctx context.Context) (int, error) {
		if b.eng == nil { // scraped before the engine is built: not known yet
			return 0, errors.New("the bot is starting")
		}
		return b.eng.HandoffSessions(ctx)
	})
}

// reloadStatus is what the metrics read of the rules at scrape time.
func (b *Bot) reloadStatus() metrics.ReloadStatus {
	rs := b.reloader.Status()
	return metrics.ReloadStatus{OK: rs.LastReloadOK, LastOK: rs.LoadedAt, Hash: rs.Hash,
		Rules: len(b.eng.Rules().Rules), Successes: rs.Reloads, Failures: rs.ReloadFailures}
}

// wireOutbox builds the outbox of asynchronous sends with the deliverers
// the registered actions bring (kefu and template ones only with API
// credentials).
func (b *Bot) wireOutbox(set *engine.RuleSet) error {
	var tokens wechat.TokenCache
	if b.backend.Tokens != nil { // replicas share the access_token
		tokens = b.backend.Tokens(b.s.AppID)
	} else if b.s.TokenAPI == wechat.TokenAPIClassic {
		b.log.Info("--token-api classic keeps the token in this process: run one replica, or share a redis:// store")
	}
	if b.s.AppID != "" && b.s.Secret != "" {
		var err error
		b.client, err = wechat.NewClient(wechat.ClientConfig{
			HTTP: &http.Client{Timeout: 10 * time.Second}, Base: b.s.APIBase,
			AppID: b.s.AppID, Secret: wechat.Secret(b.s.Secret), TokenAPI: b.s.TokenAPI, Tokens: tokens, Logger: b.log,
			OnRefresh: b.m.TokenRefreshed,
		})
		if err != nil {
			return settingsError("%v", err)
		}
	} else if usesAction(set, "kefu") || usesAction(set, "template") {
		b.log.Warn("the rules send kefu or template messages but --appid and --secret are not both set: those sends will fail")
	}
	b.outbox = outbox.New(b.st, outbox.Options{Logger: b.log, Observer: b.m})
	deliverers := engine.Deliverers(engine.Delivery{Client: b.client, Store: b.st, Logger: b.log, Now: time.Now,
		WindowClosed: b.m.WindowClosed, Outbox: b.outbox, HoldLate: b.s.AI.NoKefu})
	for kind, d := range deliverers {
		b.outbox.Register(kind, d)
	}
	return nil
}

// wireAI adds the model and the late-reply mode to the engine's options
// and the callback's configuration.
func (b *Bot) wireAI(o *engine.Options, set *engine.RuleSet) error {
	a := b.s.AI
	if a.BaseURL != "" {
		client, err := llm.New(llm.Config{BaseURL: a.BaseURL, Key: llm.Key(a.APIKey),
			HTTP: &http.Client{Transport: http.DefaultTransport}})
		if err != nil {
			return settingsError("--ai-base-url: %v", err)
		}
		o.Services = map[string]any{actions.AIService: actions.NewAI(client, a.Model, a.Concurrency)}
		b.log.Info("ai answers enabled", "endpoint", client.Endpoint(), "model", a.Model, "concurrency", a.Concurrency,
			"key_set", a.APIKey != "")
	} else if usesAction(set, "ai") {
		b.log.Warn("the rules use the ai action but --ai-base-url is not set: they answer with their apology")
	}
	if a.NoKefu {
		o.HoldLate = true
		b.callback.HoldLate, b.callback.PendingText, b.callback.Held = true, a.PendingText, b.st
		b.log.Info("--kefu=false: a reply later than --reply-deadline waits for WeChat's retries, then for the user's next push", "pending_text", a.PendingText)
	} else if b.client == nil && usesAction(set, "ai") {
		b.log.Warn("the rules use the ai action, but without --appid and --secret an answer later than --reply-deadline cannot go by kefu and is lost: set them, or --kefu=false for an account without the kefu API")
	}
	return nil
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

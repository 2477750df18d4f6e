package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxbot/wxbot/cmd/accounts"
	"github.com/wxbot/wxbot/cmd/bot"
	"github.com/wxbot/wxbot/engine/callback"
	"github.com/wxbot/wxbot/engine/metrics"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

// A fleet is `wxbot serve --accounts FILE`: one bot per account, each with
// its own rules, reloader, token, outbox and store namespace (an account
// view of the process's one store), mounted at --path/NAME. The file is
// read again on SIGHUP and when it changes: accounts added start, removed
// ones stop (their path answers 404), changed ones are rebuilt; a file
// that does not load keeps the accounts that run and says why (GET
// /accounts).
type fleet struct {
	s       *serveFlags
	log     *slog.Logger
	env     *cmdEnv
	backend *store.Backend // the process's store; accounts are views of it
	watcher *rules.Watcher // one inotify instance for every account's rules and the file
	metrics *metrics.Fleet // every account's series, with an account label
	base    bot.Settings   // what every account's bot takes from the flags

	mu      sync.Mutex // one reload at a time; guards file, status
	file    *accounts.File
	lastErr error
	loadAt  time.Time
	bots    atomic.Pointer[map[string]*fleetBot] // by name: the routing table
}

// fleetBot is one account's running bot.
type fleetBot struct {
	acct  accounts.Account
	bot   *bot.Bot
	cb    http.Handler
	admin http.Handler
}

// newFleet loads the accounts file and builds every account's bot; an
// error in any account stops the start (on reload it would keep the
// running ones).
func newFleet(env *cmdEnv, s *serveFlags, log *slog.Logger) (*fleet, error) {
	file, err := accounts.Load(s.accounts, env.getenv)
	if err != nil {
		return nil, fmt.Errorf("--accounts: %w", err)
	}
	base, err := s.botSettings(log)
	if err != nil {
		return nil, err
	}
	o := s.storeOptions(len(file.Accounts))
	o.Logger = log
	backend, err := store.Open(s.store, o)
	if err != nil {
		return nil, fmt.Errorf("--store: %w", err)
	}
	if backend.Account == nil {
		backend.Close()
		return nil, usagef("--store %s cannot hold several accounts", store.Redacted(s.store))
	}
	f := &fleet{base: base, s: s, log: log, env: env, backend: backend, file: file, loadAt: time.Now(), metrics: metrics.NewFleet(base.Version)}
	if f.watcher, err = rules.NewWatcher(); err != nil {
		log.Warn("cannot watch files; the rules are polled (--rules-poll) and the accounts file is read on SIGHUP", "err", err)
	}
	bots, err := f.buildAll(file.Accounts, len(file.Accounts))
	f.bots.Store(&bots)
	if err != nil {
		f.Stop(context.Background())
		return nil, err
	}
	debug.FreeOSMemory() // the start-up parse's garbage, once for all the accounts
	log.Info("accounts loaded", "file", file)
	return f, nil
}

// buildAll builds the accounts' bots, a few at a time (a start with
// thousands of accounts is mostly parsing rules and opening store views):
// all of them, or, on the first error, none left open but those returned.
func (f *fleet) buildAll(accts []accounts.Account, n int) (map[string]*fleetBot, error) {
	var (
		mu   sync.Mutex
		bots = map[string]*fleetBot{}
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 2*runtime.GOMAXPROCS(0))
	)
	for _, a := range accts {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fb, err := f.build(a, n)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			bots[a.Name] = fb
		}()
	}
	wg.Wait()
	return bots, errors.Join(errs...)
}

// build makes one account's bot; it does not start it.
func (f *fleet) build(a accounts.Account, n int) (*fleetBot, error) {
	log := f.log.With("account", a.Name)
	cb := callback.Config{Token: string(a.Token), PreviousToken: string(a.PreviousToken), RequireEncryption: a.RequireEncryption,
		GhID: a.GhID, MaxSkew: f.s.maxSkew, ReplyDeadline: f.s.replyDeadline, Hints: accountHints}
	var err error
	for _, k := range []struct {
		key wechat.Secret
		c   **wechat.Cipher
	}{{a.AESKey, &cb.Cipher}, {a.PreviousAESKey, &cb.PreviousCipher}} {
		if k.key != "" {
			if *k.c, err = wechat.NewCipher(string(k.key), a.AppID); err != nil { // checked when the file loaded
				return nil, fmt.Errorf("%s: aes key: %w", a, err)
			}
		}
	}
	st := f.base // the flags' settings, read once (the time zone is a file read)
	st.Logger = log
	st.Callback, st.AppID, st.Secret, st.Rules = cb, a.AppID, string(a.Secret), a.Rules
	st.AI.NoKefu = !a.Kefu
	st.Watcher, st.Many, st.Fleet, st.Account = f.watcher, true, f.metrics, a.Name
	st.RulesPoll = pollShare(f.s.rulesPoll, n)
	st.Diagnostics = f.env.stderr
	st.OpenStore = func(o store.Options) (*store.Backend, error) {
		shares := f.s.storeOptions(n)
		o.RetryMemory, o.ReplayMemory = shares.RetryMemory, shares.ReplayMemory
		return f.backend.Account(a.AppID, o)
	}
	b, err := bot.New(st)
	if errors.Is(err, bot.ErrSettings) {
		return nil, usagef("%s: %s", a, strings.TrimPrefix(err.Error(), bot.ErrSettings.Error()+": "))
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", a, err)
	}
	return &fleetBot{acct: a, bot: b, cb: b.Callback(), admin: b.Admin()}, nil
}

// pollShare is each account's rules poll among n: the watcher sees changes
// at once and the poll is its safety net, so the process as a whole polls
// about as often as one bot does, at most 30 rules sets per --rules-poll
// (1,000 accounts: each every 17 minutes at the default 30 s), not n.
func pollShare(poll time.Duration, n int) time.Duration {
	if poll <= 0 || n <= 30 {
		return poll
	}
	return poll * time.Duration(n) / 30
}

// accountHints name what to check in the accounts file when a push is
// refused.
var accountHints = map[string]string{
	"bad_signature":     "check that the account's token is the console's Token, and that WeChat calls this account's path",
	"decrypt":           "check the account's aes key and appid against the console",
	"plaintext_refused": "require_encryption is set for this account: set the console to safe mode",
	"wrong_account":     "the push is for another account (its ToUserName is not this account's gh_id): check the URL set in that account's console",
}

// Start starts every account's bot.
func (f *fleet) Start() {
	for _, fb := range *f.bots.Load() {
		fb.bot.Start()
	}
}

// Stop stops every account's bot, then the store.
func (f *fleet) Stop(ctx context.Context) error {
	var errs []error
	for _, fb := range *f.bots.Load() {
		errs = append(errs, fb.bot.Stop(ctx))
	}
	f.backend.Close()
	if f.watcher != nil {
		f.watcher.Close()
	}
	return errors.Join(errs...)
}

// Reload reloads every account's rules (SIGHUP); the accounts file itself
// is read again by reloadFile.
func (f *fleet) Reload(reason string) {
	f.reloadFile(reason)
	for _, fb := range *f.bots.Load() {
		fb.bot.Reload(reason)
	}
}

// mount routes --path/NAME to the account's callback; an unknown name is
// 404, as is a removed account's.
func (f *fleet) mount(mux *http.ServeMux, path string) {
	mux.HandleFunc(strings.TrimSuffix(path, "/")+"/{account}", func(w http.ResponseWriter, r *http.Request) {
		fb := (*f.bots.Load())[r.PathValue("account")]
		if fb == nil {
			http.Error(w, "no such account", http.StatusNotFound)
			return
		}
		fb.cb.ServeHTTP(w, r)
	})
}

// names are the running accounts' names, sorted.
func (f *fleet) names() []string {
	bots := *f.bots.Load()
	names := make([]string, 0, len(bots))
	for n := range bots {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

package cmd

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/wxbot/wxbot/cmd/accounts"
	"github.com/wxbot/wxbot/cmd/api"
)

func init() {
	register(&command{name: "api", args: "addtoken NAME",
		summary: "the send API for other systems (serve --api-listen): addtoken NAME makes a token, prints it once, and writes its hash to --api-tokens",
		run:     runAPI})
}

// defaultAccount names the one account of a serve without --accounts in
// the send API (its IDs, and a body's optional "account").
const defaultAccount = "default"

// sendAPIFlags are serve's settings of the send API (cmd/api).
type sendAPIFlags struct {
	listen, tokens string
	rate           float64
}

func (a *sendAPIFlags) register(fs *flagSet) {
	fs.StringVar(&a.listen, "api-listen", "", "the send API for other systems (POST /v1/messages), e.g. 127.0.0.1:9092; empty disables")
	fs.StringVar(&a.tokens, "api-tokens", "", "the send API's tokens: `name: sha256-hex` lines (wxbot api addtoken NAME writes one)")
	fs.Float64Var(&a.rate, "api-rate", 10, "requests a second each send API token may make, in bursts as large (per process); 0: no limit")
}

func (a *sendAPIFlags) check() error {
	switch {
	case a.listen != "" && a.tokens == "":
		return usagef("--api-listen needs --api-tokens FILE (create it with: wxbot api addtoken NAME --api-tokens FILE)")
	case a.rate < 0:
		return usagef("--api-rate %g: want 0 (no limit) or more", a.rate)
	}
	return nil
}

// listenSendAPI starts the send API when --api-listen is set (nil server
// otherwise); its listener's failure ends serve as the others' do.
func (b *server) listenSendAPI(errc chan<- error) (*http.Server, error) {
	a := b.s.sendAPI
	if a.listen == "" {
		return nil, nil
	}
	cfg := api.Config{Tokens: a.tokens, Rate: a.rate, Logger: b.log.With("component", "api")}
	if f, ok := b.run.(*fleet); ok {
		cfg.Lookup, cfg.Names = f.apiAccount, f.names
	} else {
		one := api.Account{Name: defaultAccount, Store: b.bot.Store(), Outbox: b.bot.Outbox()}
		cfg.Lookup = func(name string) (api.Account, bool) { return one, name == defaultAccount }
		cfg.Names = func() []string { return []string{defaultAccount} }
	}
	h, err := api.New(cfg)
	if err != nil {
		return nil, usagef("--api-tokens: %v", err)
	}
	ln, err := net.Listen("tcp", a.listen)
	if err != nil {
		return nil, fmt.Errorf("--api-listen %s: %w", a.listen, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 15 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { errc <- srv.Serve(ln) }()
	b.log.Info("send API listening", "addr", ln.Addr().String(), "rate", a.rate)
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		b.log.Warn("the send API is reachable from every network (a wildcard --api-listen): its bearer tokens cross the network "+
			"in clear unless something in front speaks HTTPS; bind it to 127.0.0.1 behind such a proxy, or to a private address",
			"addr", ln.Addr().String())
	}
	return srv, nil
}

// apiAccount is a running account, for the send API.
func (f *fleet) apiAccount(name string) (api.Account, bool) {
	fb, ok := (*f.bots.Load())[name]
	if !ok {
		return api.Account{}, false
	}
	return api.Account{Name: name, Store: fb.bot.Store(), Outbox: fb.bot.Outbox()}, true
}

func runAPI(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, commands["api"])
	var tokens, only string
	fs.StringVar(&tokens, "api-tokens", "", "the tokens file to write (created when absent, kept 0600)")
	fs.StringVar(&only, "only", "", "with serve --accounts: the accounts the token may send for, comma-separated (default: all; a new token for NAME keeps its list)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[0] != "addtoken" {
		return usagef("usage: wxbot api addtoken NAME --api-tokens FILE")
	}
	name := pos[1]
	if tokens == "" {
		return usagef("api addtoken: --api-tokens FILE is required (the file serve reads)")
	}
	if !api.ValidName(name) {
		return usagef("api addtoken: name %q: want 1-64 letters, digits, '.', '_' or '-'", name)
	}
	suffix := ""
	if only != "" {
		suffix = " accounts=" + only // as the console's users file has it
		if _, err := accounts.ParseOnly(suffix); err != nil {
			return usagef("api addtoken: --only: %s", err)
		}
	}
	var b [32]byte
	rand.Read(b[:])
	tok := "wxbot_" + base64.RawURLEncoding.EncodeToString(b[:])
	replaced, err := writeNamedLine("api tokens", tokens, name, api.HashToken(tok), suffix)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, tok)
	verb := "added"
	if replaced {
		verb = "replaced the token of" // the old token stops working
	}
	fmt.Fprintf(env.stderr, "%s %s in %s; the token above is shown once: keep it in the calling system's secrets (a running bot reads the file at its next request)\n", verb, name, tokens)
	return nil
}

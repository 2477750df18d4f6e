package cmd

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/wxbot/wxbot/cmd/accounts"
	"github.com/wxbot/wxbot/cmd/admin"
	"github.com/wxbot/wxbot/engine/wechat"
)

// minAdminToken is the shortest admin token serve takes: the token guards
// a listener that may be reachable from other hosts, so it must be too
// long to guess.
const minAdminToken = 16

// adminTokenFlags are --admin-token and --admin-token-file: serve requires
// the token on its admin listener (cmd/admin.Guard), and the commands that
// call that listener send it.
type adminTokenFlags struct {
	token, file string
}

func (a *adminTokenFlags) register(fs *flagSet, serve bool) {
	usage := "the admin token serve's --admin-token requires, sent as Authorization: Bearer (never printed)"
	if serve {
		usage = "require Authorization: Bearer TOKEN on the admin listener for all but GET /healthz, /readyz, /metrics, /rules and /accounts " +
			"(without a token, a listener beyond loopback refuses all but those); at least 16 characters, e.g. from openssl rand -hex 32; never logged"
	}
	fs.StringVar(&a.token, "admin-token", "", usage)
	fs.StringVar(&a.file, "admin-token-file", "", "--admin-token from this file (the token alone; one trailing newline is fine)")
}

// value is the token given, "" when none is. Both flags, or a token that
// cannot be one, are a usage error, which never quotes the token.
func (a *adminTokenFlags) value() (wechat.Secret, error) {
	token := a.token
	switch {
	case a.token != "" && a.file != "":
		return "", usagef("--admin-token and --admin-token-file (or WXBOT_ADMIN_TOKEN and WXBOT_ADMIN_TOKEN_FILE) both given: keep one")
	case a.file != "":
		var err error
		if token, err = accounts.ReadSecretFile(a.file, "--admin-token"); err != nil {
			return "", usagef("--admin-token-file: %v", err)
		}
	case token == "":
		return "", nil
	}
	if strings.ContainsFunc(token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", usagef("--admin-token (WXBOT_ADMIN_TOKEN) holds white space or control characters: give the token alone")
	}
	if len(token) < minAdminToken {
		return "", usagef("--admin-token (WXBOT_ADMIN_TOKEN) has %d characters, want at least %d characters: generate one with openssl rand -hex 32", len(token), minAdminToken)
	}
	return wechat.Secret(token), nil
}

// listenAdmin starts the admin listener behind its guard (cmd/admin.Guard),
// and warns when it is reachable beyond loopback without a token: it still
// starts, since probes and scrapers need it there (examples/deploy), but
// all they do not need is refused until a token is set.
func (b *server) listenAdmin(errc chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", b.s.adminListen)
	if err != nil {
		return nil, fmt.Errorf("--admin-listen %s: %w", b.s.adminListen, err)
	}
	addr := ln.Addr().String()
	exposed, wildcard := admin.Exposed(ln.Addr())
	if exposed && b.s.adminSecret == "" {
		b.log.Warn("the admin listener is reachable beyond loopback without --admin-token: all but /healthz, /readyz, /metrics, "+
			"/rules and /accounts is refused (reload, state, outbox, pprof); set --admin-token (WXBOT_ADMIN_TOKEN) "+
			"or bind --admin-listen to 127.0.0.1", "addr", addr, "wildcard", wildcard)
	}
	h := admin.Guard(b.run.Admin(), admin.Access{Token: b.s.adminSecret, Exposed: exposed, Addr: addr})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute} // profiles take 30 s
	go func() { errc <- srv.Serve(ln) }()
	b.log.Info("admin listening", "addr", addr, "token", b.s.adminSecret != "")
	return srv, nil
}

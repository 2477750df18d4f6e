package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/wxbot/wxbot/cmd/accounts"
	"github.com/wxbot/wxbot/cmd/admin"
	"github.com/wxbot/wxbot/cmd/bot"
	"github.com/wxbot/wxbot/cmd/console"
)

func init() {
	register(&command{name: "console", args: "adduser NAME",
		summary: "the marketers' web console (serve --console-listen): adduser NAME reads a password from standard input and writes NAME's line to --console-users",
		run:     runConsole})
}

// consoleFlags are serve's settings of the console.
type consoleFlags struct {
	listen string
	users  string
	lang   string
}

func (c *consoleFlags) register(fs *flagSet) {
	fs.StringVar(&c.listen, "console-listen", "", "the marketers' web console listener (e.g. 127.0.0.1:9091); empty disables")
	fs.StringVar(&c.users, "console-users", "", "the console's users: `name: bcrypt-hash` lines (wxbot console adduser NAME writes one)")
	fs.StringVar(&c.lang, "console-lang", console.Langs[0], "the console's language: "+strings.Join(console.Langs, " or "))
}

func (c *consoleFlags) check() error {
	if c.listen != "" && c.users == "" {
		return usagef("--console-listen needs --console-users FILE (create it with: wxbot console adduser NAME --console-users FILE)")
	}
	if !console.ValidLang(c.lang) {
		return usagef("--console-lang %q: want %s", c.lang, strings.Join(console.Langs, " or "))
	}
	return nil
}

// listenConsole starts the console when --console-listen is set (nil
// server otherwise); its listener's failure ends serve as the others' do.
func (b *server) listenConsole(errc chan<- error) (*http.Server, error) {
	c := b.s.console
	if c.listen == "" {
		return nil, nil
	}
	cfg := console.Config{Users: c.users, Lang: c.lang, Logger: b.log.With("component", "console")}
	if f, ok := b.run.(*fleet); ok {
		// The process's store, not an account's view: a marketer's
		// session spans the accounts.
		cfg.Accounts, cfg.Location, cfg.Sessions = f.consoleAccounts, f.base.Location, f.backend.Store
	} else {
		a := consoleAccount(b.s.rules, b.bot)
		cfg.Rules, cfg.Engine, cfg.Reloader, cfg.Outbox, cfg.Menu, cfg.Media = a.Rules, a.Engine, a.Reloader, a.Outbox, a.Menu, a.Media
		cfg.Location, cfg.Sessions = a.Engine.Location(), b.bot.Store()
	}
	h, err := console.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("--console-users: %w", err)
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return nil, fmt.Errorf("--console-listen %s: %w", c.listen, err)
	}
	// The console has its own log-in, so a wildcard bind is allowed; but its
	// passwords and session cookies then cross the network in clear unless
	// something in front speaks HTTPS.
	if _, wildcard := admin.Exposed(ln.Addr()); wildcard {
		b.log.Warn("the console is reachable from every network (a wildcard --console-listen): its log-in is all that guards "+
			"the rules and the menu; bind it to 127.0.0.1 behind a proxy that speaks HTTPS (README: Running behind nginx with TLS)",
			"addr", ln.Addr().String())
	}
	// An edit form may carry a 10 MB image from an office's slow uplink,
	// then an upload to WeChat and a publish that runs every rule test.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 2 * time.Minute,
		WriteTimeout: 4 * time.Minute, IdleTimeout: 2 * time.Minute}
	go func() { errc <- srv.Serve(ln) }()
	if cfg.Accounts != nil {
		b.log.Info("console listening", "addr", ln.Addr().String(), "accounts", "/a/NAME/")
	} else {
		b.log.Info("console listening", "addr", ln.Addr().String(), "editable", consoleEditable(b.s.rules))
	}
	return srv, nil
}

func consoleEditable(rules string) bool {
	st, err := os.Stat(rules)
	return err == nil && st.IsDir()
}

// consoleAccount is what the console edits of a bot whose rules are at
// rules.
func consoleAccount(rules string, b *bot.Bot) console.Account {
	a := console.Account{Rules: rules, Engine: b.Engine(), Reloader: b.Reloader(), Outbox: b.Store()}
	if client := b.Client(); client != nil {
		a.Menu = client // the outbox's client: one access_token for both
		a.Media = client
	}
	return a
}

// consoleAccounts are the running accounts, for the console (asked at
// every request: the accounts file changes).
func (f *fleet) consoleAccounts() []console.Account {
	bots := *f.bots.Load()
	out := make([]console.Account, 0, len(bots))
	for name, fb := range bots {
		a := consoleAccount(fb.acct.Rules, fb.bot)
		a.Name = name
		out = append(out, a)
	}
	return out
}

func runConsole(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, commands["console"])
	var users, only string
	fs.StringVar(&users, "console-users", "", "the users file to write (created when absent)")
	fs.StringVar(&only, "only", "", "with serve --accounts: the accounts NAME may edit, comma-separated (default: all; a password change keeps the user's list)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[0] != "adduser" {
		return usagef("usage: wxbot console adduser NAME --console-users FILE")
	}
	name := pos[1]
	if users == "" {
		return usagef("console adduser: --console-users FILE is required (the file serve reads)")
	}
	if !console.ValidName(name) {
		return usagef("console adduser: name %q: want 1-64 letters, digits, '.', '_', '-' or '@'", name)
	}
	suffix := ""
	if only != "" {
		suffix = " accounts=" + only
		if _, err := accounts.ParseOnly(suffix); err != nil {
			return usagef("console adduser: --only: %s", err)
		}
	}
	password, err := readPassword(env, consoleStdin)
	if err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("console adduser: %w", err)
	}
	replaced, err := writeUser(users, name, string(hash), suffix)
	if err != nil {
		return err
	}
	verb := "added"
	if replaced {
		verb = "changed the password of"
	}
	fmt.Fprintf(env.stdout, "%s %s in %s (a running console reads it at the next log-in)\n", verb, name, users)
	return nil
}

// consoleStdin is where adduser reads the password.
var consoleStdin io.Reader = os.Stdin

// readPassword reads the password: with a prompt and no echo, twice, on a
// terminal; else the first line of standard input.
func readPassword(env *cmdEnv, in io.Reader) (string, error) {
	var pw string
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(env.stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		fmt.Fprint(env.stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ: nothing written")
		}
		pw = string(a)
	} else {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the password from standard input: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	switch {
	case len(pw) < 8:
		return "", errors.New("the password is shorter than 8 characters: nothing written")
	case len(pw) > 72:
		return "", errors.New("the password is longer than 72 bytes, which bcrypt cannot use: nothing written")
	}
	return pw, nil
}

// writeUser sets name's line in the users file (kept 0600), replacing an
// existing line of that name (keeping its accounts when suffix, the
// line's end after the hash, is empty); it reports whether one was
// replaced.
func writeUser(path, name, hash, suffix string) (bool, error) {
	return writeNamedLine("console users", path, name, hash, suffix)
}

// writeNamedLine is writeUser for any file of `name: hash[ accounts=…]`
// lines (the API tokens file too); what names the file in errors.
func writeNamedLine(what, path, name, hash, suffix string) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	var out []string
	replaced := false
	for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if n, rest, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(n) == name && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			keep := suffix
			if f := strings.Fields(rest); keep == "" && len(f) > 1 {
				keep = " " + strings.Join(f[1:], " ")
			}
			l, replaced = name+": "+hash+keep, true
		}
		if l != "" || len(out) > 0 {
			out = append(out, l)
		}
	}
	if !replaced {
		out = append(out, name+": "+hash+suffix)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(strings.Join(out, "\n") + "\n"); err != nil {
		tmp.Close()
		return false, fmt.Errorf("%s: %w", what, err)
	}
	if err := tmp.Close(); err != nil { // CreateTemp made it 0600
		return false, fmt.Errorf("%s: %w", what, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return replaced, nil
}

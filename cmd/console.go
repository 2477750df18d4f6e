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
}

func (c *consoleFlags) register(fs *flagSet) {
	fs.StringVar(&c.listen, "console-listen", "", "the marketers' web console listener (e.g. 127.0.0.1:9091); empty disables")
	fs.StringVar(&c.users, "console-users", "", "the console's users: `name: bcrypt-hash` lines (wxbot console adduser NAME writes one)")
}

func (c *consoleFlags) check() error {
	if c.listen != "" && c.users == "" {
		return usagef("--console-listen needs --console-users FILE (create it with: wxbot console adduser NAME --console-users FILE)")
	}
	return nil
}

// listenConsole starts the console when --console-listen is set (nil
// server otherwise); its listener's failure ends serve as the others' do.
func (b *server) listenConsole(errc chan<- error) (*http.Server, error) {
	c := b.s.console
	if c.listen == "" || b.bot == nil {
		return nil, nil
	}
	eng := b.bot.Engine()
	cfg := console.Config{Rules: b.s.rules, Users: c.users, Engine: eng, Reloader: b.bot.Reloader(),
		Outbox: b.bot.Store(), Location: eng.Location(), Logger: b.log.With("component", "console")}
	if client := b.bot.Client(); client != nil {
		cfg.Menu = client // the outbox's client: one access_token for both
	}
	h, err := console.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("--console-users: %w", err)
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return nil, fmt.Errorf("--console-listen %s: %w", c.listen, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute} // a publish runs every rule test
	go func() { errc <- srv.Serve(ln) }()
	b.log.Info("console listening", "addr", ln.Addr().String(), "editable", consoleEditable(b.s.rules))
	return srv, nil
}

func consoleEditable(rules string) bool {
	st, err := os.Stat(rules)
	return err == nil && st.IsDir()
}

func runConsole(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, commands["console"])
	var users string
	fs.StringVar(&users, "console-users", "", "the users file to write (created when absent)")
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
	password, err := readPassword(env, consoleStdin)
	if err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("console adduser: %w", err)
	}
	replaced, err := writeUser(users, name, string(hash))
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
// existing line of that name; it reports whether one was replaced.
func writeUser(path, name, hash string) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("console users: %w", err)
	}
	var out []string
	replaced := false
	for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if n, _, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(n) == name && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			l, replaced = name+": "+hash, true
		}
		if l != "" || len(out) > 0 {
			out = append(out, l)
		}
	}
	if !replaced {
		out = append(out, name+": "+hash)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return false, fmt.Errorf("console users: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(strings.Join(out, "\n") + "\n"); err != nil {
		tmp.Close()
		return false, fmt.Errorf("console users: %w", err)
	}
	if err := tmp.Close(); err != nil { // CreateTemp made it 0600
		return false, fmt.Errorf("console users: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return false, fmt.Errorf("console users: %w", err)
	}
	return replaced, nil
}

package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"syscall"

	_ "time/tzdata" // --timezone works on hosts without a zoneinfo database

	_ "github.com/wxbot/wxbot/actions" // the built-in actions
)

// Main runs the command line and exits with its status.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // the first signal starts a graceful stop; a second one exits at once
	}()
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// command is one subcommand.
type command struct {
	name    string
	args    string // the positional arguments, for usage
	summary string
	run     func(ctx context.Context, env *cmdEnv, args []string) error
	// hidden commands are for wxbot's own use (bench starts
	// bench-baseline): not listed in the usage.
	hidden bool
}

// cmdEnv is what a command writes to.
type cmdEnv struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// errUsage marks an error in how the command was called: exit status 2.
var errUsage = errors.New("usage")

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return errUsage }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// Run runs one wxbot command line (without the program name) and returns the
// exit status. Tests call it directly.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, &cmdEnv{stdout: stdout, stderr: stderr, getenv: os.Getenv})
}

func run(ctx context.Context, args []string, env *cmdEnv) int {
	if len(args) == 0 || (len(args) == 1 && args[0] == "help") || args[0] == "-h" || args[0] == "--help" {
		printUsage(env.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "--version", "-version", "-v":
		args = append([]string{"version"}, args[1:]...)
	}
	if len(args) == 2 && args[0] == "help" {
		args = []string{args[1], "-h"} // wxbot help serve: serve's flags
	}
	c, ok := commands[args[0]]
	if !ok {
		if strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(env.stderr, "wxbot: %s: flags go after the command (wxbot COMMAND %s); run wxbot -h for the commands\n", args[0], args[0])
			return exitUsage
		}
		fmt.Fprintf(env.stderr, "wxbot: unknown command %q (known: %s)\n", args[0], strings.Join(commandNames(), ", "))
		return exitUsage
	}
	err := c.run(ctx, env, args[1:])
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(env.stderr, "wxbot %s: %s\n", c.name, redactSecrets(err.Error()))
		return exitUsage
	case errors.Is(err, errSilent):
		return exitError
	default:
		fmt.Fprintf(env.stderr, "wxbot %s: %s\n", c.name, redactSecrets(err.Error()))
		return exitError
	}
}

var (
	urlPasswordRE = regexp.MustCompile(`(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s"]*:)[^@/\s"]+@`)
	secretParamRE = regexp.MustCompile(`(?i)\b(access_token|secret|appsecret|password)=[^&\s"]+`)
)

// redactSecrets hides what a URL in an error may carry: the password of
// user:password@host, and access_token, secret or password parameters.
// Every error a command prints goes through it, whichever flag (--store,
// --api-base, --url, …) held the URL.
func redactSecrets(s string) string {
	s = urlPasswordRE.ReplaceAllString(s, "${1}xxxxx@")
	return secretParamRE.ReplaceAllString(s, "${1}=xxxxx")
}

// errSilent is a failure the command has already reported.
var errSilent = errors.New("failed")

// commandNames are the commands an operator runs: hidden ones are left out.
func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "wxbot: a customer-service bot for WeChat Official Accounts")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: wxbot COMMAND [flags] [args]")
	fmt.Fprintln(w)
	for _, n := range commandNames() {
		// the first line only: simulate's KIND list belongs to simulate -h
		first, _, _ := strings.Cut(commands[n].summary, "\n")
		for i, line := range wrapWords(first, 66) {
			name := ""
			if i == 0 {
				name = n
			}
			fmt.Fprintf(w, "  %-10s %s\n", name, line)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'wxbot COMMAND -h' for a command's flags; every flag can also be set")
	fmt.Fprintln(w, "through WXBOT_<FLAG> in the environment (e.g. WXBOT_TOKEN). New here? wxbot init")
	fmt.Fprintln(w, "writes starter rules; wxbot --version prints the version.")
}

// wrapWords breaks s into lines of at most width bytes, at spaces (a
// longer word gets a line of its own).
func wrapWords(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case len(line)+1+len(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	return append(lines, line)
}

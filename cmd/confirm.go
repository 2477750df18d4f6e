package cmd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// Destructive commands (menu delete, kf delete, outbox drop, state delete)
// ask first on a terminal; a script says --yes, so that a command pasted
// into a pipeline never deletes by surprise.

// confirmStdin is where the question's answer is read; tests replace it.
var confirmStdin io.Reader = os.Stdin

// yesFlag is --yes.
func yesFlag(fs *flagSet) *bool {
	return fs.Bool("yes", false, "delete, drop: do it without asking (required when standard input is not a terminal)")
}

// errDeclined is an operator's no: nothing was done, exit 1.
var errDeclined = errors.New("not confirmed: nothing was done")

// confirm returns nil when what ("delete the menu") may be done: --yes was given, or the
// operator answered yes on the terminal.
func confirm(env *cmdEnv, yes bool, what string) error {
	if yes {
		return nil
	}
	f, ok := confirmStdin.(*os.File)
	return ask(env, confirmStdin, ok && term.IsTerminal(int(f.Fd())), what)
}

// ask puts the question to a terminal (interactive), or refuses with a
// usage error that names --yes.
func ask(env *cmdEnv, in io.Reader, interactive bool, what string) error {
	if !interactive {
		return usagef("to %s, add --yes: it cannot be undone, and without a terminal to ask on, --yes is the confirmation", what)
	}
	fmt.Fprintf(env.stderr, "%s%s? This cannot be undone. [y/N] ", strings.ToUpper(what[:1]), what[1:])
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(env.stderr)
		return errDeclined
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errDeclined
}

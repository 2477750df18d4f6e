package cmd

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// flagSet is a flag.FlagSet whose flags also read WXBOT_* variables.
type flagSet struct {
	*flag.FlagSet
	env    *cmdEnv
	hidden map[string]bool // flags for wxbot's own tests, left out of -h
}

func newFlagSet(env *cmdEnv, c *command) *flagSet {
	fs := flag.NewFlagSet("wxbot "+c.name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	f := &flagSet{FlagSet: fs, env: env, hidden: map[string]bool{}}
	fs.Usage = func() { f.usage(env.stderr, c) }
	return f
}

// hide leaves a flag out of the help.
func (fs *flagSet) hide(name string) { fs.hidden[name] = true }

// usage is a command's -h. flag.PrintDefaults is not used: it takes the
// first `quoted` words of a usage as the value's placeholder, which turns
// prose such as "of `wxbot serve`" into "-admin wxbot serve".
func (fs *flagSet) usage(w io.Writer, c *command) {
	line := "wxbot " + c.name
	if fs.hasVisible() {
		line += " [flags]"
	}
	if c.args != "" {
		line += " " + c.args
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", line, c.summary)
	if !fs.hasVisible() {
		return
	}
	fmt.Fprintf(w, "\nFlags (each also read from WXBOT_<NAME>):\n")
	fs.VisitAll(func(f *flag.Flag) {
		if fs.hidden[f.Name] {
			return
		}
		plain := *f
		plain.Usage = strings.ReplaceAll(f.Usage, "`", "")
		typ, text := flag.UnquoteUsage(&plain)
		head := "  -" + f.Name
		if typ != "" {
			head += " " + typ
		}
		if d := f.DefValue; d != "" && d != "0" && d != "false" && d != "0s" {
			if typ == "string" {
				d = strconv.Quote(d)
			}
			text += " (default " + d + ")"
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", head, strings.ReplaceAll(text, "\n", "\n    \t"))
	})
}

func (fs *flagSet) hasVisible() bool {
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		if !fs.hidden[f.Name] {
			n++
		}
	})
	return n > 0
}

// EnvName is the environment variable of a flag.
func EnvName(flagName string) string {
	return "WXBOT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse parses args, then fills every flag not given on the command line
// from its environment variable. Flags may come before or after positional
// arguments.
func (fs *flagSet) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...) // after "--" everything is positional
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := EnvName(f.Name)
		if v := fs.env.getenv(name); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = usagef("%s: %v", name, e)
			}
		}
	})
	return pos, err
}

// logFlags are the logging settings every long-running command takes.
type logFlags struct {
	format, level string
}

func (l *logFlags) register(fs *flagSet) {
	fs.StringVar(&l.format, "log-format", "auto", "auto (colored text on a terminal, JSON otherwise), text or json")
	fs.StringVar(&l.level, "log-level", "info", "debug, info, warn or error")
}

// protoFlags are what it takes to speak the callback protocol.
type protoFlags struct {
	token, aesKey, appID string
}

func (p *protoFlags) register(fs *flagSet) {
	fs.StringVar(&p.token, "token", "", "the Token set in the WeChat console (required)")
	fs.StringVar(&p.aesKey, "aes-key", "", "EncodingAESKey (43 characters); enables safe and compatible mode")
	fs.StringVar(&p.appID, "appid", "", "AppID; required with --aes-key")
}

func (p *protoFlags) check() error {
	if p.token == "" {
		return usagef("--token (or WXBOT_TOKEN) is required: the Token from the console's server configuration")
	}
	if p.aesKey != "" && p.appID == "" {
		return usagef("--aes-key needs --appid (or WXBOT_APPID): encrypted messages end with the AppID")
	}
	return nil
}

func loadLocation(name string) (*time.Location, error) {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, usagef("--timezone %q: %v (use an IANA name such as Asia/Shanghai)", name, err)
	}
	return loc, nil
}

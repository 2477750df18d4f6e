package cmd

import (
	"flag"
	"strings"

	"github.com/wxbot/wxbot/cmd/accounts"
)

// accountFlags are --accounts FILE and --account NAME: the commands that
// call a running bot or the API act for one account of a serve with
// --accounts.
type accountFlags struct {
	file, name string
}

func (a *accountFlags) register(fs *flagSet) {
	fs.StringVar(&a.file, "accounts", "", "the accounts file of `wxbot serve --accounts`, to act for one of its accounts (with --account)")
	fs.StringVar(&a.name, "account", "", "with --accounts: the account to act for")
}

// load returns the account named by --account; ok is false without one.
func (a *accountFlags) load(env *cmdEnv) (acct accounts.Account, ok bool, err error) {
	switch {
	case a.name == "":
		return accounts.Account{}, false, nil
	case a.file == "":
		return accounts.Account{}, false, usagef("--account %s needs --accounts FILE (or WXBOT_ACCOUNTS): the file of `wxbot serve --accounts`", a.name)
	}
	f, err := accounts.Load(a.file, env.getenv)
	if err != nil {
		return accounts.Account{}, false, usagef("--accounts: %v", err)
	}
	acct, err = f.Find(a.name)
	if err != nil {
		return accounts.Account{}, false, usagef("--account: %v", err)
	}
	return acct, true, nil
}

// refuseWith refuses flags that --account replaces, when given.
func refuseWith(fs *flagSet, account string, names ...string) error {
	var given []string
	fs.Visit(func(f *flag.Flag) {
		for _, n := range names {
			if f.Name == n {
				given = append(given, "--"+n)
			}
		}
	})
	if len(given) > 0 {
		return usagef("%s: not with --account %s, whose come from the accounts file", strings.Join(given, ", "), account)
	}
	return nil
}

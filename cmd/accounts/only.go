package accounts

import (
	"fmt"
	"strings"
)

// ValidName reports whether a is an account's name as the accounts file
// spells it.
func ValidName(a string) bool { return nameRE.MatchString(a) }

// ParseOnly reads what follows the hash on a line of the console's users
// file or the send API's tokens file: nothing (nil: every account), or
// accounts=NAME,NAME, the accounts the user or token may use.
func ParseOnly(rest string) ([]string, error) {
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return nil, nil
	}
	list, ok := strings.CutPrefix(fields[0], "accounts=")
	if !ok || len(fields) > 1 {
		return nil, fmt.Errorf("after the hash, want nothing or accounts=NAME,NAME (the accounts it may use), not %q", strings.Join(fields, " "))
	}
	names := strings.Split(list, ",")
	for _, a := range names {
		if !ValidName(a) {
			return nil, fmt.Errorf("accounts=%s: %q is not an account name (lowercase letters, digits and '-', at most 32)", list, a)
		}
	}
	return names, nil
}

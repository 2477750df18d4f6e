package accounts

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong in an accounts file. Its message never holds
// a secret's value.
type Problem struct {
	// File is the file's name as given to Load or Parse.
	File string
	// Line is 1-based; 0 for a problem of the whole file (its size).
	Line int
	// Account names the account as the message does: `account "shop"`,
	// or `accounts[2]` (0-based) while its name is missing or invalid;
	// "" for a problem outside any account.
	Account string
	// Field is the field at fault ("token_env"), or "" for the account or
	// the file as a whole.
	Field string
	// Msg says what is wrong and what to do.
	Msg string
}

// String formats the problem as FILE:LINE: ACCOUNT: FIELD: MSG, leaving
// out the parts that are empty.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Account != "" {
		b.WriteString(p.Account + ": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is an accounts file that did not load: every problem found, in
// file order.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	if len(lines) == 1 {
		return lines[0]
	}
	file := ""
	if len(e.Problems) > 0 {
		file = e.Problems[0].File
	}
	return fmt.Sprintf("%d problems in %s:\n%s", len(lines), file, strings.Join(lines, "\n"))
}

package rules

import (
	"fmt"
	"strings"

	"github.com/wxbot/wxbot/engine"
)

// Severity tells errors, which stop a file from loading, from warnings.
type Severity int

const (
	SevError Severity = iota
	SevWarning
)

// Diagnostic is one problem in a rules file.
type Diagnostic struct {
	Pos      engine.Pos
	Severity Severity
	Msg      string
}

// String formats the diagnostic as FILE:LINE:COL: [warning: ]message.
func (d Diagnostic) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: ", d.Pos.File, d.Pos.Line, d.Pos.Col)
	if d.Severity == SevWarning {
		b.WriteString("warning: ")
	}
	b.WriteString(d.Msg)
	return b.String()
}

// Diagnostics is every problem found in a load, in file order.
type Diagnostics []Diagnostic

// Errors returns the diagnostics that are errors.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == SevError {
			out = append(out, d)
		}
	}
	return out
}

// Warnings returns the diagnostics that are warnings.
func (ds Diagnostics) Warnings() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == SevWarning {
			out = append(out, d)
		}
	}
	return out
}

func (ds Diagnostics) String() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Error is a rules file that did not load. Diags holds every diagnostic,
// warnings included, for `wxbot check`; the message lists the errors.
type Error struct {
	Diags Diagnostics
}

func (e *Error) Error() string {
	errs := e.Diags.Errors()
	if len(errs) == 1 {
		return errs[0].String()
	}
	return fmt.Sprintf("%d errors in rules:\n%s", len(errs), errs.String())
}

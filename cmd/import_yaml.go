package cmd

// Writing what an import made: rules and tests as YAML that rules.yaml
// reads, with the comments that say what could not be carried over.

import (
	"bytes"
	"strings"

	"github.com/wxbot/wxbot/rules"
)

// writeImportedRules writes imported rules (commented out where they cannot be
// carried over) and, after header, their tests; it returns how many tests.
func writeImportedRules(b *bytes.Buffer, out []importedRule, header string) (int, error) {
	var tests []testOut
	for _, ir := range out {
		y, err := yamlItem(ir.rule)
		if err != nil {
			return 0, err
		}
		b.WriteString("\n")
		for _, c := range ir.comments {
			b.WriteString(indentComment("  # ", c))
		}
		for _, line := range strings.SplitAfter(strings.TrimRight(y, "\n"), "\n") {
			if ir.commented {
				b.WriteString("  # " + line)
			} else {
				b.WriteString("  " + line)
			}
		}
		b.WriteString("\n")
		tests = append(tests, ir.tests...)
	}
	if len(tests) > 0 {
		b.WriteString(header)
		for _, t := range tests {
			y, err := yamlItem(t)
			if err != nil {
				return 0, err
			}
			for _, line := range strings.SplitAfter(strings.TrimRight(y, "\n"), "\n") {
				b.WriteString("  " + line)
			}
			b.WriteString("\n")
		}
	}
	return len(tests), nil
}

// indentComment writes c as comment lines with prefix.
func indentComment(prefix, c string) string {
	var b strings.Builder
	for _, l := range strings.Split(c, "\n") {
		b.WriteString(strings.TrimRight(prefix+l, " ") + "\n")
	}
	return b.String()
}

// yamlItem is v as one item of a YAML list ("- a: 1\n  b: 2\n").
func yamlItem(v any) (string, error) {
	b, err := rules.MarshalYAML([]any{v})
	return string(b), err
}

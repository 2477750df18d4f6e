package mdtext

import (
	"regexp"
	"strings"
)

// delimRow is a table's second line: cells of dashes, with colons for the
// alignment.
var delimRow = regexp.MustCompile(`^[ \t]*\|?(?:[ \t]*:?-+:?[ \t]*\|)*[ \t]*:?-+:?[ \t]*\|?[ \t]*$`)

// table converts the table whose header is line i (raw, without quote
// markers), if it is one, and returns the index of the line after it; i
// when it is not a table. A row is its cells joined by " | ": a phone is
// too narrow for aligned columns, and WeChat's font is proportional.
func (c *converter) table(raw string, i int) int {
	if i+1 >= len(c.in) || !strings.Contains(raw, "|") || otherBlock(raw) {
		return i
	}
	next, _ := stripQuotes(c.in[i+1], -1)
	if !strings.Contains(next, "|") || !delimRow.MatchString(next) {
		return i
	}
	head := cells(raw)
	if len(head) != len(cells(next)) {
		return i
	}
	c.lists = c.lists[:0]
	c.emit(line{text: c.row(head)})
	j := i + 2
	for ; j < len(c.in); j++ {
		s, _ := stripQuotes(c.in[j], -1)
		if _, _, fence := fenceOpen(s); fence || !strings.Contains(s, "|") || otherBlock(s) {
			break
		}
		c.emit(line{text: c.row(cells(s))})
	}
	return j
}

// otherBlock reports whether a line starts a block that a table's header
// cannot be.
func otherBlock(s string) bool {
	return headingLine.MatchString(s) || hrLine.MatchString(s) || bulletLine.MatchString(s) || orderedLine.MatchString(s)
}

// cells splits a table row at its unescaped pipes, without the optional
// outer ones.
func cells(s string) []string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "|")
	if strings.HasSuffix(s, "|") && !escaped(s, len(s)-1) {
		s = s[:len(s)-1]
	}
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '|' && !escaped(s, i) {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// escaped reports whether s[i] follows an odd number of backslashes.
func escaped(s string, i int) bool {
	n := 0
	for i > 0 && s[i-1] == '\\' {
		n++
		i--
	}
	return n%2 == 1
}

// row joins a row's converted cells; an empty cell leaves its separator.
func (c *converter) row(cs []string) string {
	var b strings.Builder
	for i, cell := range cs {
		if i > 0 {
			b.WriteString(" |")
		}
		if cell = strings.TrimSpace(c.inline(strings.TrimSpace(cell), true)); cell != "" {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(cell)
		}
	}
	return b.String()
}

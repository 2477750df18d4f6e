package mdtext

import "strings"

// fenceOpen reports whether s opens a fenced code block: three or more
// backticks or tildes (a backtick fence's info string has no backtick).
// Any indentation is accepted: models indent fences under list items by
// three or four spaces, which CommonMark would read as indented code.
func fenceOpen(s string) (indent int, fence string, ok bool) {
	t := strings.TrimLeft(s, " \t")
	if len(t) < 3 || (t[0] != '`' && t[0] != '~') {
		return 0, "", false
	}
	n := 0
	for n < len(t) && t[n] == t[0] {
		n++
	}
	if n < 3 || (t[0] == '`' && strings.Contains(t[n:], "`")) {
		return 0, "", false
	}
	return indentWidth(s[:len(s)-len(t)]), t[:n], true
}

// fenceClose reports whether s closes a block opened with fence.
func fenceClose(s, fence string) bool {
	t := strings.TrimSpace(s)
	return len(t) >= len(fence) && strings.Trim(t, fence[:1]) == ""
}

// fenced copies a code block's lines, from line i to its closing fence (or
// the end: an unclosed block runs to the end, as in CommonMark), without
// the opener's indentation and quote markers. It returns the index of the
// line after the block.
func (c *converter) fenced(i, depth, indent int, fence string) int {
	c.lists = c.lists[:0]
	for ; i < len(c.in); i++ {
		s := c.in[i]
		if depth > 0 {
			s, _ = stripQuotes(s, depth)
		}
		if fenceClose(s, fence) {
			return i + 1
		}
		c.emit(line{text: dedent(s, indent), verbatim: true})
	}
	return i
}

// dedent removes up to width columns of leading blanks.
func dedent(s string, width int) string {
	w := 0
	for i, r := range s {
		switch {
		case w >= width:
			return s[i:]
		case r == ' ':
			w++
		case r == '\t':
			w += 4
		default:
			return s[i:]
		}
	}
	if w <= width {
		return ""
	}
	return s
}

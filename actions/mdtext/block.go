package mdtext

import (
	"regexp"
	"strings"
)

// line is one line of output; verbatim lines (a code block's) are kept as
// they are, blank runs and trailing spaces included.
type line struct {
	text     string
	verbatim bool
	para     bool // a paragraph's line: a setext underline may make it a heading
}

// converter holds the state of one conversion.
type converter struct {
	in    []string
	out   []line
	lists []int           // the indentation of the open list levels, outermost first
	refs  map[string]bool // the labels of the link definitions, lower-cased
}

// Plain converts Markdown to plain text; see the package doc.
func Plain(md string) string {
	md = strings.ReplaceAll(md, "\r\n", "\n")
	md = strings.ReplaceAll(md, "\r", "\n")
	c := &converter{in: strings.Split(md, "\n"), refs: map[string]bool{}}
	for _, l := range c.in {
		if s, _ := stripQuotes(l, -1); refDefLine.MatchString(s) {
			c.refs[strings.ToLower(refDefLine.FindStringSubmatch(s)[1])] = true
		}
	}
	for i := 0; i < len(c.in); {
		i = c.block(i)
	}
	return c.finish()
}

var (
	hrLine      = regexp.MustCompile(`^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$`)
	setextLine  = regexp.MustCompile(`^ {0,3}=+[ \t]*$`)
	headingLine = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	bulletLine  = regexp.MustCompile(`^([ \t]*)[-*+][ \t]+(\S.*)$`)
	orderedLine = regexp.MustCompile(`^([ \t]*)(\d{1,9}[.)])[ \t]+(\S.*)$`)
	// refDefLine is a link definition whose destination looks like a URL
	// or a path, not "[注意]: 请带证件".
	refDefLine = regexp.MustCompile(`^ {0,3}\[([^\[\]]{1,999})\]:[ \t]*(<[^<>]*>|[!-~]*[:/.#][!-~]*)(?:[ \t]+(?:"[^"]*"|'[^']*'))?[ \t]*$`)
	taskPrefix = regexp.MustCompile(`^\[([ xX])\][ \t]+`)
	language   = regexp.MustCompile(`^[\w+#.-]{0,32}$`)
)

// block converts the block starting at line i and returns the next line's
// index.
func (c *converter) block(i int) int {
	raw, depth := stripQuotes(c.in[i], -1)
	if ind, fence, ok := fenceOpen(raw); ok {
		// The language (```python) is for a renderer; anything else after
		// the fence is text someone wrote, and stays.
		if info := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(raw), fence[:1])); !language.MatchString(info) {
			c.emit(line{text: info, verbatim: true})
		}
		return c.fenced(i+1, depth, ind, fence)
	}
	if strings.TrimSpace(raw) == "" {
		c.emit(line{})
		return i + 1
	}
	if n := c.table(raw, i); n > i {
		return n
	}
	c.lineBlock(raw)
	return i + 1
}

// lineBlock converts a line that is a block of its own or a paragraph's.
func (c *converter) lineBlock(raw string) {
	if ind := indentWidth(raw); ind == 0 && !bulletLine.MatchString(raw) && !orderedLine.MatchString(raw) {
		c.lists = c.lists[:0]
	}
	switch {
	case hrLine.MatchString(raw):
		c.emit(line{})
	case setextLine.MatchString(raw) && len(c.out) > 0 && c.out[len(c.out)-1].para:
		prev := c.out[len(c.out)-1].text
		c.out = c.out[:len(c.out)-1]
		c.heading(strings.TrimSpace(prev))
	case headingLine.MatchString(raw):
		m := headingLine.FindStringSubmatch(raw)
		c.heading(c.inline(m[2], false))
	case refDefLine.MatchString(raw):
		m := refDefLine.FindStringSubmatch(raw)
		url := strings.TrimSuffix(strings.TrimPrefix(m[2], "<"), ">")
		c.emit(line{text: "[" + m[1] + "] " + unescape(url)})
	case bulletLine.MatchString(raw):
		m := bulletLine.FindStringSubmatch(raw)
		bullet := c.bullet(indentWidth(m[1])) + " "
		if taskPrefix.MatchString(m[2]) { // the check box is the bullet
			bullet = ""
		}
		c.emit(line{text: m[1] + bullet + c.task(m[2])})
	case orderedLine.MatchString(raw):
		m := orderedLine.FindStringSubmatch(raw)
		c.level(indentWidth(m[1]))
		c.emit(line{text: m[1] + m[2] + " " + c.task(m[3])})
	default:
		lead := raw[:len(raw)-len(strings.TrimLeft(raw, " \t"))]
		c.emit(line{text: lead + c.inline(raw[len(lead):], false), para: true})
	}
}

// heading emits a title on a line of its own in 【】, after a blank line.
func (c *converter) heading(title string) {
	title = strings.TrimSpace(title)
	if title == "" {
		return
	}
	if len(c.out) > 0 && strings.TrimSpace(c.out[len(c.out)-1].text) != "" {
		c.emit(line{})
	}
	if !strings.HasPrefix(title, "【") || !strings.HasSuffix(title, "】") {
		title = "【" + title + "】"
	}
	c.emit(line{text: title})
}

// task converts a list item's text, its check box included.
func (c *converter) task(s string) string {
	if m := taskPrefix.FindStringSubmatch(s); m != nil {
		box := "☐ "
		if m[1] != " " {
			box = "☑ "
		}
		return box + c.inline(s[len(m[0]):], false)
	}
	return c.inline(s, false)
}

func (c *converter) inline(s string, table bool) string {
	return inline(s, opts{table: table, refs: c.refs})
}

// bullet returns the bullet of an item indented by ind: deeper levels get
// lighter bullets, so that nesting still shows where WeChat trims spaces.
func (c *converter) bullet(ind int) string {
	switch c.level(ind) {
	case 0:
		return "•"
	case 1:
		return "◦"
	}
	return "▪"
}

// level returns the nesting level of a list item indented by ind.
func (c *converter) level(ind int) int {
	for len(c.lists) > 0 && c.lists[len(c.lists)-1] > ind {
		c.lists = c.lists[:len(c.lists)-1]
	}
	if len(c.lists) == 0 || c.lists[len(c.lists)-1] < ind {
		c.lists = append(c.lists, ind)
	}
	return len(c.lists) - 1
}

func (c *converter) emit(l line) {
	if !l.verbatim {
		l.text = strings.TrimRight(l.text, " \t")
	}
	c.out = append(c.out, l)
}

// finish joins the lines: one blank line at most between blocks, none at
// either end; a code block's lines stay as they are.
func (c *converter) finish() string {
	var b strings.Builder
	blank, started := false, false
	for _, l := range c.out {
		for i, part := range strings.Split(l.text, "\n") { // <br> made lines
			if !l.verbatim && i > 0 {
				part = strings.TrimRight(part, " \t")
			}
			if !l.verbatim && strings.TrimSpace(part) == "" {
				blank = started
				continue
			}
			if started {
				b.WriteByte('\n')
				if blank {
					b.WriteByte('\n')
				}
			}
			b.WriteString(part)
			blank, started = false, true
		}
	}
	return b.String()
}

// stripQuotes removes up to max block-quote markers (all when max < 0)
// and returns what is left and how many there were.
func stripQuotes(s string, max int) (string, int) {
	depth := 0
	for ; depth != max; depth++ {
		t := strings.TrimLeft(s, " ")
		if len(s)-len(t) > 3 || !strings.HasPrefix(t, ">") {
			break
		}
		s = strings.TrimPrefix(t[1:], " ")
	}
	return s, depth
}

// indentWidth is the width of s's leading blanks, a tab counting 4.
func indentWidth(s string) int {
	w := 0
	for _, r := range s {
		switch r {
		case ' ':
			w++
		case '\t':
			w += 4
		default:
			return w
		}
	}
	return w
}

package mdtext

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tok is a piece of a line: text, a delimiter run (* or _) that may open
// or close emphasis, or the output of markup (code, a link, a URL), which
// emphasis never looks into.
type tok struct {
	s           string
	lit         bool
	delim       byte // '*' or '_' for a delimiter run
	n           int  // the run's characters still unmatched
	open, close bool
}

// Bounds that keep pathological input about linear.
const (
	maxDepth  = 3    // links inside link text are converted this deep
	maxLabel  = 1000 // bytes of link text (CommonMark bounds labels at 999)
	maxDest   = 4096 // bytes of a link destination
	maxTag    = 512  // bytes of an HTML tag or an autolink
	maxParens = 32   // nesting of parentheses in a destination
	maxDunder = 64   // bytes of a __name__ left alone
)

// tableBreak is what <br> becomes in a table cell, whose row is one line.
const tableBreak = " "

// opts are an inline conversion's settings.
type opts struct {
	depth int
	table bool            // in a table cell: line breaks become spaces
	refs  map[string]bool // the labels of the document's link definitions
}

// inline converts the inline markup of one line.
func inline(s string, o opts) string {
	p := &inliner{s: s, o: o}
	p.scan()
	p.emphasis()
	var b strings.Builder
	for _, t := range p.toks {
		if t.delim != 0 {
			b.WriteString(strings.Repeat(string(t.delim), t.n))
		} else {
			b.WriteString(t.s)
		}
	}
	return b.String()
}

type inliner struct {
	s      string
	o      opts
	toks   []tok
	text   int          // where the text not yet in toks starts
	noCode map[int]bool // backtick run lengths with no closing run further on
}

func (p *inliner) scan() {
	s := p.s
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && isASCIIPunct(s[i+1]):
			p.lit(i, i+2, s[i+1:i+2])
			i += 2
		case c == '`':
			i = p.code(i)
		case c == '[' || c == '!' && i+1 < len(s) && s[i+1] == '[':
			i = p.link(i)
		case c == '<':
			i = p.angle(i)
		case c == '*' || c == '_':
			i = p.delimRun(i)
		case (c == 'h' || c == 'H') && startsURL(s[i:]) && (i == 0 || !isASCIIAlnum(s[i-1])):
			i = p.bareURL(i)
		default:
			i++
		}
	}
	p.flush(len(s))
}

// flush adds the text before i.
func (p *inliner) flush(i int) {
	if i > p.text {
		p.toks = append(p.toks, tok{s: p.s[p.text:i]})
	}
	p.text = i
}

// lit replaces s[from:to] with out.
func (p *inliner) lit(from, to int, out string) {
	p.flush(from)
	p.toks = append(p.toks, tok{s: out, lit: true})
	p.text = to
}

// code converts a code span at i to its content; a run of backticks that
// nothing closes is text.
func (p *inliner) code(i int) int {
	s := p.s
	n := runLen(s, i, '`')
	end := i + n
	if p.noCode[n] {
		return end
	}
	for j := end; j < len(s); {
		k := strings.IndexByte(s[j:], '`')
		if k < 0 {
			break
		}
		k += j
		m := runLen(s, k, '`')
		if m == n {
			content := s[end:k]
			if len(content) >= 2 && content[0] == ' ' && content[len(content)-1] == ' ' && strings.Trim(content, " ") != "" {
				content = content[1 : len(content)-1]
			}
			p.lit(i, k+m, content)
			return k + m
		}
		j = k + m
	}
	if p.noCode == nil {
		p.noCode = map[int]bool{}
	}
	p.noCode[n] = true
	return end
}

// link converts an inline link or image at i, or a reference link whose
// label the document defines; other brackets are text.
func (p *inliner) link(i int) int {
	s := p.s
	img := s[i] == '!'
	open := i
	if img {
		open++
	}
	end := matchBracket(s, open)
	if end < 0 {
		return open + 1
	}
	label, rest := s[open+1:end], end+1
	if rest < len(s) && s[rest] == '(' {
		if url, after, ok := destination(s, rest); ok {
			p.lit(i, after, p.linkText(label, url, s[after:]))
			return after
		}
	}
	if !img && rest < len(s) && s[rest] == '[' {
		if ref := matchBracket(s, rest); ref > rest+1 && p.o.refs[strings.ToLower(s[rest+1:ref])] {
			p.lit(i, ref+1, p.sub(label)+s[rest:ref+1])
			return ref + 1
		}
	}
	return open + 1
}

// sub converts link text.
func (p *inliner) sub(s string) string {
	if p.o.depth >= maxDepth {
		return s
	}
	o := p.o
	o.depth++
	return inline(s, o)
}

// linkText is a link as plain text: its text and its URL, which WeChat
// makes clickable. After Chinese text the URL goes in full-width
// parentheses, which read naturally and cannot be taken for part of the
// URL; otherwise it follows a colon, and a space keeps it apart from text
// that could continue it.
func (p *inliner) linkText(label, url, after string) string {
	text := strings.TrimSpace(p.sub(label))
	var out string
	switch {
	case url == "":
		return text
	case text == "" || sameURL(text, url):
		out = url
	case endsCJK(text):
		return text + "（" + url + "）"
	default:
		out = text + ": " + url
	}
	if after != "" && continuesURL(after[0]) {
		out += " "
	}
	return out
}

// sameURL reports whether a link's text is its URL, perhaps without the
// scheme or a trailing slash.
func sameURL(text, url string) bool {
	trim := func(s string) string {
		for _, p := range []string{"https://", "http://", "mailto:", "tel:"} {
			if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
				s = s[len(p):]
				break
			}
		}
		return strings.TrimSuffix(s, "/")
	}
	return text == url || trim(text) == trim(url)
}

func continuesURL(c byte) bool {
	return isASCIIAlnum(c) || strings.IndexByte("/-_~=&#%+@()*[]$", c) >= 0
}

// matchBracket returns the index of the ] that closes the [ at open, or -1.
func matchBracket(s string, open int) int {
	depth := 0
	for i := open + 1; i < len(s) && i-open <= maxLabel; i++ {
		switch s[i] {
		case '\\':
			i++
		case '[':
			depth++
		case ']':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return -1
}

// destination reads "(url "title")" at s[at] == '(' and returns the URL
// (backslash escapes removed) and the index after ")"; the title, a
// tooltip nobody sees in a chat, is left out.
func destination(s string, at int) (url string, end int, ok bool) {
	i := skipBlank(s, at+1)
	var dest string
	if i < len(s) && s[i] == '<' {
		j := i + 1
		for j < len(s) && j-i < maxDest && s[j] != '>' && s[j] != '<' {
			if s[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(s) || s[j] != '>' {
			return "", 0, false
		}
		dest, i = s[i+1:j], j+1
	} else {
		j, depth := i, 0
	scan:
		for ; j < len(s) && j-i < maxDest; j++ {
			switch c := s[j]; {
			case c == '\\' && j+1 < len(s) && isASCIIPunct(s[j+1]):
				j++
			case c == '(':
				if depth++; depth > maxParens {
					return "", 0, false
				}
			case c == ')':
				if depth == 0 {
					break scan
				}
				depth--
			case c <= ' ' || c == 0x7f:
				break scan
			}
		}
		if depth != 0 || j > len(s) {
			return "", 0, false
		}
		dest, i = s[i:j], j
	}
	if k := skipBlank(s, i); k > i && k < len(s) && (s[k] == '"' || s[k] == '\'') {
		j := k + 1
		for j < len(s) && s[j] != s[k] {
			if s[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(s) {
			return "", 0, false
		}
		i = j + 1
	}
	if i = skipBlank(s, i); i >= len(s) || s[i] != ')' {
		return "", 0, false
	}
	return unescape(dest), i + 1, true
}

var (
	autolink  = regexp.MustCompile(`^(?i:https?|ftp|mailto|tel|sms|weixin):[^\s<>]+$`)
	emailLink = regexp.MustCompile(`^[a-zA-Z0-9.!#$%&'*+/=?^_{|}~-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+$`)
	// htmlTag is a tag whose attributes cannot hide a link or code.
	htmlTag = regexp.MustCompile("^/?([a-zA-Z][a-zA-Z0-9]*)(?:\\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:\\s*=\\s*(?:\"[^\"\\[\\]()`]*\"|'[^'\\[\\]()`]*'|[^\\s\"'=<>`\\[\\]()]+))?)*\\s*/?$")
)

// htmlTags are the tags models put in answers, and what each becomes:
// true for a line break.
var htmlTags = map[string]bool{
	"br": true, "hr": true,
	"p": false, "div": false, "li": false, "ul": false, "ol": false, "blockquote": false,
	"details": false, "summary": false, "center": false,
	"b": false, "strong": false, "i": false, "em": false, "u": false, "s": false,
	"del": false, "ins": false, "mark": false, "sup": false, "sub": false,
	"small": false, "big": false, "span": false, "font": false, "kbd": false,
	"code": false, "tt": false,
}

// blockTags end a line where they close.
var blockTags = map[string]bool{"p": true, "div": true, "li": true, "blockquote": true, "details": true, "summary": true, "center": true}

// angle converts an autolink (<https://…>) to its URL and drops a known
// HTML tag; anything else in angle brackets (<你的姓名>, a < b) is text.
func (p *inliner) angle(i int) int {
	s := p.s
	window := s[i:min(len(s), i+maxTag)]
	end := strings.IndexByte(window, '>')
	if end < 0 {
		return i + 1
	}
	inner := s[i+1 : i+end]
	if autolink.MatchString(inner) || emailLink.MatchString(inner) {
		p.lit(i, i+end+1, inner)
		return i + end + 1
	}
	m := htmlTag.FindStringSubmatch(inner)
	if m == nil {
		return i + 1
	}
	name := strings.ToLower(m[1])
	brk, known := htmlTags[name]
	if !known {
		return i + 1
	}
	out := ""
	if brk || blockTags[name] && strings.HasPrefix(inner, "/") {
		out = "\n"
		if p.o.table {
			out = tableBreak
		}
	}
	p.lit(i, i+end+1, out)
	return i + end + 1
}

// bareURL keeps a URL as it is: underscores and asterisks in it are not
// emphasis. Trailing punctuation and an unbalanced ")" are not part of it.
func (p *inliner) bareURL(i int) int {
	s := p.s
	j := i
	for j < len(s) && s[j] > ' ' && s[j] < 0x7f && strings.IndexByte("<>`\\\"", s[j]) < 0 {
		j++
	}
	opens, closes := strings.Count(s[i:j], "("), strings.Count(s[i:j], ")")
	for j > i {
		c := s[j-1]
		if c == ')' && closes > opens {
			closes--
		} else if strings.IndexByte(".,:;!?*_~'", c) < 0 {
			break
		}
		j--
	}
	p.lit(i, j, s[i:j])
	return j
}

// delimRun adds a run of * or _ with whether it may open or close
// emphasis: CommonMark's flanking rules, but a run next to a CJK character
// or CJK punctuation may open and close (models write "**注意：**请…"),
// and an asterisk between ASCII letters or digits is never emphasis
// (2*3*4).
func (p *inliner) delimRun(i int) int {
	s := p.s
	c := s[i]
	n := runLen(s, i, c)
	prev, next := ' ', ' '
	if i > 0 {
		prev, _ = utf8.DecodeLastRuneInString(s[:i])
	}
	if i+n < len(s) {
		next, _ = utf8.DecodeRuneInString(s[i+n:])
	}
	cjk := isCJK(prev) || isCJK(next)
	left := !unicode.IsSpace(next) && (!isPunct(next) || unicode.IsSpace(prev) || isPunct(prev) || cjk)
	right := !unicode.IsSpace(prev) && (!isPunct(prev) || unicode.IsSpace(next) || isPunct(next) || cjk)
	t := tok{s: s[i : i+n], delim: c, n: n, open: left, close: right}
	switch {
	case c == '*' && prev < utf8.RuneSelf && next < utf8.RuneSelf && isASCIIAlnum(byte(prev)) && isASCIIAlnum(byte(next)):
		t.open, t.close = false, false
	case c == '_' && !cjk: // inside a word only between CJK characters, which have no spaces
		t.open = left && (!right || isPunct(prev))
		t.close = right && (!left || isPunct(next))
	}
	p.flush(i)
	p.toks = append(p.toks, t)
	p.text = i + n
	return i + n
}

// emphasis pairs the delimiter runs: each closer with the nearest opener
// of its character, two at a time where both have two. What is left
// unmatched stays in the text.
func (p *inliner) emphasis() {
	var stacks [2][]int // openers of * and of _
	for k := range p.toks {
		t := &p.toks[k]
		if t.delim == 0 {
			continue
		}
		st := &stacks[0]
		if t.delim == '_' {
			st = &stacks[1]
		}
		for t.close && t.n > 0 && len(*st) > 0 {
			top := (*st)[len(*st)-1]
			o := &p.toks[top]
			use := 1
			if o.n >= 2 && t.n >= 2 {
				use = 2
			}
			if t.delim == '_' && p.dunder(top, k) { // a name: neither run is emphasis
				*st = (*st)[:len(*st)-1]
				break
			}
			o.n -= use
			t.n -= use
			if o.n == 0 {
				*st = (*st)[:len(*st)-1]
			}
		}
		if t.open && t.n > 0 {
			*st = append(*st, k)
		}
	}
}

// dunder reports whether the runs at o and k enclose a Python-style
// __name__, which is a name, not bold text.
func (p *inliner) dunder(o, k int) bool {
	if p.toks[o].s != "__" || p.toks[k].s != "__" {
		return false
	}
	n := 0
	for _, t := range p.toks[o+1 : k] {
		if t.lit || t.delim != 0 {
			return false
		}
		if n += len(t.s); n > maxDunder {
			return false
		}
		for i := 0; i < len(t.s); i++ {
			if !isASCIIAlnum(t.s[i]) && t.s[i] != '_' {
				return false
			}
		}
	}
	return n > 0
}

func runLen(s string, i int, c byte) int {
	n := 0
	for i+n < len(s) && s[i+n] == c {
		n++
	}
	return n
}

func skipBlank(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

func startsURL(s string) bool {
	for _, p := range []string{"https://", "http://"} {
		if len(s) > len(p) && strings.EqualFold(s[:len(p)], p) {
			return true
		}
	}
	return false
}

// unescape removes the backslash of each backslash escape.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && isASCIIPunct(s[i+1]) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isASCIIPunct(c byte) bool {
	return c < utf8.RuneSelf && strings.IndexByte("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c) >= 0
}

func isASCIIAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isPunct(r rune) bool { return unicode.IsPunct(r) || unicode.IsSymbol(r) }

// isCJK reports whether r is a Chinese, Japanese or Korean character or
// punctuation (full-width forms and Chinese quotation marks included).
func isCJK(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) ||
		r >= 0x3000 && r <= 0x303f || r >= 0xff00 && r <= 0xffef ||
		r >= 0x2018 && r <= 0x201f || r == 0x2014 || r == 0x2026 || r == 0xb7
}

func endsCJK(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return isCJK(r)
}

package wechat

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The scanner reads the XML subset WeChat sends: an optional <?xml …?>
// declaration, comments, white space, one <xml> root, nested elements whose
// attributes are checked and ignored, text with the five predefined entities
// and numeric character references, and CDATA sections. It yields the leaf
// elements (those without child elements) in document order, as Fields named
// by their path below <xml>.
//
// It is written by hand because it runs on every push: encoding/xml costs
// dozens of allocations per document, this costs none beyond the caller's
// string conversion, since values are substrings of the document unless
// entities, CR characters or several pieces (CDATA next to text, comments
// in between) force a copy.
//
// It never accepts a document that encoding/xml (Strict, the default)
// rejects or reads differently; the differential test and FuzzDecode hold it
// to that. Where it is stricter, that is deliberate: element and attribute
// names are ASCII letters, digits, '_' and '-' (no namespace prefixes, no
// '.', which would make paths ambiguous), a start tag needs white space
// before each attribute, the only processing instruction is a leading XML
// declaration saying version 1.0 and UTF-8, no DOCTYPE, no text or CDATA
// outside the root, and every character must be one XML allows, even in
// comments.

const (
	// maxDepth bounds element nesting, counting <xml> itself; WeChat's
	// deepest is 5 (SendPicsInfo>PicList>item>PicMd5Sum).
	maxDepth = 16
	// maxFields bounds the leaf elements of one document; WeChat's largest
	// pushes (mass-send reports) have a few dozen.
	maxFields = 1024
)

// knownPaths interns the nested paths Decode maps onto Message, so scanning
// the events that carry them allocates no path strings.
var knownPaths = func() map[string]string {
	m := make(map[string]string)
	for _, p := range []string{
		pathScanType, pathScanResult,
		pathPicCount, pathPicMD5Sum,
		pathSendLocX, pathSendLocY, pathSendLocScale, pathSendLocLabel, pathSendLocPoiname,
	} {
		m[p] = p
	}
	return m
}()

// scanFields appends the leaf elements of the document s to fields. Errors
// wrap ErrMalformed and give a byte offset.
func scanFields(fields []Field, s string) ([]Field, error) {
	sc := scanner{s: s, fields: fields, base: len(fields)}
	err := sc.document()
	return sc.fields, err
}

type scanner struct {
	s      string
	fields []Field
	base   int // len(fields) on entry, for the maxFields limit

	depth int              // open elements
	stack [maxDepth]string // their names; stack[0] is the root
	leaf  bool             // the innermost open element has no child element yet

	// The value of the innermost open element so far: s[vStart:vEnd] while
	// it is one clean piece, buf once it had to be built.
	pieces       int
	vStart, vEnd int
	built        bool
	buf          []byte
}

func (sc *scanner) fail(off int, format string, args ...any) error {
	return fmt.Errorf("%w: %s at byte %d", ErrMalformed, fmt.Sprintf(format, args...), off)
}

func (sc *scanner) document() error {
	s := sc.s
	if i := badXMLChar(s); i >= 0 {
		return sc.fail(i, "invalid UTF-8 or a character XML does not allow")
	}
	var err error
	p := skipSpace(s, 0)
	if strings.HasPrefix(s[p:], "<?") {
		if p, err = sc.declaration(p); err != nil {
			return err
		}
	}
	if p, err = sc.misc(p); err != nil {
		return err
	}
	if p == len(s) {
		return sc.fail(p, "no <xml> element")
	}
	if s[p] != '<' {
		return sc.fail(p, "text before <xml>")
	}
	if p+1 < len(s) && (s[p+1] == '!' || s[p+1] == '?' || s[p+1] == '/') {
		return sc.fail(p, "DOCTYPE, processing instruction or end tag before <xml>")
	}
	name, q, empty, err := sc.startTag(p)
	if err != nil {
		return err
	}
	if name != "xml" {
		return sc.fail(p, "root element is <%s>, want <xml>", name)
	}
	p = q
	if !empty {
		sc.stack[0] = name
		sc.depth = 1
		sc.leaf = true
		sc.resetValue()
		if p, err = sc.content(p); err != nil {
			return err
		}
	}
	if p, err = sc.misc(p); err != nil {
		return err
	}
	if p != len(s) {
		return sc.fail(p, "data after </xml>")
	}
	return nil
}

// misc skips white space and comments outside the root.
func (sc *scanner) misc(p int) (int, error) {
	var err error
	for {
		p = skipSpace(sc.s, p)
		if !strings.HasPrefix(sc.s[p:], "<!--") {
			return p, nil
		}
		if p, err = sc.comment(p); err != nil {
			return p, err
		}
	}
}

// declaration checks an XML declaration at p. encoding/xml refuses other
// versions and encodings, so this must too; it is stricter about the form.
func (sc *scanner) declaration(p int) (int, error) {
	s := sc.s
	if !strings.HasPrefix(s[p:], "<?xml") {
		return p, sc.fail(p, "processing instruction before <xml>")
	}
	i := p + len("<?xml")
	end := strings.Index(s[i:], "?>")
	if end < 0 {
		return p, sc.fail(p, "unclosed <?xml declaration")
	}
	end += i
	content := s[i:end]
	var seen [3]bool
	for k := 0; ; {
		j := skipSpace(content, k)
		if j == len(content) {
			break
		}
		if j == k {
			return p, sc.fail(i+j, "malformed <?xml declaration")
		}
		name, n := readName(content, j)
		n = skipSpace(content, n)
		if n == len(content) || content[n] != '=' {
			return p, sc.fail(i+n, "malformed <?xml declaration")
		}
		n = skipSpace(content, n+1)
		if n == len(content) || (content[n] != '"' && content[n] != '\'') {
			return p, sc.fail(i+n, "malformed <?xml declaration")
		}
		e := strings.IndexByte(content[n+1:], content[n])
		if e < 0 {
			return p, sc.fail(i+n, "malformed <?xml declaration")
		}
		val := content[n+1 : n+1+e]
		var idx int
		var ok bool
		switch name {
		case "version":
			idx, ok = 0, val == "1.0"
		case "encoding":
			idx, ok = 1, strings.EqualFold(val, "utf-8")
		case "standalone":
			idx, ok = 2, val == "yes" || val == "no"
		}
		if !ok || seen[idx] {
			return p, sc.fail(i+j, "unsupported <?xml declaration (want version 1.0, UTF-8)")
		}
		seen[idx] = true
		k = n + 1 + e + 1
	}
	return end + len("?>"), nil
}

// content reads from just after the root's start tag to just after its end
// tag.
func (sc *scanner) content(p int) (int, error) {
	s := sc.s
	var err error
	for sc.depth > 0 {
		if p >= len(s) {
			return p, sc.fail(p, "<%s> not closed", sc.stack[sc.depth-1])
		}
		if s[p] != '<' {
			q := strings.IndexByte(s[p:], '<')
			if q < 0 {
				q = len(s)
			} else {
				q += p
			}
			if err = sc.text(p, q); err != nil {
				return p, err
			}
			p = q
			continue
		}
		if p+1 == len(s) {
			return p, sc.fail(p, "document ends after <")
		}
		switch s[p+1] {
		case '/':
			p, err = sc.endTag(p)
		case '!':
			switch {
			case strings.HasPrefix(s[p:], "<!--"):
				p, err = sc.comment(p)
			case strings.HasPrefix(s[p:], "<![CDATA["):
				p, err = sc.cdata(p)
			default:
				err = sc.fail(p, "DOCTYPE or other <! declaration")
			}
		case '?':
			err = sc.fail(p, "processing instruction inside <xml>")
		default:
			p, err = sc.child(p)
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

func (sc *scanner) child(p int) (int, error) {
	name, q, empty, err := sc.startTag(p)
	if err != nil {
		return p, err
	}
	if sc.depth == maxDepth {
		return p, sc.fail(p, "elements nested more than %d deep", maxDepth)
	}
	sc.leaf = false // the parent is not a leaf
	if empty {
		return q, sc.emit(p, sc.stack[1:sc.depth], name, "")
	}
	sc.stack[sc.depth] = name
	sc.depth++
	sc.leaf = true
	sc.resetValue()
	return q, nil
}

// startTag reads <name attr="v" …> or <name …/> at p. Attributes are
// checked the way encoding/xml checks them, then dropped: WeChat sends none.
func (sc *scanner) startTag(p int) (name string, q int, empty bool, err error) {
	s := sc.s
	name, i := readName(s, p+1)
	if name == "" {
		return "", p, false, sc.fail(p+1, "expected an element name after <")
	}
	for {
		j := skipSpace(s, i)
		if j >= len(s) {
			return "", p, false, sc.fail(j, "start tag <%s not closed", name)
		}
		switch s[j] {
		case '>':
			return name, j + 1, false, nil
		case '/':
			if j+1 < len(s) && s[j+1] == '>' {
				return name, j + 2, true, nil
			}
			return "", p, false, sc.fail(j, "expected /> in <%s>", name)
		}
		if j == i {
			return "", p, false, sc.fail(j, "unexpected %q in <%s>", s[j], name)
		}
		attr, k := readName(s, j)
		if attr == "" {
			return "", p, false, sc.fail(j, "unexpected %q in <%s>", s[j], name)
		}
		k = skipSpace(s, k)
		if k >= len(s) || s[k] != '=' {
			return "", p, false, sc.fail(k, "attribute %s of <%s> without a value", attr, name)
		}
		k = skipSpace(s, k+1)
		if k >= len(s) || (s[k] != '"' && s[k] != '\'') {
			return "", p, false, sc.fail(k, "unquoted value of attribute %s of <%s>", attr, name)
		}
		e := strings.IndexByte(s[k+1:], s[k])
		if e < 0 {
			return "", p, false, sc.fail(k, "unclosed value of attribute %s of <%s>", attr, name)
		}
		val := s[k+1 : k+1+e]
		if l := strings.IndexByte(val, '<'); l >= 0 {
			return "", p, false, sc.fail(k+1+l, "< in the value of attribute %s of <%s>", attr, name)
		}
		if strings.IndexByte(val, '&') >= 0 {
			if _, bad := decodeText(nil, val, true, false); bad >= 0 {
				return "", p, false, sc.fail(k+1+bad, "bad entity or character reference")
			}
		}
		i = k + 1 + e + 1
	}
}

func (sc *scanner) endTag(p int) (int, error) {
	s := sc.s
	name, q := readName(s, p+2)
	if name == "" {
		return p, sc.fail(p+2, "expected an element name after </")
	}
	q = skipSpace(s, q)
	if q >= len(s) || s[q] != '>' {
		return p, sc.fail(q, "expected > after </%s", name)
	}
	open := sc.stack[sc.depth-1]
	if name != open {
		return p, sc.fail(p, "<%s> closed by </%s>", open, name)
	}
	sc.depth--
	if sc.leaf && sc.depth > 0 { // the root itself is not a field
		if err := sc.emit(p, sc.stack[1:sc.depth], name, sc.value()); err != nil {
			return p, err
		}
	}
	sc.leaf = false // back in the parent, which has had this child
	return q + 1, nil
}

func (sc *scanner) comment(p int) (int, error) {
	s := sc.s
	start := p + len("<!--")
	i := strings.Index(s[start:], "--")
	if i < 0 {
		return p, sc.fail(p, "unclosed comment")
	}
	e := start + i + 2
	if e >= len(s) || s[e] != '>' {
		return p, sc.fail(start+i, "-- inside a comment")
	}
	return e + 1, nil
}

func (sc *scanner) cdata(p int) (int, error) {
	start := p + len("<![CDATA[")
	i := strings.Index(sc.s[start:], "]]>")
	if i < 0 {
		return p, sc.fail(p, "unclosed CDATA section")
	}
	if sc.leaf {
		if err := sc.piece(start, start+i, false); err != nil {
			return p, err
		}
	}
	return start + i + len("]]>"), nil
}

// text handles character data s[p:q].
func (sc *scanner) text(p, q int) error {
	raw := sc.s[p:q]
	if strings.IndexByte(raw, ']') >= 0 { // mostly white space: skip the costlier search
		if i := strings.Index(raw, "]]>"); i >= 0 {
			return sc.fail(p+i, "]]> outside CDATA")
		}
	}
	if sc.leaf {
		return sc.piece(p, q, true)
	}
	// White space between elements, but it must still be well-formed.
	if strings.IndexByte(raw, '&') >= 0 {
		if _, bad := decodeText(nil, raw, true, false); bad >= 0 {
			return sc.fail(p+bad, "bad entity or character reference")
		}
	}
	return nil
}

func (sc *scanner) resetValue() {
	sc.pieces, sc.vStart, sc.vEnd, sc.built = 0, 0, 0, false
}

// piece appends s[p:q] (text if entities, else CDATA) to the value of the
// innermost element.
func (sc *scanner) piece(p, q int, entities bool) error {
	raw := sc.s[p:q]
	plain := strings.IndexByte(raw, '\r') < 0 && (!entities || strings.IndexByte(raw, '&') < 0)
	if plain && !sc.built {
		switch {
		case sc.pieces == 0 || sc.vStart == sc.vEnd:
			sc.vStart, sc.vEnd = p, q
			sc.pieces++
			return nil
		case p == q:
			return nil
		}
	}
	if !sc.built {
		sc.buf = append(sc.buf[:0], sc.s[sc.vStart:sc.vEnd]...)
		sc.built = true
	}
	sc.pieces++
	var bad int
	if sc.buf, bad = decodeText(sc.buf, raw, entities, true); bad >= 0 {
		return sc.fail(p+bad, "bad entity or character reference")
	}
	return nil
}

func (sc *scanner) value() string {
	if sc.built {
		return string(sc.buf)
	}
	return sc.s[sc.vStart:sc.vEnd]
}

// emit records a leaf. off is only for the error.
func (sc *scanner) emit(off int, parents []string, name, value string) error {
	if len(sc.fields)-sc.base >= maxFields {
		return sc.fail(off, "more than %d fields", maxFields)
	}
	path := name
	if len(parents) > 0 {
		path = joinPath(parents, name)
	}
	sc.fields = append(sc.fields, Field{Name: path, Value: value})
	return nil
}

func joinPath(parents []string, name string) string {
	var arr [128]byte
	b := arr[:0]
	for _, p := range parents {
		b = append(b, p...)
		b = append(b, '.')
	}
	b = append(b, name...)
	if p, ok := knownPaths[string(b)]; ok {
		return p
	}
	return string(b)
}

// decodeText checks the references in raw when entities is set and, when
// keep is set, appends raw to dst with references replaced and CR LF or a
// lone CR turned into LF, as XML requires. It returns the offset in raw of a
// bad reference, or -1.
func decodeText(dst []byte, raw string, entities, keep bool) ([]byte, int) {
	cr := false // the previous byte was a literal CR
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\r' && keep:
			dst = append(dst, '\n')
			cr = true
			i++
		case c == '\n' && cr:
			cr = false // already written for the CR
			i++
		case c == '&' && entities:
			r, n := parseReference(raw[i:])
			if n == 0 {
				return dst, i
			}
			if keep {
				dst = utf8.AppendRune(dst, r)
			}
			cr = false
			i += n
		default:
			j := i + 1
			for j < len(raw) && raw[j] != '\r' && raw[j] != '&' {
				j++
			}
			if keep {
				dst = append(dst, raw[i:j]...)
			}
			cr = false
			i = j
		}
	}
	return dst, -1
}

// parseReference reads the entity or character reference at the start of s
// ("&lt;", "&#20320;", "&#x4F60;") and returns the character and the bytes
// read, or n = 0 when there is none. Like encoding/xml it knows only the
// five predefined entities and accepts only "x", not "X", for hexadecimal.
func parseReference(s string) (r rune, n int) {
	if len(s) < 3 || s[0] != '&' {
		return 0, 0
	}
	if s[1] != '#' {
		end := strings.IndexByte(s[:min(len(s), len("&quot;"))], ';')
		if end < 0 {
			return 0, 0
		}
		switch s[1:end] {
		case "lt":
			return '<', end + 1
		case "gt":
			return '>', end + 1
		case "amp":
			return '&', end + 1
		case "apos":
			return '\'', end + 1
		case "quot":
			return '"', end + 1
		}
		return 0, 0
	}
	i, base := 2, rune(10)
	if s[i] == 'x' {
		i, base = 3, 16
	}
	start := i
	for ; i < len(s); i++ {
		c := s[i]
		var d rune
		switch {
		case '0' <= c && c <= '9':
			d = rune(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = rune(c-'A') + 10
		default:
			d = -1
		}
		if d < 0 {
			break
		}
		if r <= utf8.MaxRune { // stop growing once too big: no overflow
			r = r*base + d
		}
	}
	if i == start || i == len(s) || s[i] != ';' || !isXMLChar(r) {
		return 0, 0
	}
	return r, i + 1
}

// isXMLChar reports whether XML 1.0 allows r (the Char production).
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// badXMLChar returns the offset of the first byte of s that is not valid
// UTF-8 or starts a character XML does not allow, or -1. It runs over every
// push, so it checks eight bytes at a time for the two things that need a
// closer look: a byte below 0x20 (only tab, LF and CR are allowed) and 0xEF,
// which starts U+FFFE and U+FFFF; the rest of the rules are UTF-8 validity.
func badXMLChar(s string) int {
	if !utf8.ValidString(s) {
		// Rare: find the first offence of any kind, one character at a time.
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 || !isXMLChar(r) {
				return i
			}
			i += n
		}
	}
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		t := s[i : i+8]
		w := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
		// (v-lo*n)&^v&hi is non-zero iff some byte of v is below n; x has a
		// zero byte where w has 0xEF.
		x := w ^ 0xEF*lo
		if ((w-0x20*lo)&^w|(x-lo)&^x)&hi != 0 {
			if j := badBytes(s, i, i+8); j >= 0 {
				return j
			}
		}
	}
	return badBytes(s, i, len(s))
}

// badBytes is badXMLChar on s[i:end] of a valid UTF-8 s, one byte at a time.
func badBytes(s string, i, end int) int {
	for ; i < end; i++ {
		switch c := s[i]; {
		case c < 0x20:
			if c != '\t' && c != '\n' && c != '\r' {
				return i
			}
		case c == 0xEF: // U+FFFE and U+FFFF are EF BF BE and EF BF BF
			if i+2 < len(s) && s[i+1] == 0xBF && (s[i+2] == 0xBE || s[i+2] == 0xBF) {
				return i
			}
		}
	}
	return -1
}

func skipSpace(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// readName reads an element or attribute name at i: an ASCII letter or '_',
// then letters, digits, '_' or '-'. It returns "" when there is none.
func readName(s string, i int) (string, int) {
	j := i
	if j < len(s) && nameChars[s[j]] == nameStart {
		for j++; j < len(s) && nameChars[s[j]] != 0; j++ {
		}
	}
	return s[i:j], j
}

const (
	nameStart = 1 + iota // may start a name
	nameMore             // may continue one
)

var nameChars = func() (t [256]uint8) {
	for c := range t {
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_':
			t[c] = nameStart
		case '0' <= c && c <= '9' || c == '-':
			t[c] = nameMore
		}
	}
	return t
}()

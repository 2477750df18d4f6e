package actions

import (
	"strings"
	"unicode/utf8"
)

// MaxTextBytes is the most a text message may hold: WeChat silently drops
// a passive text reply over 2048 bytes of UTF-8, and the same limit is
// applied to kefu text.
const MaxTextBytes = 2048

// SplitText cuts text into parts of at most limit bytes, each one a
// message: at paragraph breaks where it can, then line breaks, then
// sentence ends, and only then inside a sentence (at a character
// boundary). Every part but the last ends with more (a note that another
// part follows), within the limit. A text that fits is one part, as it is.
func SplitText(text string, limit int, more string) []string {
	text = strings.TrimSpace(strings.ReplaceAll(text, "\r\n", "\n"))
	if len(text) <= limit {
		return []string{text}
	}
	budget := limit - len(more)
	if budget < utf8.UTFMax {
		more, budget = "", limit
	}
	var parts []string
	cur := ""
	for _, a := range atoms(text, budget, 0) {
		switch {
		case a.text == "":
		case cur == "":
			cur = a.text
		case len(cur)+len(a.sep)+len(a.text) <= budget:
			cur += a.sep + a.text
		default:
			parts = append(parts, cur)
			cur = a.text
		}
	}
	if cur != "" {
		parts = append(parts, cur)
	}
	for i := range len(parts) - 1 {
		parts[i] += more
	}
	return parts
}

// atom is a piece of text no longer than the budget, and what joins it to
// the piece before it.
type atom struct{ sep, text string }

// separators by level: paragraphs, lines, then sentences (cut after their
// end mark, joined with nothing).
var levels = []string{"\n\n", "\n", ""}

// atoms cuts s at the given level, and what is still too long at the next.
func atoms(s string, budget, level int) []atom {
	if level == len(levels) {
		return runeChunks(s, budget)
	}
	var pieces []string
	if levels[level] == "" {
		pieces = sentences(s)
	} else {
		pieces = strings.Split(s, levels[level])
	}
	var out []atom
	for _, p := range pieces {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		sep := levels[level]
		if sep == "" && len(out) > 0 && endsLatin(out[len(out)-1].text) {
			sep = " "
		}
		if len(p) <= budget {
			out = append(out, atom{sep: sep, text: p})
			continue
		}
		sub := atoms(p, budget, level+1)
		if len(sub) > 0 {
			sub[0].sep = sep
		}
		out = append(out, sub...)
	}
	return out
}

// sentences cuts after each sentence end: 。！？；… and their ASCII
// counterparts.
func sentences(s string) []string {
	var out []string
	start := 0
	for i, r := range s {
		if strings.ContainsRune("。！？；…!?;.", r) {
			end := i + utf8.RuneLen(r)
			if r == '.' && end < len(s) && s[end] != ' ' { // 3.14, example.com
				continue
			}
			out = append(out, s[start:end])
			start = end
		}
	}
	return append(out, s[start:])
}

func endsLatin(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return r < utf8.RuneSelf
}

// runeChunks cuts s into pieces of at most budget bytes at character
// boundaries.
func runeChunks(s string, budget int) []atom {
	var out []atom
	for len(s) > budget {
		cut := budget
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if cut == 0 { // cannot happen with budget ≥ UTFMax; never loop
			cut = budget
		}
		out = append(out, atom{text: s[:cut]})
		s = s[cut:]
	}
	return append(out, atom{text: s})
}

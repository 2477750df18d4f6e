package mdtext

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// seeds are the golden answers and the table's inputs.
func seeds(f *testing.F) []string {
	files, _ := filepath.Glob("testdata/*.md")
	var out []string
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, string(b))
	}
	return append(out, "**注意：**请带证件", "2*3*4", "__init__", "- [x] a\n  1. b", "| a | b |\n|-|-|\n| 1 | 2 |",
		"[t](https://a.cn/a_(b))", "> # t", "<b>x</b><br>y", "a\\*b\\*", "```\n# c\n```", "[a][1]\n[1]: u")
}

// FuzzPlain: Plain never panics, keeps valid UTF-8 valid, keeps every
// letter and digit of text that is not markup, in order, and is
// idempotent on its own output where that output cannot read as Markdown
// again (code, escapes and link destinations are verbatim).
func FuzzPlain(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Plain(in)
		if utf8.ValidString(in) && !utf8.ValidString(out) {
			t.Fatalf("Plain(%q) = %q: invalid UTF-8", in, out)
		}
		// Quotes hide link titles, backticks and tildes a fence's info
		// string, "<" tag names; "](" may be a link whose text is its URL,
		// and "[x]" a check box.
		if utf8.ValidString(in) && !strings.ContainsAny(in, "\"'`~<") && !strings.Contains(in, "](") && !strings.Contains(strings.ToLower(in), "[x]") {
			if a, b := letters(in), letters(out); a != b {
				t.Fatalf("Plain(%q) = %q: lost text: %q, want %q", in, out, b, a)
			}
		}
		if sensible(in, out) {
			if again := Plain(out); again != out {
				t.Fatalf("not idempotent:\nin    %q\nonce  %q\ntwice %q", in, out, again)
			}
		}
	})
}

// sensible reports whether out, the output of in, is plain text through
// and through: without code, escapes, tags or link destinations, whose
// verbatim content may read as Markdown the second time; without * and _
// runs side by side, where removing one pair gives the other new
// neighbours ("0*_x_*" is "0*x*", whose asterisks then pair); and
// without a line that starts with block syntax, which only markup around
// it can produce ("*#*" is "#", a heading the second time), or a table
// row of dashes, which reads as a table's second line the second time.
func sensible(in, out string) bool {
	if !utf8.ValidString(in) || strings.ContainsAny(in, "\\`~<") {
		return false
	}
	for _, s := range []string{"](", "]:", "*_", "_*"} {
		if strings.Contains(in, s) {
			return false
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if delimRow.MatchString(l) {
			return false
		}
		if l = strings.TrimLeft(l, " \t"); l != "" && strings.ContainsRune("#>-*+=_", rune(l[0])) {
			return false
		}
	}
	return true
}

func letters(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// FuzzLinkURL: whatever surrounds a link, and whatever its text, the
// output has the link's URL in full.
func FuzzLinkURL(f *testing.F) {
	f.Add("请看", "官网", "https://a.cn/x_y*z*", "。")
	f.Add("**", "docs", "https://a.io/a_(b)_c", "**here")
	f.Add("| a | b |\n|---|---|\n| ", "表", "http://t.cn/1", " | 2 |")
	f.Add("```\n", "c", "https://x.cn/#a", "\n```")
	f.Add("> - [", "a][b", "https://x.cn/?q=1&r=2", "](c)")
	f.Fuzz(func(t *testing.T, prefix, label, url, suffix string) {
		label = strings.Map(func(r rune) rune {
			if strings.ContainsRune("[]\\`|\n\r", r) {
				return -1
			}
			return r
		}, label)
		url = "https://x.cn/" + strings.Map(func(r rune) rune {
			if r < utf8.RuneSelf && (r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("-._~:/?#@!$&*+,;=%", r)) {
				return r
			}
			return -1
		}, url)
		if len(label) > 500 || len(url) > 1000 || escaped(prefix+"[", len(prefix)) {
			return // too long to be a link, or "\[": not one
		}
		in := prefix + "[" + label + "](" + url + ")" + suffix
		if out := Plain(in); !strings.Contains(out, url) {
			t.Fatalf("Plain(%q) = %q: lost the URL %q", in, out, url)
		}
	})
}

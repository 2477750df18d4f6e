package actions

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSplitText(t *testing.T) {
	para := func(c string, n int) string { return strings.Repeat(c, n) }
	tests := []struct {
		name  string
		text  string
		limit int
		more  string
		want  []string
	}{
		{name: "fits", text: "  你好  ", limit: 20, want: []string{"你好"}},
		{name: "paragraphs", text: "aaaa\n\nbbbb\n\ncccc", limit: 10, want: []string{"aaaa\n\nbbbb", "cccc"}},
		{name: "paragraphs with a note", text: "aaaa\n\nbbbb\n\ncccc", limit: 10, more: "+", want: []string{"aaaa+", "bbbb+", "cccc"}},
		{name: "lines when a paragraph is too long", text: "aaaa\nbbbb\ncccc", limit: 10, want: []string{"aaaa\nbbbb", "cccc"}},
		{name: "sentences", text: "一二三。四五六。七八九。", limit: 25, want: []string{"一二三。四五六。", "七八九。"}},
		{name: "latin sentences keep their space", text: "One two. Three four. Five six.", limit: 20, want: []string{"One two. Three four.", "Five six."}},
		{name: "inside a sentence at a character boundary", text: para("汉", 10), limit: 10, want: []string{para("汉", 3), para("汉", 3), para("汉", 3), "汉"}},
		{name: "crlf", text: "aaaa\r\n\r\nbbbb", limit: 6, want: []string{"aaaa", "bbbb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SplitText(tt.text, tt.limit, tt.more)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// A long real answer: every part within WeChat's limit with its note, cut
// at paragraphs, nothing lost.
func TestSplitTextLongAnswer(t *testing.T) {
	var b strings.Builder
	for i := range 12 {
		b.WriteString(strings.Repeat("本店支持七天无理由退货, 请保留好商品包装。", 8))
		if i%3 == 2 {
			b.WriteString("\n")
		}
		b.WriteString("\n\n")
	}
	const more = "\n\n(回复任意文字查看下一段)"
	parts := SplitText(b.String(), MaxTextBytes, more)
	if len(parts) < 3 {
		t.Fatalf("%d parts of a %d-byte answer", len(parts), b.Len())
	}
	for i, p := range parts {
		if len(p) > MaxTextBytes {
			t.Errorf("part %d: %d bytes", i, len(p))
		}
		if i < len(parts)-1 && !strings.HasSuffix(p, more) {
			t.Errorf("part %d has no note that more follows", i)
		}
		if body := strings.TrimSuffix(p, more); !strings.HasSuffix(body, "。") {
			t.Errorf("part %d not cut at a paragraph or sentence: …%q", i, body[max(0, len(body)-12):])
		}
	}
	checkNothingLost(t, b.String(), parts, more)
}

func checkNothingLost(t *testing.T, text string, parts []string, more string) {
	t.Helper()
	var joined strings.Builder
	for i, p := range parts {
		if i < len(parts)-1 {
			p = strings.TrimSuffix(p, more)
		}
		joined.WriteString(p)
	}
	strip := func(s string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, s)
	}
	if strip(joined.String()) != strip(strings.ToValidUTF8(text, "\uFFFD")) && utf8.ValidString(text) {
		t.Errorf("the parts do not add up to the text:\n%q\n%q", joined.String(), text)
	}
}

func FuzzSplitText(f *testing.F) {
	f.Add("第一段。\n\n第二段很长很长。还有一句!\n最后", 16, "+")
	f.Add("a. b. c. d. e. f. g.", 8, "")
	f.Add(strings.Repeat("x", 100), 10, "(more)")
	f.Fuzz(func(t *testing.T, text string, limit int, more string) {
		if limit < 8 || limit > 4096 || len(more) > limit/2 || !utf8.ValidString(text) || !utf8.ValidString(more) {
			return
		}
		parts := SplitText(text, limit, more)
		for i, p := range parts {
			if len(p) > limit {
				t.Fatalf("part %d is %d bytes, limit %d", i, len(p), limit)
			}
			if !utf8.ValidString(p) {
				t.Fatalf("part %d is not UTF-8", i)
			}
			if i < len(parts)-1 {
				p = strings.TrimSuffix(p, more)
			}
			if strings.TrimSpace(p) == "" && len(parts) > 1 {
				t.Fatalf("part %d is empty: %q", i, parts)
			}
		}
		checkNothingLost(t, text, parts, more)
	})
}

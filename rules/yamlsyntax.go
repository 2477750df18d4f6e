package rules

import (
	"bytes"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/wxbot/wxbot/engine"
)

// gopkg.in/yaml.v3 reports a syntax error on the line where the enclosing
// block started (an unclosed "[" on line 5 is reported on line 4, an
// indentation slip on line 48 on line 20). syntaxError finds the line
// that breaks the file, and the column to point at.

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func splitYAMLError(err error) (line int, msg string) {
	line, msg = 1, err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	return line, strings.TrimPrefix(msg, "yaml: ")
}

// SyntaxLine is the line that breaks a YAML file whose parse failed with
// err, and err's message: the end of the shortest prefix of the file that
// fails the same way (the lines before it parse). Galloping then bisecting
// keeps a big file to a few dozen parses. Every document is parsed, so a
// second document's error is found too. Other YAML files of the project
// (the accounts file) report their syntax errors with it.
func SyntaxLine(data []byte, err error) (line int, msg string) {
	line, msg = splitYAMLError(err)
	lines := bytes.SplitAfter(data, []byte("\n"))
	failsSame := func(k int) bool {
		err := parseAll(bytes.Join(lines[:k], nil))
		if err == nil {
			return false
		}
		_, m := splitYAMLError(err)
		return m == msg
	}
	lo, hi := min(max(line-1, 0), len(lines)), -1 // the prefix of lo lines does not fail so; hi does
	for step := 1; lo+step <= len(lines); step *= 2 {
		if failsSame(lo + step) {
			hi = lo + step
			break
		}
		lo += step
	}
	if hi < 0 && len(lines) > lo && failsSame(len(lines)) {
		hi = len(lines)
	}
	if hi > 0 {
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			if failsSame(mid) {
				hi = mid
			} else {
				lo = mid
			}
		}
		line = hi
	}
	return line, msg
}

// parseAll parses every document of data, for the error it gives.
func parseAll(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// syntaxError positions a YAML syntax error and words it, with the line and
// a caret under the column.
func syntaxError(name string, data []byte, err error) (engine.Pos, string) {
	line, msg := SyntaxLine(data, err)
	lines := strings.SplitAfter(string(data), "\n")
	text := ""
	if line >= 1 && line <= len(lines) {
		text = strings.TrimRight(lines[line-1], "\r\n")
	}
	col := firstNonSpace(text)
	switch {
	case strings.Contains(msg, "tab character"):
		if i := strings.IndexByte(text, '\t'); i >= 0 {
			col = utf8.RuneCountInString(text[:i]) + 1
		}
		msg = "tabs are not allowed in YAML indentation: indent with spaces"
	case strings.Contains(msg, "did not find expected ',' or"):
		if i := unclosedBracket(text); i >= 0 {
			col = utf8.RuneCountInString(text[:i]) + 1
			msg = "this " + string(text[i]) + " is never closed: close it on this line with " + closing(text[i])
		}
	case strings.Contains(msg, "did not find expected") || strings.Contains(msg, "mapping values are not allowed"):
		msg += ": check the indentation of this line against the lines above"
	}
	return engine.Pos{File: name, Line: line, Col: col}, "YAML: " + msg + caret(text, col)
}

func firstNonSpace(s string) int {
	for i, r := range s {
		if r != ' ' {
			return utf8.RuneCountInString(s[:i]) + 1
		}
	}
	return 1
}

// unclosedBracket is the byte index of the last "[" or "{" the line leaves
// open (outside quotes and comments), or -1.
func unclosedBracket(s string) int {
	var open []int
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || s[i-1] == ' '):
			i = len(s)
		case c == '[' || c == '{':
			open = append(open, i)
		case (c == ']' || c == '}') && len(open) > 0:
			top := open[len(open)-1]
			if closing(s[top]) != string(c) { // "[a, b}": the "[" is the one left open
				return top
			}
			open = open[:len(open)-1]
		}
	}
	if len(open) == 0 {
		return -1
	}
	return open[len(open)-1]
}

func closing(open byte) string {
	if open == '[' {
		return "]"
	}
	return "}"
}

// caret shows the line with a caret under col, as expr's errors do.
func caret(text string, col int) string {
	if text == "" {
		return ""
	}
	shown := strings.ReplaceAll(text, "\t", "→")
	return "\n | " + shown + "\n | " + strings.Repeat(".", max(col-1, 0)) + "^"
}

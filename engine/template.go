package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/expr-lang/expr/vm"
)

// Template is an action string with ${ expr } interpolations, compiled once
// when rules load. "$${" writes a literal "${". The zero Template renders "".
type Template struct {
	src   string
	parts []templatePart
}

type templatePart struct {
	lit  string
	prog *vm.Program // nil for a literal part
}

// TemplateError says where in a template string compilation failed; Offset is
// the byte offset in the string, so a loader can turn it into a column.
type TemplateError struct {
	Offset int
	Err    error
}

func (e *TemplateError) Error() string { return e.Err.Error() }
func (e *TemplateError) Unwrap() error { return e.Err }

// Programs are the template's compiled ${…} parts, for analysis (which
// names they read).
func (t *Template) Programs() []*vm.Program {
	var ps []*vm.Program
	for _, p := range t.parts {
		if p.prog != nil {
			ps = append(ps, p.prog)
		}
	}
	return ps
}

// ErrUnterminated is a "${" without its closing "}".
var ErrUnterminated = errors.New(`unterminated "${": close it with "}" or write "$${" for a literal`)

// CompileTemplate parses and compiles src. Errors are *TemplateError.
func CompileTemplate(src string) (*Template, error) { return compileTemplate(src, nil) }

func compileTemplate(src string, c *Compiler) (*Template, error) {
	t := &Template{src: src}
	var lit strings.Builder
	i := 0
	for i < len(src) {
		j := strings.Index(src[i:], "${")
		if j < 0 {
			lit.WriteString(src[i:])
			break
		}
		j += i
		if j > 0 && src[j-1] == '$' { // "$${" is a literal "${"
			lit.WriteString(src[i : j-1])
			lit.WriteString("${")
			i = j + 2
			continue
		}
		lit.WriteString(src[i:j])
		end := closingBrace(src, j+2)
		if end < 0 {
			return nil, &TemplateError{Offset: j, Err: ErrUnterminated}
		}
		code := src[j+2 : end]
		if strings.TrimSpace(code) == "" {
			return nil, &TemplateError{Offset: j, Err: errors.New(`empty "${}"`)}
		}
		prog, err := c.valueProgram(code)
		if err != nil {
			return nil, &TemplateError{Offset: j + 2, Err: err}
		}
		if lit.Len() > 0 {
			t.parts = append(t.parts, templatePart{lit: lit.String()})
			lit.Reset()
		}
		t.parts = append(t.parts, templatePart{prog: prog})
		i = end + 1
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, templatePart{lit: lit.String()})
	}
	return t, nil
}

// MustTemplate is CompileTemplate for constants in code and tests.
func MustTemplate(src string) *Template {
	t, err := CompileTemplate(src)
	if err != nil {
		panic(fmt.Sprintf("engine.MustTemplate(%q): %v", src, err))
	}
	return t
}

// closingBrace finds the "}" that closes an interpolation starting at i,
// skipping braces inside expr string literals and map literals.
func closingBrace(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\'', '`':
			for i++; i < len(s) && s[i] != c; i++ {
				if s[i] == '\\' && c != '`' {
					i++
				}
			}
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return -1
}

// String is the template's source text.
func (t *Template) String() string {
	if t == nil {
		return ""
	}
	return t.src
}

// IsZero reports whether the template is empty.
func (t *Template) IsZero() bool { return t == nil || t.src == "" }

// Constant reports whether the template has no interpolations.
func (t *Template) Constant() bool {
	if t == nil {
		return true
	}
	for _, p := range t.parts {
		if p.prog != nil {
			return false
		}
	}
	return true
}

// Render evaluates the template in env.
func (t *Template) Render(env *Env) (string, error) {
	if t == nil {
		return "", nil
	}
	switch len(t.parts) {
	case 0:
		return "", nil
	case 1:
		if t.parts[0].prog == nil {
			return t.parts[0].lit, nil
		}
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.prog == nil {
			b.WriteString(p.lit)
			continue
		}
		v, err := run(p.prog, env)
		if err != nil {
			return "", fmt.Errorf("interpolating %q: %w", t.src, err)
		}
		b.WriteString(stringify(v))
	}
	return b.String(), nil
}

// UnmarshalText compiles a template from text, so params structs can hold
// Templates whatever decoder fills them.
func (t *Template) UnmarshalText(b []byte) error {
	c, err := CompileTemplate(string(b))
	if err != nil {
		return err
	}
	*t = *c
	return nil
}

// MarshalText returns the source, so a Template encodes back as written.
func (t Template) MarshalText() ([]byte, error) { return []byte(t.src), nil }

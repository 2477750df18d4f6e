package console

import (
	"fmt"
	"strings"
)

// diffLines is a line diff of a and b for the audit: changed lines with
// "-" and "+", up to context unchanged lines around them, "@@ line N"
// where a hunk starts. Files longer than the console writes get the sizes
// only, not a quadratic diff.
func diffLines(a, b string, context int) string {
	x, y := splitLines(a), splitLines(b)
	if a == b {
		return ""
	}
	if len(x)*len(y) > 4_000_000 {
		return fmt.Sprintf("(replaced: %d lines, now %d)\n", len(x), len(y))
	}
	// lcs[i][j] is the longest common subsequence of x[i:] and y[j:].
	lcs := make([][]int32, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
		at   int // line number in b (in a for removals)
	}
	var ops []line
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			ops = append(ops, line{' ', x[i], j + 1})
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]): // removals first
			ops = append(ops, line{'-', x[i], i + 1})
			i++
		default:
			ops = append(ops, line{'+', y[j], j + 1})
			j++
		}
	}
	var out strings.Builder
	last := -1 // index of the last op written
	for k, o := range ops {
		if o.op == ' ' {
			continue
		}
		from := max(k-context, last+1)
		if from > last+1 || last < 0 {
			fmt.Fprintf(&out, "@@ line %d\n", ops[from].at)
		}
		for _, c := range ops[from:k] {
			fmt.Fprintf(&out, "  %s\n", c.text)
		}
		fmt.Fprintf(&out, "%c %s\n", o.op, o.text)
		last = k
		// trailing context, unless another change is near
		for n := k + 1; n < len(ops) && n <= k+context && ops[n].op == ' '; n++ {
			if next := nextChange(ops[n:], func(l line) bool { return l.op != ' ' }); next >= 0 && next <= context {
				break
			}
			fmt.Fprintf(&out, "  %s\n", ops[n].text)
			last = n
		}
	}
	return out.String()
}

func nextChange[T any](xs []T, changed func(T) bool) int {
	for i, x := range xs {
		if changed(x) {
			return i
		}
	}
	return -1
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

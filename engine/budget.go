package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// An expression runs on the path that must answer WeChat within 5 seconds,
// for every push its rule sees, and expr cannot interrupt one that runs
// long. The rules loader refuses expressions whose worst case is costly
// (rules/cost.go), sizing what comes from the push at 100 KB; what it
// cannot foresee is bounded here, at run time: an evaluation that goes over
// its budget stops with an error wrapping ErrOverBudget, and its rule does
// not match.

// MemoryBudget is what one evaluation may allocate, in expr's own units:
// the elements of the ranges, lists and maps it builds (1..n, map, filter,
// sortBy, list and map literals, concat, flatten, reverse, sort). An
// element costs the VM about 60 bytes with its boxing and stack, and expr
// counts a map's list only once it is built, so an evaluation stopped by
// this has allocated 16 to 20 MiB at most. The rules loader refuses an
// expression that needs more whatever the push.
const MemoryBudget = 150_000

// MaxRepeat is the longest text repeat builds, in bytes. expr's own repeat
// builds its text before it counts it against the budget: a 300-byte
// message repeated a million times took 300 MB first, a 100 KB one killed
// the process. The rules loader wants repeat's text and count constant.
const MaxRepeat = 10_000

// ErrOverBudget is an evaluation stopped by MemoryBudget or MaxRepeat.
var ErrOverBudget = errors.New("over the evaluation budget")

// exprOptions are the options every expression compiles with: the
// environment, and repeat replaced by one that checks its size first.
func exprOptions(more ...expr.Option) []expr.Option {
	return append([]expr.Option{
		expr.Env(Env{}),
		expr.Function("repeat", boundedRepeat, new(func(string, int) string)),
	}, more...)
}

// boundedRepeat is expr's repeat, refusing a text over MaxRepeat before it
// is built.
func boundedRepeat(args ...any) (any, error) {
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("repeat: want a text to repeat, got %T", args[0])
	}
	var n int
	switch c := args[1].(type) {
	case int:
		n = c
	case int64:
		n = int(max(min(c, MaxRepeat+1), -1))
	case float64:
		n = int(max(min(c, MaxRepeat+1), -1))
	default:
		return nil, fmt.Errorf("repeat: want a count, got %T", args[1])
	}
	switch {
	case n < 0:
		return nil, fmt.Errorf("repeat: want a count of 0 or more, got %v", args[1])
	case n > 0 && len(s) > MaxRepeat/n:
		return nil, fmt.Errorf("%w: repeat would build %d × %v bytes, over %d", ErrOverBudget, len(s), args[1], MaxRepeat)
	}
	return strings.Repeat(s, n), nil
}

// run evaluates a compiled program within MemoryBudget.
func run(p *vm.Program, env *Env) (any, error) {
	m := vm.VM{MemoryBudget: MemoryBudget}
	out, err := m.Run(p, env)
	var fe *file.Error
	// expr reports its budget as a bare message, not an error value.
	if errors.As(err, &fe) && fe.Message == "memory budget exceeded" && fe.Prev == nil {
		return nil, fmt.Errorf("%w: more than %d elements built (ranges, lists, maps): %w", ErrOverBudget, MemoryBudget, err)
	}
	return out, err
}

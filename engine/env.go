package engine

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/wxbot/wxbot/engine/store"
)

// Env is the environment every expression runs in: `when` conditions and the
// ${ … } parts of action strings. Expressions are compiled against its type
// once, when rules load, so a misspelt field is a load error.
type Env struct {
	Event *Event         `expr:"event"`
	Vars  map[string]any `expr:"vars"`
	// User is the pushing user's state (see Users): read lazily, only for
	// pushes whose rules look at it; a missing key is nil.
	User map[string]any `expr:"user"`

	// Now is the engine's clock in the bot's time zone (fixed in tests).
	Now func() time.Time `expr:"now"`
	// Hour is t's hour of day, 0–23, in the bot's time zone.
	Hour func(t time.Time) int `expr:"hour"`
	// Weekday is t's day of the week in the bot's time zone, 0 (Sunday) to 6.
	Weekday func(t time.Time) int `expr:"weekday"`
	// Active reports whether now is inside the named entry of the rules
	// file's `windows:`; names are checked when rules load.
	Active func(window string) bool `expr:"active"`
	// Bucket puts a string (an OpenID) in one of n buckets, the same one
	// every time: bucket(event.from, 100) < 10 picks a stable 10% of users.
	Bucket func(s string, n int) int `expr:"bucket"`

	// users and userFrom let LoadUser fill User on first need; expr does
	// not see unexported fields.
	users      Users
	userFrom   string
	userLoaded bool
	userInit   map[string]any   // the state as loaded
	patch      *store.UserPatch // the push's changes, merged
	views      []userView       // the state after each state step
	quiet      bool             // a handoff holds: only during_handoff rules run
}

// LoadUser fills User from the store the first time a push needs it (a
// rule that reads user is about to be checked, or a state action runs),
// and returns it. A push whose rules never look at user never reads the
// store. A failed read leaves User empty and is returned once.
func (e *Env) LoadUser(ctx context.Context) (map[string]any, error) {
	if e.userLoaded || e.users == nil || e.userFrom == "" {
		e.userLoaded = true
		return e.User, nil
	}
	e.userLoaded = true
	u, err := e.users.LoadUser(ctx, e.userFrom)
	if err != nil {
		return e.User, fmt.Errorf("reading the state of user %s: %w", e.userFrom, err)
	}
	e.User, e.userInit = u, u
	return u, nil
}

// SetUser fixes the user's state without the store (rule tests, explain
// --user).
func (e *Env) SetUser(u map[string]any) { e.User, e.userInit, e.userLoaded = u, u, true }

// CompileCondition compiles a `when` expression; it must yield a bool.
func CompileCondition(src string) (*vm.Program, error) {
	return expr.Compile(src, exprOptions(expr.AsBool())...)
}

// compileValue compiles the expression of one ${ … } interpolation.
func compileValue(src string) (*vm.Program, error) {
	return expr.Compile(src, exprOptions()...)
}

// Compiler compiles conditions and templates for one load of a rules
// file, reusing the program of an expression seen before: compiled
// programs are immutable, and large files repeat the same few expressions
// (${event.content} in thousands of replies), so a 10,000-rule reload
// compiles each distinct expression once. It is not safe for concurrent
// use; make one per load.
type Compiler struct {
	cond, value map[string]compiled
}

type compiled struct {
	prog *vm.Program
	err  error
}

// NewCompiler returns an empty Compiler.
func NewCompiler() *Compiler {
	return &Compiler{cond: map[string]compiled{}, value: map[string]compiled{}}
}

// Condition is CompileCondition, cached.
func (c *Compiler) Condition(src string) (*vm.Program, error) {
	if r, ok := c.cond[src]; ok {
		return r.prog, r.err
	}
	p, err := CompileCondition(src)
	c.cond[src] = compiled{p, err}
	return p, err
}

func (c *Compiler) valueProgram(src string) (*vm.Program, error) {
	if c == nil {
		return compileValue(src)
	}
	if r, ok := c.value[src]; ok {
		return r.prog, r.err
	}
	p, err := compileValue(src)
	c.value[src] = compiled{p, err}
	return p, err
}

// Template is CompileTemplate, with its expressions cached.
func (c *Compiler) Template(src string) (*Template, error) { return compileTemplate(src, c) }

// EvalCondition runs a compiled condition. A nil program is true. An
// evaluation over its budget stops with an error wrapping ErrOverBudget.
func EvalCondition(p *vm.Program, env *Env) (bool, error) {
	if p == nil {
		return true, nil
	}
	out, err := run(p, env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok { // AsBool makes this unreachable for programs from CompileCondition
		return false, fmt.Errorf("condition yielded %T, not bool", out)
	}
	return b, nil
}

// baseEnv builds everything of an Env but the event: it depends only on the
// rule set and the clock, so the engine builds it once per rule set and
// copies it per push.
func baseEnv(vars map[string]any, schedules map[string]*Schedule, now func() time.Time, loc *time.Location) Env {
	localNow := func() time.Time { return now().In(loc) }
	return Env{
		Vars:    vars,
		Now:     localNow,
		Hour:    func(t time.Time) int { return t.In(loc).Hour() },
		Weekday: func(t time.Time) int { return int(t.In(loc).Weekday()) },
		Active: func(name string) bool {
			w, ok := schedules[name]
			return ok && w.Contains(localNow())
		},
		Bucket: Bucket,
	}
}

// Bucket hashes s (FNV-1a) into [0, n); n < 1 yields 0.
func Bucket(s string, n int) int {
	if n < 1 {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

func newEnv(ev *Event, vars map[string]any, now func() time.Time, loc *time.Location) *Env {
	env := baseEnv(vars, nil, now, loc)
	env.Event = ev
	return &env
}

// NewEnv builds an environment outside an engine, for action tests.
func NewEnv(ev *Event, vars map[string]any, now func() time.Time, loc *time.Location) *Env {
	return newEnv(ev, vars, now, loc)
}

// stringify renders an interpolated value: strings as they are, whole floats
// without a fraction (so fen/100 prints 12, not 12.000000), nil as "".
func stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.Format(time.DateTime)
	default:
		return fmt.Sprint(v)
	}
}

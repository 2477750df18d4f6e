package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/rules"
)

func init() {
	register(&command{name: "check", args: "[PATH]",
		summary: "validate rules (YAML, schema, expressions, action params) and run their tests; exit 1 on any error",
		run:     runCheck})
	register(&command{name: "test", args: "[PATH]",
		summary: "run the tests: of the rules offline, with a fixed clock; exit 1 on a failure",
		run:     runTest})
	register(&command{name: "explain", args: "[PATH] --event 'type=text content=价格 from=oX'",
		summary: "show, rule by rule, why each matched or not, and the actions and reply that result",
		run:     runExplain})
	register(&command{name: "schema",
		summary: "print the JSON Schema of rules.yaml (for editor completion)",
		run:     runSchema})
}

// rulesFlags locate the rules and the clock they are judged by.
type rulesFlags struct {
	rules    string
	timezone string
}

func (r *rulesFlags) register(fs *flagSet) {
	fs.StringVar(&r.rules, "rules", "rules.yaml", "the rules: a file, or a directory of *.yaml (a PATH argument wins)")
	fs.StringVar(&r.timezone, "timezone", "Asia/Shanghai", "time zone of now(), windows and tests")
}

// parseRulesCommand parses the flags and the optional PATH of check, test
// and explain.
func parseRulesCommand(env *cmdEnv, name string, args []string, extra func(*flagSet)) (*rulesFlags, error) {
	var r rulesFlags
	fs := newFlagSet(env, commands[name])
	r.register(fs)
	if extra != nil {
		extra(fs)
	}
	pos, err := fs.parse(args)
	if err != nil {
		return nil, err
	}
	switch len(pos) {
	case 0:
	case 1:
		r.rules = pos[0]
	default:
		return nil, usagef("%s takes one PATH, got %q", name, pos)
	}
	return &r, nil
}

// loadForCommand loads rules and prints their diagnostics; on errors it
// returns errSilent after saying how many.
func loadForCommand(env *cmdEnv, path string) (*rules.Loaded, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		// check, test and explain name their rules as PATH (or --rules);
		// rules.Load's hint speaks of serve's --rules alone
		return nil, fmt.Errorf("no rules at %s: give the rules as PATH (a rules.yaml or a directory of *.yaml, e.g. examples/rules.yaml), or write starter rules with wxbot init", path)
	}
	loaded, err := rules.Load(path)
	var re *rules.Error
	if errors.As(err, &re) {
		fmt.Fprintln(env.stdout, re.Diags.String())
		n := len(re.Diags.Errors())
		fmt.Fprintf(env.stdout, "%s: %d error%s, %d warning%s\n", path, n, plural(n), len(re.Diags.Warnings()), plural(len(re.Diags.Warnings())))
		return nil, errSilent
	}
	if err != nil {
		return nil, err
	}
	return loaded, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// loadRulesCommand is the start of check and test: flags, time zone, rules.
func loadRulesCommand(env *cmdEnv, name string, args []string) (*rulesFlags, *time.Location, *rules.Loaded, error) {
	r, err := parseRulesCommand(env, name, args, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	loc, err := loadLocation(r.timezone)
	if err != nil {
		return nil, nil, nil, err
	}
	loaded, err := loadForCommand(env, r.rules)
	return r, loc, loaded, err
}

func runCheck(ctx context.Context, env *cmdEnv, args []string) error {
	r, loc, loaded, err := loadRulesCommand(env, "check", args)
	if err != nil {
		return err
	}
	for _, d := range loaded.Diags {
		fmt.Fprintln(env.stdout, d.String())
	}
	failed := 0
	for _, res := range loaded.RunTests(ctx, loc) {
		if !res.Passed() {
			failed++
			fmt.Fprintln(env.stdout, res.String())
		}
	}
	w := len(loaded.Diags)
	fmt.Fprintf(env.stdout, "%s: %d rule%s, 0 errors, %d warning%s, %d of %d tests passed\n",
		r.rules, len(loaded.Set.Rules), plural(len(loaded.Set.Rules)), w, plural(w), len(loaded.Tests)-failed, len(loaded.Tests))
	if failed > 0 {
		return errSilent
	}
	return nil
}

func runTest(ctx context.Context, env *cmdEnv, args []string) error {
	r, loc, loaded, err := loadRulesCommand(env, "test", args)
	if err != nil {
		return err
	}
	passed, failed := 0, 0
	for _, res := range loaded.RunTests(ctx, loc) {
		if res.Passed() {
			passed++
			fmt.Fprintf(env.stdout, "ok   %s\n", res.Case.Name)
			continue
		}
		failed++
		p := res.Case.Pos
		fmt.Fprintf(env.stdout, "FAIL %s (%s:%d)\n", res.Case.Name, p.File, p.Line)
		for _, f := range res.Failures {
			fmt.Fprintf(env.stdout, "     %s\n", f)
		}
	}
	fmt.Fprintf(env.stdout, "%d passed, %d failed\n", passed, failed)
	if len(loaded.Tests) == 0 {
		fmt.Fprintf(env.stdout, "(%s has no tests: add some under `tests:`)\n", r.rules)
	}
	if failed > 0 {
		return errSilent
	}
	return nil
}

func runExplain(ctx context.Context, env *cmdEnv, args []string) error {
	x, err := parseExplain(env, args)
	if err != nil {
		return err
	}
	loaded, err := loadForCommand(env, x.rules)
	if err != nil {
		return err
	}
	now, user := x.now, x.user
	clock := func() time.Time { return now }
	ev := x.doc.Event(now)
	st := memory.New(clock) // explain reads no live state: the user is what --user says
	if user != nil {
		if err := st.PatchUser(ctx, ev.From, &store.UserPatch{Set: user}); err != nil {
			return usagef("--user: %v", err)
		}
	}
	e := engine.New(engine.Options{Now: clock, Location: x.loc, State: st, DryRun: true, Canned: cannedAI(x.aiAnswer)}) // explain calls no webhook or model and sends nothing
	defer e.Close(context.Background())
	e.SetRules(loaded.Set)
	w := env.stdout
	fmt.Fprintf(w, "event %s at %s\n", describeEvent(ev), now.Format("2006-01-02 15:04 Mon MST"))
	if user != nil {
		fmt.Fprintf(w, "user state: %s\n", showState(user))
	}
	traceEnv := e.Env(loaded.Set, ev)
	traceEnv.SetUser(user)
	traces := loaded.Set.Explain(ctx, ev, traceEnv, memory.New(clock))
	for i, t := range traces {
		fmt.Fprintf(w, "%3d. %-24s %s:%d  %s\n", i+1, t.Rule.Name, t.Rule.Pos.File, t.Rule.Pos.Line, traceWords(t))
	}
	res, err := e.Dispatch(ev).Finish(ctx)
	if err != nil {
		return err
	}
	printExplainOutcome(ctx, w, res, st, ev.From, user)
	printKefuWindow(w, ev, res, now)
	return nil
}

// explainRequest is what explain is asked: the event, and the user state,
// time and ai answer it is explained with.
type explainRequest struct {
	rules    string
	doc      rules.EventDoc
	user     map[string]any
	loc      *time.Location
	now      time.Time
	aiAnswer string
}

// parseExplain reads explain's flags into a request, so that a mistake in
// them is told before the rules are loaded.
func parseExplain(env *cmdEnv, args []string) (*explainRequest, error) {
	var x explainRequest
	var spec, at, userSpec string
	r, err := parseRulesCommand(env, "explain", args, func(fs *flagSet) {
		fs.StringVar(&x.aiAnswer, "ai-answer", "", "the answer ai actions get (no model is called; default: a placeholder)")
		fs.StringVar(&userSpec, "user", "", "the user's state to explain with, as key=value pairs: 'step=phone phone=13800000000' (key:=JSON for numbers, bools, lists)")
		fs.StringVar(&spec, "event", "", "the event as key=value pairs: type=text content=价格 from=oUser (nested: location.lat=23.1)")
		fs.StringVar(&at, "at", "", "the time to explain at, e.g. \"2026-11-11 20:00\" in --timezone (default: now)")
	})
	if err != nil {
		return nil, err
	}
	x.rules = r.rules
	if spec == "" {
		return nil, usagef("--event is required, e.g. --event 'type=text content=价格'")
	}
	if x.doc, err = rules.ParseEventSpec(spec); err != nil {
		return nil, usagef("%v", err)
	}
	if userSpec != "" {
		if x.user, err = rules.ParseUserSpec(userSpec); err != nil {
			return nil, usagef("--user: %v", err)
		}
	}
	if x.loc, err = loadLocation(r.timezone); err != nil {
		return nil, err
	}
	x.now = time.Now().In(x.loc)
	if at != "" {
		wall, err := engine.ParseWallTime(at)
		if err != nil {
			return nil, usagef("--at: %v", err)
		}
		x.now = time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), 0, x.loc)
	}
	return &x, nil
}

// printExplainOutcome says what the push did once every rule had its say:
// the rules and actions that ran, the user state they left, and the reply.
func printExplainOutcome(ctx context.Context, w io.Writer, res *engine.Result, state *memory.Memory, from string, user map[string]any) {
	var names []string
	for _, r := range res.Rules {
		names = append(names, r.Name)
	}
	fmt.Fprintf(w, "matched: %s\n", orNone(strings.Join(names, ", ")))
	var steps []string
	for _, st := range res.Steps {
		steps = append(steps, res.Rules[st.Rule].Name+"/"+res.Action(st))
	}
	fmt.Fprintf(w, "actions: %s\n", orNone(strings.Join(steps, ", ")))
	if res.Err != nil {
		fmt.Fprintf(w, "errors: %v\n", res.Err)
	}
	if after, err := state.LoadUser(ctx, from); err == nil && (user != nil || after != nil) {
		fmt.Fprintf(w, "user state after: %s\n", showState(after))
	}
	if res.Reply == nil {
		fmt.Fprintln(w, "reply: none (the bot answers \"success\")")
	} else {
		fmt.Fprintf(w, "reply:\n  type: %s\n", res.Reply.Type)
		writeReplyFields(w, "  ", res.Reply)
	}
}

// showState prints a user state as sorted key=JSON pairs.
func showState(m map[string]any) string {
	if len(m) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		v, _ := json.Marshal(m[k])
		fmt.Fprintf(&b, "%s=%s", k, v)
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func describeEvent(ev *engine.Event) string {
	var b strings.Builder
	b.WriteString(ev.Type)
	for _, kv := range [][2]string{{"from", ev.From}, {"content", ev.Content}, {"key", ev.Key}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%q", kv[0], kv[1])
		}
	}
	return b.String()
}

// traceWords says in a few words what stopped a rule.
func traceWords(t engine.Trace) string {
	r := t.Rule
	switch t.Gate {
	case "":
		if r.Continue {
			return "MATCHED (continue: true, goes on)"
		}
		return "MATCHED (stops here)"
	case engine.GateUnreached:
		return "not reached: an earlier rule matched and stopped"
	case engine.GateOn:
		return "skipped: on " + strings.Join(r.On, ", ")
	case engine.GateDisabled:
		return "skipped: disabled"
	case engine.GateText:
		return "no: text does not match"
	case engine.GateKey:
		return "no: key is not " + strings.Join(r.Keys, " or ")
	case engine.GateActive:
		return "no: outside its active windows"
	case engine.GateWhen:
		if t.Err != nil {
			return "no: when failed: " + t.Err.Error()
		}
		return "no: when is false: " + r.WhenSrc
	case engine.GateCooldown:
		return "no: in cooldown for this user"
	case engine.GateHandoff:
		return "quiet: a person has the conversation (user.kf); only during_handoff rules run"
	case engine.GateLimit:
		return "no: " + limitWords(r.Limit) + " reached"
	}
	return string(t.Gate)
}

func runSchema(_ context.Context, env *cmdEnv, args []string) error {
	pos, err := newFlagSet(env, commands["schema"]).parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("schema takes no arguments")
	}
	enc := json.NewEncoder(env.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(rules.JSONSchema())
}

package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/memory"
)

// linearMatch is MatchInto without an index, read off RuleSet.Explain,
// which walks every rule in match order and runs its gates.
func linearMatch(ctx context.Context, s *RuleSet, ev *Event, env *Env, cd Cooldowns) (matched []*Rule, errs []error) {
	for _, t := range s.Explain(ctx, ev, env, cd) {
		if t.Err != nil {
			errs = append(errs, &RuleError{Rule: t.Rule.Name, Gate: t.Gate, Err: t.Err})
		}
		if t.Matched {
			matched = append(matched, t.Rule)
		}
	}
	return matched, errs
}

// chooser is a source of choices: math/rand for the random test, fuzz
// input for the fuzz target.
type chooser interface {
	intn(n int) int
}

type randChooser struct{ r *rand.Rand }

func (c randChooser) intn(n int) int { return c.r.IntN(n) }

// byteChooser reads choices from fuzz input; exhausted, it answers 0.
type byteChooser struct{ b []byte }

func (c *byteChooser) intn(n int) int {
	if len(c.b) == 0 || n <= 1 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	if n > 256 {
		v = v<<8 | c.intn(256)
	}
	return v % n
}

// words are the literals rules and pushes are built from: overlapping,
// mixed case, multi-byte, with inner spaces and regex metacharacters.
var words = []string{
	"a", "ab", "abc", "b", "bc", "ba", "aab", "Ab", "ABC", "价格", "价", "格价",
	"多少钱", "订单", "订单1", "订单12", "x.y", "a b", "hello", "hell", "HeLLo",
	"é", "É", "1", "12", "123", "k", "kk", "kkk", "?", "(", "ß",
}

var evTypes = []string{"text", "click", "voice", "scan"}

var keyPool = []string{"", "MENU_A", "MENU_B", "promo", "k"}

// atoms are the parts conditions are built from: equality tests the index
// reads (on event.type, event.key, event.content and user fields, either
// way round, as sets, as || chains), tests it cannot read, and tests that
// fail to evaluate (vars.limit is a string; user.n is sometimes one).
var atoms = []string{
	`event.from startsWith "oVIP"`,
	`len(event.content) > 4`,
	`event.content contains "a"`,
	`event.from == "oUser"`,
	`true`,
	`false`,
	`vars.limit > 3`,
	`event.key == "MENU_A"`,
	`"promo" == event.key`,
	`event.key in ["MENU_A", "MENU_B"]`,
	`event.key == "k" || event.key == "promo"`,
	`event.type == "click"`,
	`event.type in ["text", "voice"]`,
	`"scan" == event.type || event.type == "text"`,
	`event.content == "abc"`,
	`event.content in ["价格", "Ab", ""]`,
	`user.step == "phone"`,
	`"name" == user.step`,
	`user.step in ["phone", "done"]`,
	`user.step in ["", "phone"]`,
	`user.step == "phone" || user.step == "name"`,
	`user.step == ""`,
	`user.step != "done"`,
	`user.lang == "zh"`,
	`user.n > 2`,
	`not (user.step == "phone")`,
	`user.step == "phone" || event.key == "k"`,
}

// condition joins one to three atoms with && (and sometimes ||).
func (g *ruleGen) condition() string {
	src := atoms[g.c.intn(len(atoms))]
	for range g.c.intn(3) {
		op := []string{" && ", " and ", " && ", " || "}[g.c.intn(4)]
		src += op + atoms[g.c.intn(len(atoms))]
	}
	if g.c.intn(6) == 0 {
		src = "(" + src + ") && " + atoms[g.c.intn(len(atoms))]
	}
	return src
}

// user is a user's state: missing, empty, or with a step of the atoms'
// values, of the wrong type, or absent.
func (g *ruleGen) user() map[string]any {
	switch g.c.intn(4) {
	case 0:
		return nil
	case 1:
		return map[string]any{}
	}
	u := map[string]any{}
	steps := []any{"phone", "name", "done", "", 3, nil, "PHONE"}
	if k := g.c.intn(len(steps) + 1); k < len(steps) {
		u["step"] = steps[k]
	}
	if g.c.intn(2) == 0 {
		u["lang"] = []any{"zh", "en", 1.5}[g.c.intn(3)]
	}
	if g.c.intn(2) == 0 {
		u["n"] = []any{1, 5, "x"}[g.c.intn(3)]
	}
	return u
}

// setsState is a state step: the rules after its rule see the user at
// another step (or without one).
type setsState struct{ step any }

func (setsState) Run(context.Context, *Call) error { return nil }
func (s setsState) StatePatch(*Env) (*store.UserPatch, error) {
	if s.step == nil {
		return &store.UserPatch{Unset: []string{"step"}}, nil
	}
	return &store.UserPatch{Set: map[string]any{"step": s.step}}, nil
}

type ruleGen struct {
	c     chooser
	extra []string // more literals (fuzz input)
}

func (g *ruleGen) word() string {
	if len(g.extra) > 0 && g.c.intn(3) == 0 {
		return g.extra[g.c.intn(len(g.extra))]
	}
	return words[g.c.intn(len(words))]
}

// literal is a word as a rule would store it: usually normalized, sometimes
// not (then it can never match, in both matchers), sometimes empty.
func (g *ruleGen) literal() string {
	switch g.c.intn(12) {
	case 0:
		return g.word() // possibly upper case, as written
	case 1:
		return ""
	case 2:
		return NormalizeText(g.word() + " " + g.word())
	}
	return NormalizeText(g.word())
}

// reWord is a word quoted for a regex (regexes must be valid UTF-8).
func (g *ruleGen) reWord() string {
	w := g.word()
	if !utf8.ValidString(w) {
		w = strings.ToValidUTF8(w, "\uFFFD")
	}
	return regexp.QuoteMeta(w)
}

func (g *ruleGen) regex() *regexp.Regexp {
	q, q2 := g.reWord(), g.reWord()
	forms := []string{
		q, "^" + q, q + "$", "(?i)" + q, q + `\d+`, "(" + q + "|" + q2 + ")",
		q + "*", `[a-c]x*` + q, `\A` + q + ".*" + q2, "(?:" + q + "){2}", "x?" + q,
		"(?i:" + q + ")" + q2, `\b` + q + `\b`, ".", "^$", `^\s*` + q + `\s*$`,
		q + "+" + q2, "(" + q + ")+", q + "{2,3}",
	}
	return regexp.MustCompile(forms[g.c.intn(len(forms))])
}

func (g *ruleGen) rule(i int) *Rule {
	r := &Rule{Name: fmt.Sprint("r", i)}
	switch g.c.intn(6) {
	case 0:
		r.On = []string{"*"}
	case 1:
		r.On = []string{evTypes[g.c.intn(len(evTypes))], evTypes[g.c.intn(len(evTypes))]}
	default:
		r.On = []string{evTypes[g.c.intn(2)]}
	}
	// The text gate: any mix of matchers, or none.
	if g.c.intn(5) > 0 {
		for range g.c.intn(3) {
			r.Text.Exact = append(r.Text.Exact, g.literal())
		}
		for range g.c.intn(3) {
			r.Text.Contains = append(r.Text.Contains, g.literal())
		}
		for range g.c.intn(3) {
			r.Text.Prefix = append(r.Text.Prefix, g.literal())
		}
		if g.c.intn(3) == 0 {
			for range 1 + g.c.intn(2) {
				r.Text.Regex = append(r.Text.Regex, g.regex())
			}
		}
	}
	if g.c.intn(4) == 0 {
		for range 1 + g.c.intn(2) {
			r.Keys = append(r.Keys, keyPool[1+g.c.intn(len(keyPool)-1)])
		}
	}
	if g.c.intn(3) == 0 {
		src := g.condition()
		p, err := CompileCondition(src)
		if err != nil {
			panic(fmt.Sprintf("%s: %v", src, err))
		}
		r.When, r.WhenSrc = p, src
	}
	if g.c.intn(6) == 0 {
		st := setsState{[]any{"phone", "name", "done", 3, nil}[g.c.intn(5)]}
		r.Steps = []Step{{Name: "state", Action: st, State: st}}
	}
	r.Priority = g.c.intn(3) - 1
	r.Continue = g.c.intn(3) == 0
	r.Disabled = g.c.intn(10) == 0
	if g.c.intn(8) == 0 {
		r.Cooldown = time.Minute
	}
	return r
}

func (g *ruleGen) ruleSet(n int) *RuleSet {
	rules := make([]*Rule, n)
	for i := range rules {
		rules[i] = g.rule(i)
	}
	return NewRuleSet(rules, map[string]any{"limit": "not a number"})
}

// content builds a push's text from the rules' words and noise, in varied
// case and with surrounding spaces.
func (g *ruleGen) content() string {
	var b strings.Builder
	for range g.c.intn(4) {
		b.WriteString([]string{"", " ", "\t", "  \n"}[g.c.intn(4)])
	}
	for range g.c.intn(5) {
		w := g.word()
		switch g.c.intn(4) {
		case 0:
			w = strings.ToUpper(w)
		case 1:
			w = strings.ToLower(w)
		}
		b.WriteString(w)
		b.WriteString([]string{"", "", " ", "z", "7"}[g.c.intn(5)])
	}
	for range g.c.intn(3) {
		b.WriteString([]string{" ", "\t", "\n"}[g.c.intn(3)])
	}
	return b.String()
}

func (g *ruleGen) event() push {
	ev := &Event{
		Type:    evTypes[g.c.intn(len(evTypes))],
		From:    []string{"oUser", "oVIP1", ""}[g.c.intn(3)],
		Content: g.content(),
		Key:     keyPool[g.c.intn(len(keyPool))],
	}
	if g.c.intn(4) == 0 { // a content the conditions compare with
		ev.Content = []string{"abc", "价格", "Ab", "", " abc"}[g.c.intn(5)]
	}
	return push{ev, g.user()}
}

// push is an event and the state of the user who sent it.
type push struct {
	ev   *Event
	user map[string]any
}

// compare runs pushes through set with and without the index, each with
// its own cooldown store, and fails on any difference.
func compare(t *testing.T, set *RuleSet, pushes []push) {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	indexed, linear := memory.New(clock), memory.New(clock)
	for _, p := range pushes {
		ev := p.ev
		// Each matcher its own environment: state steps change the user.
		env, linearEnv := newEnv(ev, set.Vars, clock, time.UTC), newEnv(ev, set.Vars, clock, time.UTC)
		env.SetUser(p.user)
		linearEnv.SetUser(p.user)
		got, gotErrs := set.MatchInto(ctx, nil, ev, env, indexed)
		want, wantErrs := linearMatch(ctx, set, ev, linearEnv, linear)
		if !reflect.DeepEqual(names(got), names(want)) || fmt.Sprint(gotErrs) != fmt.Sprint(wantErrs) {
			var rs strings.Builder
			for _, r := range set.Ordered() {
				fmt.Fprintf(&rs, "  %s on=%q text=%q/%q/%q/%v keys=%q when=%q prio=%d cont=%v off=%v cd=%v state=%v\n",
					r.Name, r.On, r.Text.Exact, r.Text.Contains, r.Text.Prefix, r.Text.Regex, r.Keys,
					r.WhenSrc, r.Priority, r.Continue, r.Disabled, r.Cooldown, r.SetsState())
			}
			t.Fatalf("event %+v user %v:\nindexed %v %v\nlinear  %v %v\nrules:\n%s",
				*ev, p.user, names(got), gotErrs, names(want), wantErrs, rs.String())
		}
	}
}

func TestMatchDifferential(t *testing.T) {
	sets := 3000
	if testing.Short() {
		sets = 300
	}
	g := &ruleGen{c: randChooser{rand.New(rand.NewPCG(1, 2))}}
	for range sets {
		set := g.ruleSet(1 + g.c.intn(40))
		pushes := make([]push, 20)
		for i := range pushes {
			pushes[i] = g.event()
		}
		compare(t, set, pushes)
	}
}

// FuzzMatchDifferential builds a rule set from choices (with literals cut
// from lits as well as the usual words) and matches content against it with
// and without the index.
func FuzzMatchDifferential(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, "订单12|abc", " 订单123 ABC ", "text")
	f.Add([]byte("regex and prefix"), "x.y|hello", "HELLO x.y", "voice")
	f.Fuzz(func(t *testing.T, choices []byte, lits, content, typ string) {
		g := &ruleGen{c: &byteChooser{choices}}
		for _, l := range strings.Split(lits, "|") {
			if l != "" {
				g.extra = append(g.extra, l)
			}
		}
		set := g.ruleSet(1 + g.c.intn(30))
		pushes := []push{
			{&Event{Type: typ, From: "oUser", Content: content}, nil},
			{&Event{Type: typ, From: "oVIP", Content: content, Key: "MENU_A"}, g.user()},
		}
		for range 5 {
			pushes = append(pushes, g.event())
		}
		compare(t, set, pushes)
	})
}

func TestRequiredLiteral(t *testing.T) {
	for _, c := range []struct{ re, want string }{
		{`abc`, "abc"},
		{`^订单\d+$`, "订单"},
		{`(?i)abc`, ""},
		{`(?i:ab)cd`, "cd"},
		{`a|b`, ""},
		{`a*`, ""},
		{`x?abc`, "abc"},
		{`ab\d+cdef`, "cdef"},
		{`(abc)+`, "abc"},
		{`(?:ab){2}`, "abab"},
		{`a{0,3}`, ""},
		{`.`, ""},
		{`\x{FFFD}`, ""},
		{`\bfoo\b`, "foo"},
	} {
		if got := requiredLiteral(regexp.MustCompile(c.re)); got != c.want {
			t.Errorf("requiredLiteral(%q) = %q, want %q", c.re, got, c.want)
		}
	}
}

// TestMatchIndexAllocs checks that the literal index adds no allocation.
func TestMatchIndexAllocs(t *testing.T) {
	rules := make([]*Rule, 3000)
	for i := range rules {
		rules[i] = mixedRule(i)
	}
	rules = append(rules, rule("has", []string{"text"}, containsText("a"), regex(`b\d`)))
	set := NewRuleSet(rules, nil)
	ev := &Event{Type: "text", From: "oUser", Content: strings.Repeat("ab1 ", 100) + "订单2"}
	env := newEnv(ev, nil, time.Now, time.UTC)
	cd := memory.New(nil)
	dst := make([]*Rule, 0, 4)
	allocs := testing.AllocsPerRun(100, func() {
		m, _ := set.MatchInto(context.Background(), dst, ev, env, cd)
		if len(m) != 1 {
			t.Fatalf("matched %v", names(m))
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per match", allocs)
	}
}

// TestCandidatesPrune checks that the index leaves out the rules whose
// literals do not occur, and keeps match order.
func TestCandidatesPrune(t *testing.T) {
	text := []string{"text"}
	set := NewRuleSet([]*Rule{
		rule("order", text, prefix("订单")),
		rule("how-much", text, containsText("多少钱")),
		rule("code", text, regex(`^\d{6}$`)),  // no literal: always a candidate
		rule("ship", text, regex(`(?i)ship`)), // case-insensitive: always
		rule("track", text, regex(`Track\d+`)),
		rule("both", text, exact("hi"), containsText("yo")),
		rule("cond", text, when(`true`)),
		rule("mid", text, prefix("单")),
	}, nil)
	for _, c := range []struct {
		content string
		want    []string
	}{
		{"订单多少钱", []string{"order", "how-much", "code", "ship", "cond"}},
		{"  HI ", []string{"code", "ship", "both", "cond"}},
		{"track1 yo", []string{"code", "ship", "both", "cond"}},
		{"Track1", []string{"code", "ship", "track", "cond"}},
		{"单单", []string{"code", "ship", "cond", "mid"}},
	} {
		ev := &Event{Type: "text", Content: c.content}
		var buf, hits [32]int32
		var got []string
		env := newEnv(ev, nil, time.Now, time.UTC)
		cands, err := set.candidates(context.Background(), ev, NormalizeText(c.content), env, 0, true, buf[:], hits[:])
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range cands {
			got = append(got, set.ordered[i].Name)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: candidates %v, want %v", c.content, got, c.want)
		}
	}
}

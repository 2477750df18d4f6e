package engine

import (
	"context"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/vm"
)

// Pos is a position in a rules file.
type Pos struct {
	File string
	Line int
	Col  int
}

// Rule is one compiled rule. A Rule is immutable once in a RuleSet, except for
// its hit counter.
type Rule struct {
	Name string
	Pos  Pos
	// On lists the event types the rule answers (lower case); "*" is any.
	On []string
	// Text gates text messages; the zero TextMatch lets everything through.
	Text TextMatch
	// Keys gates on EventKey (exact); empty lets everything through.
	Keys []string
	// Active lists windows the rule is limited to; any of them will do.
	Active []ActiveRef
	// When is the compiled condition; nil is true.
	When    *vm.Program
	WhenSrc string
	// Priority orders rules, higher first; equal priorities keep file order.
	Priority int
	// Cooldown lets the rule fire at most once per user in this span.
	Cooldown time.Duration
	// Limit caps how often the rule fires (nil: no cap).
	Limit *Limit
	// Continue keeps matching later rules after this one matched.
	Continue bool
	// Disabled rules are loaded and checked but never match.
	Disabled bool
	// Steps are the rule's actions, run in order.
	Steps []Step
	// ReadsUser is set when the rule's condition or an action's ${…} reads
	// user: the push's state is loaded before the rule is checked.
	ReadsUser bool
	// DuringHandoff lets the rule run while a person holds the user's
	// conversation (see Handoff).
	DuringHandoff bool

	// hits counts live pushes the rule matched. A reload hands the counter
	// of a rule to the rule of the same name in the new set (see
	// Engine.SetRules), so counts survive reloads as Prometheus counters
	// do; offline runs (rule tests, explain) never count.
	hits *hitCounter
	// setsState caches SetsState for the matcher.
	setsState bool
}

// hitCounter is a rule's live matches: how many, and when the latest was.
type hitCounter struct {
	n    atomic.Uint64
	last atomic.Int64 // Unix nanoseconds of the latest match's push
}

// Hits is how many live pushes the rule matched since the bot started (a
// rule that keeps its name keeps its count across reloads).
func (r *Rule) Hits() uint64 {
	if r.hits == nil {
		return 0
	}
	return r.hits.n.Load()
}

// LastHit is the time of the latest live push the rule matched (zero when
// none has since the bot started).
func (r *Rule) LastHit() time.Time {
	if r.hits == nil {
		return time.Time{}
	}
	if ns := r.hits.last.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// ActiveRef is one entry of `active:`: a schedule (a `windows:` entry), or
// (Negate) its complement.
type ActiveRef struct {
	Schedule string
	Negate   bool
}

// Step is one action of a rule.
type Step struct {
	Name    string // the action's registered name
	Pos     Pos
	Action  Action
	Passive bool
	Inline  bool // see Spec.Inline
	// State is the action as a StatePatcher, when it changes user state.
	State StatePatcher
}

// Steps are an action's own actions (transfer's if_offline): the rules
// loader reads them as it reads a rule's, and the action runs them with
// Call.Run when it decides to.
type Steps []Step

// SetsState reports whether a step of the rule changes the user's state:
// rules checked after it in the same push may see a different user.
func (r *Rule) SetsState() bool {
	for i := range r.Steps {
		if r.Steps[i].State != nil {
			return true
		}
	}
	return false
}

// TextMatch is the fast-path text gate. Any matcher that hits lets the push
// through. Exact, Contains and Prefix compare case-insensitively with the
// message's surrounding white space removed, and must be stored normalized
// (see NormalizeText); Regex runs on the content as sent.
type TextMatch struct {
	Exact    []string
	Contains []string
	Prefix   []string
	Regex    []*regexp.Regexp
}

// IsZero reports whether the gate has no matchers.
func (t *TextMatch) IsZero() bool {
	return len(t.Exact)+len(t.Contains)+len(t.Prefix)+len(t.Regex) == 0
}

// onlyExact reports whether the gate is decided by exact strings alone, so
// the index can stand in for it.
func (t *TextMatch) onlyExact() bool {
	return len(t.Exact) > 0 && len(t.Contains)+len(t.Prefix)+len(t.Regex) == 0
}

// Match tests raw content; norm is NormalizeText(raw).
func (t *TextMatch) Match(raw, norm string) bool {
	for _, s := range t.Exact {
		if norm == s {
			return true
		}
	}
	for _, s := range t.Contains {
		if strings.Contains(norm, s) {
			return true
		}
	}
	for _, s := range t.Prefix {
		if strings.HasPrefix(norm, s) {
			return true
		}
	}
	for _, re := range t.Regex {
		if re.MatchString(raw) {
			return true
		}
	}
	return false
}

// NormalizeText is how text gates see content: trimmed and lower case, so
// "Price " matches exact "price".
func NormalizeText(s string) string { return lower(strings.TrimSpace(s)) }

// RuleSet is a compiled rules file, ready to match. It is immutable.
type RuleSet struct {
	// Rules in file order.
	Rules []*Rule
	Vars  map[string]any
	// Schedules are the file's `windows:`, for `active:` and active().
	Schedules map[string]*Schedule
	// NeedsRaw is set when some expression reads event.raw, so events carry
	// the raw map only then.
	NeedsRaw bool
	// NeedsRecent is set when some expression reads event.recent: only
	// then are users' texts kept and read (see recent.go).
	NeedsRecent bool
	// Handoff is the file's `handoff:` (DefaultHandoff when it has none).
	Handoff Handoff
	// Source describes where the rules came from, for /rules and logs.
	Source   string
	Hash     string
	LoadedAt time.Time

	ordered []*Rule // by priority desc, then file order
	byType  map[string]*typeIndex
	any     *typeIndex // rules on "*"
}

// typeIndex lists, for one event type, the rules to consider, as positions in
// RuleSet.ordered (ascending, so merging keeps match order).
type typeIndex struct {
	exact map[string][]int32 // normalized text → rules decided by exact text
	// keys holds the rules gated by key and those whose condition requires
	// event.key to be one of some strings (see planWhen); content, those
	// whose condition requires event.content to be.
	keys    map[string][]int32
	content map[string][]int32
	// users holds the rules whose condition requires a user.NAME to be one
	// of some strings, by NAME.
	users     []userIndex
	firstUser int32   // the first position in users
	rest      []int32 // everything else
	// norm finds the contains and prefix literals of rules whose text gate
	// the index decides (see planText) in the normalized content; raw finds
	// the literals their regexes require in the content as sent. Their exact
	// strings are in exact. Either may be nil.
	norm, raw *acAutomaton

	normB, rawB acBuilder // while building
}

// userIndex is one user field's rules: by the string value that lets them
// through, and all of them (for a value that is not a string, which a test
// `in` a set makes an error that the rule must report).
type userIndex struct {
	name    string
	byValue map[string][]int32
	all     []int32
}

// NewRuleSet indexes rules (given in file order).
func NewRuleSet(rules []*Rule, vars map[string]any) *RuleSet {
	s := &RuleSet{Rules: rules, Vars: vars, byType: make(map[string]*typeIndex)}
	s.ordered = make([]*Rule, len(rules))
	copy(s.ordered, rules)
	for _, r := range rules {
		if r.hits == nil {
			r.hits = new(hitCounter)
		}
		for i := range r.Steps {
			if sp, ok := r.Steps[i].Action.(StatePatcher); ok && r.Steps[i].State == nil {
				r.Steps[i].State = sp
			}
		}
		r.setsState = r.SetsState()
	}
	sort.SliceStable(s.ordered, func(i, j int) bool { return s.ordered[i].Priority > s.ordered[j].Priority })
	for i, r := range s.ordered {
		if r.Disabled {
			continue
		}
		var plan textPlan
		var wp whenPlan
		if len(r.Keys) == 0 && !r.Text.onlyExact() {
			plan = planText(&r.Text)
		}
		if r.When != nil {
			wp = planWhen(r.When)
		}
		for _, on := range wp.restrict(dedupe(r.On)) { // twice the same type is once
			var ix *typeIndex
			if on == "*" {
				if s.any == nil {
					s.any = newTypeIndex()
				}
				ix = s.any
			} else {
				ix = s.byType[on]
				if ix == nil {
					ix = newTypeIndex()
					s.byType[on] = ix
				}
			}
			ix.add(int32(i), r, &plan, &wp)
		}
	}
	for _, ix := range s.byType {
		ix.build()
	}
	if s.any != nil {
		s.any.build()
	}
	return s
}

func newTypeIndex() *typeIndex {
	return &typeIndex{exact: map[string][]int32{}, keys: map[string][]int32{}, content: map[string][]int32{}}
}

// add indexes rule r at position i (ascending across calls); plan is
// planText(&r.Text) for rules with neither keys nor an exact-only gate, wp
// is planWhen(r.When).
func (ix *typeIndex) add(i int32, r *Rule, plan *textPlan, wp *whenPlan) {
	switch {
	case len(r.Keys) > 0:
		for _, k := range dedupe(r.Keys) {
			ix.keys[k] = append(ix.keys[k], i)
		}
	case r.Text.onlyExact():
		for _, t := range dedupe(r.Text.Exact) {
			ix.exact[t] = append(ix.exact[t], i)
		}
	case plan.prune:
		for _, t := range dedupe(r.Text.Exact) {
			ix.exact[t] = append(ix.exact[t], i)
		}
		for _, t := range r.Text.Contains {
			ix.normB.addContains(t, i)
		}
		for _, t := range r.Text.Prefix {
			ix.normB.addPrefix(t, i)
		}
		for _, t := range plan.rawRe {
			ix.rawB.addContains(t, i)
		}
	case wp.field == fieldKey:
		for _, v := range dedupe(wp.values) {
			ix.keys[v] = append(ix.keys[v], i)
		}
	case wp.field == fieldContent:
		for _, v := range dedupe(wp.values) {
			ix.content[v] = append(ix.content[v], i)
		}
	case wp.field == fieldUser:
		ix.addUser(wp.user, dedupe(wp.values), i)
	default:
		ix.rest = append(ix.rest, i)
	}
}

func (ix *typeIndex) addUser(name string, values []string, i int32) {
	k := slices.IndexFunc(ix.users, func(u userIndex) bool { return u.name == name })
	if k < 0 {
		k = len(ix.users)
		ix.users = append(ix.users, userIndex{name: name, byValue: map[string][]int32{}})
	}
	if len(ix.users) == 1 && len(ix.users[0].all) == 0 {
		ix.firstUser = i // positions come ascending
	}
	u := &ix.users[k]
	for _, v := range values {
		u.byValue[v] = append(u.byValue[v], i)
	}
	u.all = append(u.all, i)
}

func (ix *typeIndex) build() {
	ix.norm, ix.raw = ix.normB.build(), ix.rawB.build()
	ix.normB, ix.rawB = acBuilder{}, acBuilder{}
}

func dedupe(xs []string) []string {
	seen := make(map[string]bool, len(xs))
	out := xs[:0:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// candidates returns, in match order, the rules at position from or later
// that may match ev: those the index cannot rule out. The gates still have
// to be checked. With withUser, it adds the rules indexed by a user field,
// reading the user's state for them (a failed read is returned once, and
// the user is then empty); without, it leaves them out (see firstUserRule).
// hits is scratch space for the literal index.
func (s *RuleSet) candidates(ctx context.Context, ev *Event, norm string, env *Env, from int32, withUser bool, buf, hits []int32) ([]int32, error) {
	// Kept off the heap: methods storing into a struct would make the
	// caller's scratch arrays escape.
	var lists [13][]int32 // the last one is for spill
	n, spill := 0, hits[:0]
	var err error
	for _, ix := range [2]*typeIndex{s.byType[ev.Type], s.any} {
		if ix == nil {
			continue
		}
		for _, l := range [4][]int32{ix.exact[norm], ix.keys[ev.Key], ix.content[ev.Content], ix.rest} {
			n, spill = addList(&lists, n, spill, l, from)
		}
		if withUser && len(ix.users) > 0 {
			if e := env.needUser(ctx); e != nil {
				err = e
			}
			for k := range ix.users {
				n, spill = addList(&lists, n, spill, ix.users[k].lookup(env.User), from)
			}
		}
		if ix.norm != nil {
			spill = ix.norm.find(norm, spill)
		}
		if ix.raw != nil {
			spill = ix.raw.find(ev.Content, spill)
		}
	}
	if l := cutFrom(sortDedupe(spill), from); len(l) > 0 {
		lists[n] = l
		n++
	}
	return mergeSorted(lists[:n], buf[:0]), err
}

// addList adds l's positions from from on to the lists to merge, or to
// spill (sorted at the end) when the room for lists is taken.
func addList(lists *[13][]int32, n int, spill, l []int32, from int32) (int, []int32) {
	if l = cutFrom(l, from); len(l) == 0 {
		return n, spill
	}
	if n == len(lists)-1 {
		return n, appendHits(spill, l)
	}
	lists[n] = l
	return n + 1, spill
}

// cutFrom is the part of ascending l from from on.
func cutFrom(l []int32, from int32) []int32 {
	if from > 0 && len(l) > 0 {
		k, _ := slices.BinarySearch(l, from)
		l = l[k:]
	}
	return l
}

// lookup is the rules u lets through the index: those of the field's value
// when it is a string, none when it is missing (nil equals no string, and
// no set indexed holds ""), all of them when it is something else.
func (x *userIndex) lookup(u map[string]any) []int32 {
	switch v := u[x.name].(type) {
	case string:
		return x.byValue[v]
	case nil:
		return nil
	}
	return x.all
}

// mergeSorted merges ascending lists into out, without duplicates.
func mergeSorted(lists [][]int32, out []int32) []int32 {
	if len(lists) == 1 {
		return append(out, lists[0]...)
	}
	var pos [13]int
	for {
		best, bi := int32(-1), -1
		for i, l := range lists {
			if pos[i] < len(l) && (bi < 0 || l[pos[i]] < best) {
				best, bi = l[pos[i]], i
			}
		}
		if bi < 0 {
			return out
		}
		for i, l := range lists {
			if pos[i] < len(l) && l[pos[i]] == best {
				pos[i]++
			}
		}
		out = append(out, best)
	}
}

// Gate is a part of a rule that can stop it from matching, named as in
// rules.yaml; explain and rule tests report it.
type Gate string

// The gates, in the order Check runs them (on is decided by the index).
const (
	GateDisabled Gate = "disabled"
	GateOn       Gate = "on"
	GateText     Gate = "text"
	GateKey      Gate = "key"
	GateActive   Gate = "active"
	GateWhen     Gate = "when"
	GateCooldown Gate = "cooldown"
	// GateHandoff (handoff.go) comes first: a quiet push checks nothing else.
	// GateUnreached marks rules after the one that stopped the search.
	GateUnreached Gate = "unreached"
)

// Check runs a rule's gates against an event, in the documented order (text,
// key, active, when, cooldown, limit). It returns "" when the rule matches, or the
// gate that stopped it; err is set when `when` failed to evaluate or the
// store failed (the rule does not match). A cooldown is taken only when
// every earlier gate passed, and a limit counted only when the cooldown
// was taken too.
func (r *Rule) Check(ctx context.Context, ev *Event, norm string, env *Env, schedules map[string]*Schedule, cooldowns Cooldowns) (gate Gate, err error) {
	if r.Disabled {
		return GateDisabled, nil
	}
	if env.quiet && !r.DuringHandoff {
		return GateHandoff, nil
	}
	if !r.Text.IsZero() && !r.Text.Match(ev.Content, norm) {
		return GateText, nil
	}
	if len(r.Keys) > 0 && !contains(r.Keys, ev.Key) {
		return GateKey, nil
	}
	if len(r.Active) > 0 && !r.activeAt(env.Now(), schedules) {
		return GateActive, nil
	}
	ok, err := EvalCondition(r.When, env)
	if err != nil || !ok {
		return GateWhen, err
	}
	if r.Cooldown > 0 {
		ok, err := cooldowns.TakeCooldown(ctx, "cooldown\x00"+r.Name+"\x00"+ev.From, r.Cooldown)
		if err != nil {
			return GateCooldown, err
		}
		if !ok {
			return GateCooldown, nil
		}
	}
	if r.Limit != nil {
		return r.checkLimit(ctx, ev, cooldowns)
	}
	return "", nil
}

func (r *Rule) activeAt(t time.Time, schedules map[string]*Schedule) bool {
	for _, a := range r.Active {
		w, ok := schedules[a.Schedule]
		if ok && w.Contains(t) != a.Negate {
			return true
		}
	}
	return false
}

// Answers reports whether the rule's `on` covers the event type.
func (r *Rule) Answers(typ string) bool {
	for _, on := range r.On {
		if on == "*" || on == typ {
			return true
		}
	}
	return false
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

// Ordered returns the enabled and disabled rules in match order.
func (s *RuleSet) Ordered() []*Rule { return s.ordered }

// Match returns the rules that match ev, in order, stopping after the first
// one without `continue`. Rules whose gates fail to evaluate do not match;
// their errors (*RuleError) are returned alongside.
func (s *RuleSet) Match(ctx context.Context, ev *Event, env *Env, cooldowns Cooldowns) (matched []*Rule, errs []error) {
	return s.MatchInto(ctx, nil, ev, env, cooldowns)
}

// MatchInto is Match appending to dst (which may have room, saving an
// allocation per push).
func (s *RuleSet) MatchInto(ctx context.Context, dst []*Rule, ev *Event, env *Env, cooldowns Cooldowns) (matched []*Rule, errs []error) {
	matched = dst
	s.beginHandoff(ctx, ev, env)
	norm := ev.Content
	if ev.Content != "" {
		norm = NormalizeText(ev.Content)
	}
	var buf, hits [32]int32
	// The rules indexed by a user field join the candidates only when the
	// search reaches the first of them, so a push answered before it never
	// reads the user's state.
	userAt := s.firstUserRule(ev.Type)
	cands, _ := s.candidates(ctx, ev, norm, env, 0, false, buf[:], hits[:])
	for k := 0; ; k++ {
		if userAt != noRule && (k == len(cands) || cands[k] >= userAt) {
			var err error
			if cands, err = s.candidates(ctx, ev, norm, env, userAt, true, buf[:], hits[:]); err != nil {
				errs = append(errs, err)
			}
			userAt, k = noRule, 0
		}
		if k == len(cands) {
			break
		}
		i := cands[k]
		r := s.ordered[i]
		if r.ReadsUser || r.setsState {
			if err := env.needUser(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		gate, err := r.Check(ctx, ev, norm, env, s.Schedules, cooldowns)
		if err != nil {
			errs = append(errs, &RuleError{Rule: r.Name, Gate: gate, Err: err})
		}
		if gate != "" {
			continue
		}
		matched = append(matched, r)
		if r.setsState {
			env.applyState(r)
		}
		if !r.Continue {
			break
		}
		if r.setsState && userAt == noRule && s.firstUserRule(ev.Type) != noRule {
			// The rule changed the user's state before later rules are
			// checked: which of them the user index lets through may change.
			cands, _ = s.candidates(ctx, ev, norm, env, i+1, true, buf[:], hits[:])
			k = -1
		}
	}
	return matched, errs
}

// noRule is a position past every rule.
const noRule = int32(math.MaxInt32)

// firstUserRule is the position of the first rule for events of type typ
// indexed by a user field, or noRule.
func (s *RuleSet) firstUserRule(typ string) int32 {
	at := noRule
	for _, ix := range [2]*typeIndex{s.byType[typ], s.any} {
		if ix != nil && len(ix.users) > 0 {
			at = min(at, ix.firstUser)
		}
	}
	return at
}

// RuleError is a rule's gate failing at run time: its condition (a nil map
// key, a type mismatch the checker could not see) or its cooldown (the
// store failed).
type RuleError struct {
	Rule string
	Gate Gate
	Err  error
}

func (e *RuleError) Error() string {
	return "rule " + strconv.Quote(e.Rule) + ": " + string(e.Gate) + ": " + e.Err.Error()
}
func (e *RuleError) Unwrap() error { return e.Err }

package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/engine/wechat"
)

// TestCase is one entry of a rules file's `tests:`: an event and what the
// rules must do with it.
type TestCase struct {
	Name string
	Pos  engine.Pos
	// At is the wall-clock time the test runs at, in the bot's time zone
	// (DefaultTestTime when zero).
	At     time.Time
	Event  EventDoc
	Expect ExpectDoc
	// User is the pushing user's state before the test (`user:`).
	User map[string]any
	// Steps, when set, are a conversation run in place of Event and
	// Expect: the user's state is carried from each step to the next.
	Steps []TestStep
	// AIAnswer stands in for the model's answer to an `ai` action
	// (`ai_answer:`); tests never call a model.
	AIAnswer *string
}

// TestStep is one push of a `steps:` test.
type TestStep struct {
	Pos engine.Pos
	// At is the step's time (the test's when zero): a later step may come
	// after a state expired.
	At     time.Time
	Event  EventDoc
	Expect ExpectDoc
}

// DefaultTestTime is when tests without `at:` run: a Monday, 10:00.
var DefaultTestTime = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

// EventDoc is an event as tests and `wxbot explain` write it; the fields
// are those of event.* in expressions.
type EventDoc struct {
	Type        string            `yaml:"type"`
	From        string            `yaml:"from"`
	To          string            `yaml:"to"`
	MsgID       string            `yaml:"msg_id"`
	Content     string            `yaml:"content"`
	Key         string            `yaml:"key"`
	Ticket      string            `yaml:"ticket"`
	MediaID     string            `yaml:"media_id"`
	PicURL      string            `yaml:"pic_url"`
	Format      string            `yaml:"format"`
	Recognition string            `yaml:"recognition"`
	Location    engine.Geo        `yaml:"location"`
	Link        engine.Link       `yaml:"link"`
	Scan        engine.Scan       `yaml:"scan"`
	Payment     PaymentDoc        `yaml:"payment"`
	Raw         map[string]string `yaml:"raw"`
	// KfAccount is the agent of a kf_create_session or kf_close_session,
	// or the one taking over in a kf_switch_session (KfFrom handing over).
	KfAccount string `yaml:"kf_account"`
	KfFrom    string `yaml:"kf_from"`
}

// PaymentDoc is event.payment as tests write it.
type PaymentDoc struct {
	OutTradeNo    string `yaml:"out_trade_no"`
	TransactionID string `yaml:"transaction_id"`
	Total         int64  `yaml:"total"`
	Currency      string `yaml:"currency"`
	State         string `yaml:"state"`
	Attach        string `yaml:"attach"`
}

// ExpectDoc is what a test checks; unset parts are not checked.
type ExpectDoc struct {
	// Rules that match, in order.
	Rules *[]string `yaml:"rules"`
	// Actions that run, by name, in order.
	Actions *[]string `yaml:"actions"`
	// Reply is the passive response; NoReply expects none ("reply: none").
	Reply   *ReplyExpect `yaml:"reply"`
	NoReply bool         `yaml:"-"`
	// State is the user's whole state after the push ({} for none).
	State *map[string]any `yaml:"state"`
}

// ReplyExpect checks a passive response; empty fields are not checked.
type ReplyExpect struct {
	Type      string `yaml:"type"`
	Text      string `yaml:"text"`     // the whole text
	Contains  string `yaml:"contains"` // a part of the text
	MediaID   string `yaml:"media_id"`
	Title     string `yaml:"title"`
	KfAccount string `yaml:"kf_account"`
	NewsCount *int   `yaml:"news_count"`
}

// Event builds the engine event at the given time the way the live bot
// does: the fields become the push WeChat would send, which goes through
// the same normalization (a subscribe's qrscene_ prefix is dropped, a
// location_report's coordinates are event.location, …). What a push cannot
// carry (payment, raw, a location on a text) is taken as written.
func (d *EventDoc) Event(at time.Time) *engine.Event {
	typ := strings.ToLower(d.Type)
	m := &wechat.Message{FromUserName: d.From, ToUserName: d.To, CreateTime: at.Unix(), MsgID: d.MsgID,
		Content: d.Content, EventKey: d.Key, Ticket: d.Ticket, MediaID: d.MediaID, PicURL: d.PicURL,
		Format: d.Format, Recognition: d.Recognition}
	if m.FromUserName == "" {
		m.FromUserName = "oTestUser"
	}
	if m.ToUserName == "" {
		m.ToUserName = "gh_test"
	}
	loc := d.Location
	if engine.IsMessageType(typ) {
		m.MsgType = typ
		m.LocationX, m.LocationY, m.Scale, m.Label = loc.Lat, loc.Lng, loc.Scale, loc.Label
		m.Title, m.Description, m.URL = d.Link.Title, d.Link.Description, d.Link.URL
	} else {
		m.MsgType, m.Event = "event", engine.WeChatEvent(typ)
		m.Latitude, m.Longitude, m.Precision = loc.Lat, loc.Lng, loc.Precision
		m.ScanType, m.ScanResult = d.Scan.Type, d.Scan.Result
		m.KfAccount, m.FromKfAccount, m.ToKfAccount = d.KfAccount, d.KfFrom, d.KfAccount
		if typ == "location_select" {
			m.SendLocation = &wechat.SendLocation{X: loc.Lat, Y: loc.Lng, Scale: loc.Scale, Label: loc.Label}
		}
	}
	ev := engine.EventFromMessage(m, at.Location())
	ev.ID, ev.Time = "", at // the engine gives a hand-made event an ID of its own
	ev.Payment, ev.Raw = engine.Payment(d.Payment), d.Raw
	if ev.Raw == nil {
		ev.Raw = map[string]string{}
	}
	if ev.Location == (engine.Geo{}) {
		ev.Location = loc
	}
	if ev.Link == (engine.Link{}) {
		ev.Link = d.Link
	}
	if ev.Scan == (engine.Scan{}) {
		ev.Scan = d.Scan
	}
	return ev
}

var (
	testFields = []string{"ai_answer", "at", "event", "expect", "name", "steps", "user"}
	stepFields = []string{"at", "event", "expect"}
)

func (l *loader) parseTests(n *yaml.Node) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		l.errAt(n, "tests: want a list of tests, each with name, event and expect")
		return
	}
	for i, tn := range n.Content {
		label := fmt.Sprintf("tests[%d]", i)
		if tn.Kind != yaml.MappingNode {
			l.errAt(tn, label+": want a mapping with name, event and expect")
			continue
		}
		tc := TestCase{Pos: l.pos(tn)}
		fields := l.knownFields(tn, testFields, label)
		if v := fields["name"]; v != nil && v.Value != "" {
			tc.Name = v.Value
			label = fmt.Sprintf("test %q", tc.Name)
		} else {
			l.errAt(tn, label+": name: required")
		}
		d := &decoder{l: l, prefix: label + ": "}
		tc.At = l.testTime(fields["at"], label)
		if v := fields["user"]; v != nil {
			d.decode(v, reflectValue(&tc.User), "user")
		}
		if v := fields["ai_answer"]; v != nil {
			s := v.Value
			tc.AIAnswer = &s
		}
		switch steps := fields["steps"]; {
		case steps != nil && (fields["event"] != nil || fields["expect"] != nil):
			l.errAt(steps, label+": steps: give either steps (a conversation) or event and expect, not both")
		case steps != nil:
			tc.Steps = l.parseSteps(steps, label)
		default:
			tc.Event, tc.Expect = l.parseEventExpect(tn, fields, d, label)
		}
		l.tests = append(l.tests, tc)
	}
}

// testTime reads a test's or step's `at:`.
func (l *loader) testTime(v *yaml.Node, label string) time.Time {
	if v == nil {
		return time.Time{}
	}
	t, err := engine.ParseWallTime(v.Value)
	if err != nil {
		l.errAt(v, label+": at: "+err.Error())
	}
	return t
}

// parseEventExpect reads the event and expect of a test or a step.
func (l *loader) parseEventExpect(at *yaml.Node, fields map[string]*yaml.Node, d *decoder, label string) (ev EventDoc, x ExpectDoc) {
	if v := fields["event"]; v == nil {
		l.errAt(at, label+": event: required (e.g. {type: text, content: 价格})")
	} else {
		d.decode(v, reflectValue(&ev), "event")
		if ev.Type == "" {
			l.errAt(v, label+": event.type: required")
		} else if t := strings.ToLower(ev.Type); !slices.Contains(EventTypes, t) {
			l.errAt(fieldNode(v, "type"), fmt.Sprintf("%s: event.type: unknown event type %q", label, ev.Type))
		}
	}
	if v := fields["expect"]; v == nil {
		l.errAt(at, label+": expect: required (rules, actions, reply and/or state)")
	} else {
		if r := fieldNode(v, "reply"); r != v && r.Kind == yaml.ScalarNode && r.Value == "none" {
			x.NoReply = true
			r.Value, r.Tag = "", "!!null"
		}
		d.decode(v, reflectValue(&x), "expect")
	}
	return ev, x
}

// parseSteps reads a conversation: a list of events with expectations.
func (l *loader) parseSteps(n *yaml.Node, label string) []TestStep {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		l.errAt(n, label+": steps: want a list of {event, expect}")
		return nil
	}
	var steps []TestStep
	for i, sn := range n.Content {
		where := fmt.Sprintf("%s: steps[%d]", label, i)
		if sn.Kind != yaml.MappingNode {
			l.errAt(sn, where+": want a mapping with event and expect")
			continue
		}
		fields := l.knownFields(sn, stepFields, where)
		st := TestStep{Pos: l.pos(sn), At: l.testTime(fields["at"], where)}
		st.Event, st.Expect = l.parseEventExpect(sn, fields, &decoder{l: l, prefix: where + ": "}, where)
		steps = append(steps, st)
	}
	return steps
}

// checkTestNames reports expectations naming rules that do not exist.
func (l *loader) checkTestNames() {
	for _, tc := range l.tests {
		check := func(x *ExpectDoc, pos engine.Pos, where string) {
			if x.Rules == nil {
				return
			}
			for _, name := range *x.Rules {
				if _, ok := l.names[name]; !ok {
					l.errAtPos(pos, fmt.Sprintf("test %q: %sexpect.rules: no rule is named %q", tc.Name, where, name))
				}
			}
		}
		check(&tc.Expect, tc.Pos, "")
		for i := range tc.Steps {
			check(&tc.Steps[i].Expect, tc.Steps[i].Pos, fmt.Sprintf("steps[%d]: ", i))
		}
	}
}

// TestResult is the outcome of one test.
type TestResult struct {
	Case     *TestCase
	Failures []string
}

// Passed reports whether every expectation held.
func (r *TestResult) Passed() bool { return len(r.Failures) == 0 }

// String is a failed test as FILE:LINE:COL: test "NAME" failed: reasons.
func (r *TestResult) String() string {
	p := r.Case.Pos
	return fmt.Sprintf("%s:%d:%d: test %q failed: %s", p.File, p.Line, p.Col, r.Case.Name, strings.Join(r.Failures, "; "))
}

// RunTests runs the file's tests against its rules, offline: a fixed clock
// in loc, a fresh in-memory store per test, no network.
func (l *Loaded) RunTests(ctx context.Context, loc *time.Location) []TestResult {
	out := make([]TestResult, len(l.Tests))
	for i := range l.Tests {
		out[i] = runWithin(ctx, TestTimeout, l.Set, &l.Tests[i], loc)
	}
	return out
}

// TestTimeout bounds one rule test. A test that takes longer fails: a push
// running the same rules would miss WeChat's 5 seconds, and a reload must
// not wait on it.
var TestTimeout = 5 * time.Second

// runWithin runs a test, giving up on it after d. Matching cannot be
// interrupted, so a test given up on finishes in the background; its
// result is dropped.
func runWithin(ctx context.Context, d time.Duration, set *engine.RuleSet, tc *TestCase, loc *time.Location) TestResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	done := make(chan TestResult, 1)
	go func() { done <- RunTest(ctx, set, tc, loc) }()
	select {
	case res := <-done:
		return res
	case <-ctx.Done():
		return TestResult{Case: tc, Failures: []string{fmt.Sprintf(
			"took longer than %v (a push running these rules would miss WeChat's 5 s: look for a costly when)", d)}}
	}
}

// RunTest runs one test against set: its push, or its steps in turn on
// one engine and store, so the user's state carries from step to step.
func RunTest(ctx context.Context, set *engine.RuleSet, tc *TestCase, loc *time.Location) TestResult {
	now := wallIn(tc.At, loc)
	st := memory.New(func() time.Time { return now })
	e := engine.New(engine.Options{Now: func() time.Time { return now }, Location: loc, State: st, DryRun: true, // offline: sends are encoded, not made; no webhook or model is called
		Canned: tc.canned()})
	defer e.Close(context.Background())
	e.SetRules(set)
	res := TestResult{Case: tc}
	steps := tc.Steps
	if steps == nil {
		steps = []TestStep{{Event: tc.Event, Expect: tc.Expect}}
	}
	if tc.User != nil {
		from := steps[0].Event.Event(now).From
		if err := st.PatchUser(ctx, from, &store.UserPatch{Set: tc.User}); err != nil {
			res.Failures = append(res.Failures, "user: "+err.Error())
			return res
		}
	}
	for i := range steps {
		step := &steps[i]
		if !step.At.IsZero() {
			now = wallIn(step.At, loc)
		}
		fails := runStep(ctx, e, st, step, now)
		if len(tc.Steps) > 0 {
			for j, f := range fails {
				fails[j] = fmt.Sprintf("step %d (%s): %s", i+1, step.Event.describe(), f)
			}
		}
		res.Failures = append(res.Failures, fails...)
		if len(fails) > 0 {
			break // later steps depend on this one's state
		}
	}
	return res
}

// wallIn is at's wall-clock time in loc (DefaultTestTime when zero).
func wallIn(at time.Time, loc *time.Location) time.Time {
	if at.IsZero() {
		at = DefaultTestTime
	}
	return time.Date(at.Year(), at.Month(), at.Day(), at.Hour(), at.Minute(), at.Second(), 0, loc)
}

// describe names an event in a step's failure: its type and what tells it
// apart (the text, the key).
func (d *EventDoc) describe() string {
	switch {
	case d.Content != "":
		return fmt.Sprintf("%s %q", d.Type, d.Content)
	case d.Key != "":
		return fmt.Sprintf("%s %s", d.Type, d.Key)
	}
	return d.Type
}

// runStep pushes one event and checks what was expected of it.
func runStep(ctx context.Context, e *engine.Engine, st *memory.Memory, step *TestStep, now time.Time) []string {
	ev := step.Event.Event(now)
	got, err := e.Dispatch(ev).Finish(ctx)
	if err != nil {
		return []string{err.Error()}
	}
	var fails []string
	if got.Err != nil {
		fails = append(fails, "an action failed: "+got.Err.Error())
	}
	x := &step.Expect
	if x.Rules != nil {
		names := make([]string, len(got.Rules))
		for i, r := range got.Rules {
			names[i] = r.Name
		}
		if !slices.Equal(names, *x.Rules) {
			fails = append(fails, fmt.Sprintf("rules: got %s, want %s", list(names), list(*x.Rules)))
		}
	}
	if x.Actions != nil {
		names := make([]string, len(got.Steps))
		for i, s := range got.Steps {
			names[i] = got.Action(s)
		}
		if !slices.Equal(names, *x.Actions) {
			fails = append(fails, fmt.Sprintf("actions: got %s, want %s", list(names), list(*x.Actions)))
		}
	}
	switch {
	case x.NoReply && got.Reply != nil:
		fails = append(fails, fmt.Sprintf("reply: got a %s reply, want none", got.Reply.Type))
	case x.Reply != nil:
		fails = append(fails, x.Reply.check(got.Reply)...)
	}
	if x.State != nil {
		state, err := st.LoadUser(ctx, ev.From)
		if err != nil {
			return append(fails, "state: "+err.Error())
		}
		fails = append(fails, compareState(state, *x.State)...)
	}
	return fails
}

// compareState says which keys of the user's state differ from want, one
// failure a key.
func compareState(got, want map[string]any) []string {
	want = jsonValues(want) // 1 in YAML is the 1.0 a store gives back
	keys := slices.Sorted(maps.Keys(got))
	for k := range want {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var f []string
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !wok:
			f = append(f, fmt.Sprintf("state.%s: got %s, want no such key", k, showValue(g)))
		case !gok:
			f = append(f, fmt.Sprintf("state.%s: got no such key, want %s", k, showValue(w)))
		case !reflect.DeepEqual(g, w):
			f = append(f, fmt.Sprintf("state.%s: got %s, want %s", k, showValue(g), showValue(w)))
		}
	}
	return f
}

// jsonValues turns YAML-decoded values into what JSON gives back.
func jsonValues(m map[string]any) map[string]any {
	b, err := json.Marshal(m)
	if err != nil {
		return m
	}
	var out map[string]any
	if json.Unmarshal(b, &out) != nil {
		return m
	}
	return out
}

func showValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func (x *ReplyExpect) check(r *wechat.Reply) []string {
	if r == nil {
		return []string{"reply: got none"}
	}
	var f []string
	eq := func(field, got, want string) {
		if want != "" && got != want {
			f = append(f, fmt.Sprintf("reply.%s: got %q, want %q", field, got, want))
		}
	}
	typ := r.Type
	if typ == wechat.ReplyTransfer {
		typ = "transfer"
	}
	if x.Type != "" && x.Type != r.Type && x.Type != typ {
		f = append(f, fmt.Sprintf("reply.type: got %s, want %s", typ, x.Type))
	}
	eq("text", r.Content, x.Text)
	if x.Contains != "" && !strings.Contains(r.Content, x.Contains) {
		f = append(f, fmt.Sprintf("reply.contains: %q is not in %q", x.Contains, r.Content))
	}
	eq("media_id", r.MediaID, x.MediaID)
	title := r.Title
	if len(r.Articles) > 0 {
		title = r.Articles[0].Title
	}
	eq("title", title, x.Title)
	eq("kf_account", r.KfAccount, x.KfAccount)
	if x.NewsCount != nil && len(r.Articles) != *x.NewsCount {
		f = append(f, fmt.Sprintf("reply.news_count: got %d, want %d", len(r.Articles), *x.NewsCount))
	}
	return f
}

func list(xs []string) string { return "[" + strings.Join(xs, ", ") + "]" }

// canned is what the test's engine stands in for the outside with.
func (tc *TestCase) canned() map[string]string {
	if tc.AIAnswer == nil {
		return nil
	}
	return map[string]string{"ai_answer": *tc.AIAnswer}
}

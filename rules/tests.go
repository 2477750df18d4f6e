package rules

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wxbot/wxbot/engine"
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

var testFields = []string{"at", "event", "expect", "name"}

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
		fields := map[string]*yaml.Node{}
		for j := 0; j+1 < len(tn.Content); j += 2 {
			k, v := tn.Content[j], tn.Content[j+1]
			if !slices.Contains(testFields, k.Value) {
				l.errAt(k, fmt.Sprintf("%s: unknown field %q (known: %s)", label, k.Value, strings.Join(testFields, ", ")))
				continue
			}
			fields[k.Value] = v
		}
		if v := fields["name"]; v != nil && v.Value != "" {
			tc.Name = v.Value
			label = fmt.Sprintf("test %q", tc.Name)
		} else {
			l.errAt(tn, label+": name: required")
		}
		d := &decoder{l: l, prefix: label + ": "}
		if v := fields["at"]; v != nil {
			t, err := engine.ParseWallTime(v.Value)
			if err != nil {
				l.errAt(v, label+": at: "+err.Error())
			}
			tc.At = t
		}
		if v := fields["event"]; v == nil {
			l.errAt(tn, label+": event: required (e.g. {type: text, content: 价格})")
		} else {
			d.decode(v, reflectValue(&tc.Event), "event")
			if tc.Event.Type == "" {
				l.errAt(v, label+": event.type: required")
			} else if t := strings.ToLower(tc.Event.Type); !slices.Contains(EventTypes, t) {
				l.errAt(fieldNode(v, "type"), fmt.Sprintf("%s: event.type: unknown event type %q", label, tc.Event.Type))
			}
		}
		if v := fields["expect"]; v == nil {
			l.errAt(tn, label+": expect: required (rules, actions and/or reply)")
		} else {
			if r := fieldNode(v, "reply"); r != v && r.Kind == yaml.ScalarNode && r.Value == "none" {
				tc.Expect.NoReply = true
				r.Value, r.Tag = "", "!!null"
			}
			d.decode(v, reflectValue(&tc.Expect), "expect")
		}
		l.tests = append(l.tests, tc)
	}
}

// checkTestNames reports expectations naming rules that do not exist.
func (l *loader) checkTestNames() {
	for _, tc := range l.tests {
		if tc.Expect.Rules == nil {
			continue
		}
		for _, name := range *tc.Expect.Rules {
			if _, ok := l.names[name]; !ok {
				l.errAtPos(tc.Pos, fmt.Sprintf("test %q: expect.rules: no rule is named %q", tc.Name, name))
			}
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

// RunTest runs one test against set.
func RunTest(ctx context.Context, set *engine.RuleSet, tc *TestCase, loc *time.Location) TestResult {
	at := tc.At
	if at.IsZero() {
		at = DefaultTestTime
	}
	now := time.Date(at.Year(), at.Month(), at.Day(), at.Hour(), at.Minute(), at.Second(), 0, loc)
	e := engine.New(engine.Options{Now: func() time.Time { return now }, Location: loc, DryRun: true}) // offline: sends are encoded, not made; no webhook is called
	defer e.Close(context.Background())
	e.SetRules(set)
	res := TestResult{Case: tc}
	got, err := e.Dispatch(tc.Event.Event(now)).Finish(ctx)
	if err != nil {
		res.Failures = append(res.Failures, err.Error())
		return res
	}
	if got.Err != nil {
		res.Failures = append(res.Failures, "an action failed: "+got.Err.Error())
	}
	x := tc.Expect
	if x.Rules != nil {
		names := make([]string, len(got.Rules))
		for i, r := range got.Rules {
			names[i] = r.Name
		}
		if !slices.Equal(names, *x.Rules) {
			res.Failures = append(res.Failures, fmt.Sprintf("rules: got %s, want %s", list(names), list(*x.Rules)))
		}
	}
	if x.Actions != nil {
		names := make([]string, len(got.Steps))
		for i, st := range got.Steps {
			names[i] = got.Action(st)
		}
		if !slices.Equal(names, *x.Actions) {
			res.Failures = append(res.Failures, fmt.Sprintf("actions: got %s, want %s", list(names), list(*x.Actions)))
		}
	}
	switch {
	case x.NoReply && got.Reply != nil:
		res.Failures = append(res.Failures, fmt.Sprintf("reply: got a %s reply, want none", got.Reply.Type))
	case x.Reply != nil:
		res.Failures = append(res.Failures, x.Reply.check(got.Reply)...)
	}
	return res
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

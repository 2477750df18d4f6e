package engine

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store/memory"
)

// rule builds a rule for tests; opts adjust it.
func rule(name string, on []string, opts ...func(*Rule)) *Rule {
	r := &Rule{Name: name, On: on}
	for _, o := range opts {
		o(r)
	}
	return r
}

func exact(xs ...string) func(*Rule) {
	return func(r *Rule) {
		for _, x := range xs {
			r.Text.Exact = append(r.Text.Exact, NormalizeText(x))
		}
	}
}
func containsText(x string) func(*Rule) {
	return func(r *Rule) { r.Text.Contains = append(r.Text.Contains, x) }
}
func prefix(x string) func(*Rule) { return func(r *Rule) { r.Text.Prefix = append(r.Text.Prefix, x) } }
func regex(x string) func(*Rule) {
	return func(r *Rule) { r.Text.Regex = append(r.Text.Regex, regexp.MustCompile(x)) }
}
func keys(xs ...string) func(*Rule) { return func(r *Rule) { r.Keys = xs } }
func prio(p int) func(*Rule)        { return func(r *Rule) { r.Priority = p } }
func cont(r *Rule)                  { r.Continue = true }
func disabled(r *Rule)              { r.Disabled = true }
func when(src string) func(*Rule) {
	return func(r *Rule) {
		p, err := CompileCondition(src)
		if err != nil {
			panic(err)
		}
		r.When, r.WhenSrc = p, src
	}
}

func names(rs []*Rule) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

func TestMatch(t *testing.T) {
	text := []string{"text"}
	set := NewRuleSet([]*Rule{
		rule("price", text, exact("价格", "Price")),
		rule("price-dup", text, exact("价格")),
		rule("how-much", text, containsText("多少钱")),
		rule("order", text, prefix("订单")),
		rule("code", text, regex(`^\d{6}$`)),
		rule("vip", text, prio(10), cont, when(`event.from startsWith "oVIP"`)),
		rule("menu", []string{"click"}, keys("MENU_A", "MENU_B")),
		rule("menu-high", []string{"click"}, keys("MENU_B"), prio(5)),
		rule("off", text, exact("off"), disabled),
		rule("any-log", []string{"*"}, prio(-1)),
		rule("hello-any", []string{"*"}, exact("hello")),
		rule("scan-or-sub", []string{"scan", "subscribe"}, keys("promo")),
	}, nil)
	tests := []struct {
		name string
		ev   Event
		want []string
	}{
		{"exact", Event{Type: "text", Content: "价格"}, []string{"price"}},
		{"exact is case- and space-insensitive", Event{Type: "text", Content: " PRICE "}, []string{"price"}},
		{"contains", Event{Type: "text", Content: "这个多少钱?"}, []string{"how-much"}},
		{"prefix", Event{Type: "text", Content: "订单 123"}, []string{"order"}},
		{"regex on raw content", Event{Type: "text", Content: "123456"}, []string{"code"}},
		{"regex misses", Event{Type: "text", Content: "1234567"}, []string{"any-log"}},
		{"priority first, continue goes on", Event{Type: "text", From: "oVIP1", Content: "价格"}, []string{"vip", "price"}},
		{"key", Event{Type: "click", Key: "MENU_A"}, []string{"menu"}},
		{"higher priority key rule wins", Event{Type: "click", Key: "MENU_B"}, []string{"menu-high"}},
		{"unknown key falls to wildcard", Event{Type: "click", Key: "X"}, []string{"any-log"}},
		{"disabled never matches", Event{Type: "text", Content: "off"}, []string{"any-log"}},
		{"wildcard exact", Event{Type: "text", Content: "hello"}, []string{"hello-any"}},
		{"several types", Event{Type: "subscribe", Key: "promo"}, []string{"scan-or-sub"}},
		{"no rules for type", Event{Type: "unsubscribe"}, []string{"any-log"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(&tt.ev, nil, time.Now, time.UTC)
			got, errs := set.Match(context.Background(), &tt.ev, env, memory.New(nil))
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if !reflect.DeepEqual(names(got), tt.want) {
				t.Errorf("matched %v, want %v", names(got), tt.want)
			}
		})
	}
}

func TestMatchFileOrderAmongEqualPriority(t *testing.T) {
	set := NewRuleSet([]*Rule{
		rule("first", []string{"text"}, containsText("a")),
		rule("second", []string{"text"}, exact("a")),
	}, nil)
	ev := Event{Type: "text", Content: "a"}
	got, _ := set.Match(context.Background(), &ev, newEnv(&ev, nil, time.Now, time.UTC), memory.New(nil))
	if want := []string{"first"}; !reflect.DeepEqual(names(got), want) {
		t.Errorf("matched %v, want %v (file order among equal priorities)", names(got), want)
	}
}

func TestMatchConditionError(t *testing.T) {
	set := NewRuleSet([]*Rule{
		rule("bad", []string{"text"}, when(`vars.limit > 3`)),
		rule("fallback", []string{"text"}),
	}, map[string]any{"limit": "not a number"})
	ev := Event{Type: "text", Content: "x"}
	got, errs := set.Match(context.Background(), &ev, newEnv(&ev, set.Vars, time.Now, time.UTC), memory.New(nil))
	if len(errs) != 1 {
		t.Fatalf("errors = %v, want one", errs)
	}
	if want := []string{"fallback"}; !reflect.DeepEqual(names(got), want) {
		t.Errorf("matched %v, want %v", names(got), want)
	}
	var re *RuleError
	if !errors.As(errs[0], &re) || re.Gate != GateWhen || !strings.HasPrefix(errs[0].Error(), `rule "bad": when: `) {
		t.Errorf("error %v, want a when error of rule bad", errs[0])
	}
}

// brokenCooldowns is a store that cannot take cooldowns.
type brokenCooldowns struct{}

func (brokenCooldowns) TakeCooldown(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("disk full")
}

// TestMatchCooldownStoreError: a store failure is reported as the cooldown
// gate's, not the condition's.
func TestMatchCooldownStoreError(t *testing.T) {
	set := NewRuleSet([]*Rule{
		rule("vip", []string{"text"}, func(r *Rule) { r.Cooldown = time.Minute }),
		rule("fallback", []string{"text"}),
	}, nil)
	ev := Event{Type: "text", From: "oU"}
	got, errs := set.Match(context.Background(), &ev, newEnv(&ev, nil, time.Now, time.UTC), brokenCooldowns{})
	if want := []string{"fallback"}; !reflect.DeepEqual(names(got), want) {
		t.Errorf("matched %v, want %v", names(got), want)
	}
	if len(errs) != 1 || errs[0].Error() != `rule "vip": cooldown: disk full` {
		t.Errorf("errors %v, want [rule \"vip\": cooldown: disk full]", errs)
	}
}

func TestMergeSorted(t *testing.T) {
	got := mergeSorted([][]int32{{1, 4, 9}, {2, 4}, {0, 9, 10}}, nil)
	if want := []int32{0, 1, 2, 4, 9, 10}; !reflect.DeepEqual(got, want) {
		t.Errorf("mergeSorted = %v, want %v", got, want)
	}
}

func TestDispatchFirstPassiveWins(t *testing.T) {
	e := New(Options{})
	replyWith := func(s string) Step {
		return Step{Name: "reply", Passive: true, Action: ActionFunc(func(_ context.Context, c *Call) error {
			c.Reply(textReply(s))
			return nil
		})}
	}
	r1 := rule("one", []string{"text"}, cont)
	r1.Steps = []Step{replyWith("first"), replyWith("second")}
	r2 := rule("two", []string{"text"})
	r2.Steps = []Step{replyWith("third")}
	e.SetRules(NewRuleSet([]*Rule{r1, r2}, nil))
	res, err := e.Dispatch(&Event{Type: "text"}).Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Reply.Content != "first" {
		t.Errorf("reply %q, want the first one", res.Reply.Content)
	}
	if want := []Ran{{0, 0}, {0, 1}, {1, 0}}; !reflect.DeepEqual(res.Steps, want) {
		t.Errorf("steps %v, want %v", res.Steps, want)
	}
	if got := res.Action(res.Steps[2]); got != "reply" {
		t.Errorf("Action(step 2) = %q, want reply", got)
	}
	if r1.Hits() != 1 || r2.Hits() != 1 {
		t.Errorf("hits %d, %d; want 1, 1", r1.Hits(), r2.Hits())
	}
}

func TestDispatchDeadlineAndLateReply(t *testing.T) {
	late := make(chan string, 1)
	e := New(Options{LateReply: func(ev *Event, r *wechatReply) { late <- r.Content }})
	release := make(chan struct{})
	r := rule("slow", []string{"text"})
	r.Steps = []Step{{Name: "slow", Passive: true, Action: ActionFunc(func(_ context.Context, c *Call) error {
		<-release
		c.Reply(textReply("late"))
		return nil
	})}}
	e.SetRules(NewRuleSet([]*Rule{r}, nil))
	p := e.Dispatch(&Event{Type: "text"})
	deadline := make(chan time.Time)
	close(deadline) // already passed
	reply, outcome := p.Wait(deadline)
	if reply != nil || outcome != DeadlinePassed {
		t.Fatalf("Wait = %v, %v; want nil, DeadlinePassed", reply, outcome)
	}
	close(release)
	if got := <-late; got != "late" {
		t.Errorf("late reply %q, want %q", got, "late")
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestDispatchNoMatch(t *testing.T) {
	e := New(Options{})
	reply, outcome := e.Dispatch(&Event{Type: "text"}).Wait(nil)
	if reply != nil || outcome != NoReply {
		t.Errorf("Wait = %v, %v; want nil, NoReply", reply, outcome)
	}
}

// TestInlineActionsRunOnTheCaller: when every action is Inline the push is
// finished when Dispatch returns; otherwise actions run on a goroutine.
func TestInlineActionsRunOnTheCaller(t *testing.T) {
	e := New(Options{})
	defer e.Close(context.Background())
	block := make(chan struct{})
	inline := rule("inline", []string{"text"}, exact("a"))
	inline.Steps = []Step{{Name: "reply", Passive: true, Inline: true, Action: ActionFunc(func(_ context.Context, c *Call) error {
		c.Reply(textReply("now"))
		return nil
	})}}
	async := rule("async", []string{"text"}, exact("b"))
	async.Steps = []Step{{Name: "slow", Action: ActionFunc(func(context.Context, *Call) error { <-block; return nil })}}
	e.SetRules(NewRuleSet([]*Rule{inline, async}, nil))
	select {
	case <-e.Dispatch(&Event{Type: "text", Content: "a"}).Done():
	default:
		t.Error("an inline push was not done when Dispatch returned")
	}
	p := e.Dispatch(&Event{Type: "text", Content: "b"})
	select {
	case <-p.Done():
		t.Error("a blocking action ran on the caller")
	default:
	}
	close(block)
	<-p.Done()
}

func TestLastHit(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	e := New(Options{Now: func() time.Time { return now }})
	r := rule("one", []string{"text"})
	e.SetRules(NewRuleSet([]*Rule{r}, nil))
	if !r.LastHit().IsZero() {
		t.Fatalf("LastHit before any push = %v", r.LastHit())
	}
	pushed := now.Add(-time.Minute)
	tests := []struct {
		name string
		ev   *Event
		want time.Time
	}{
		{"the push's own time", &Event{Type: "text", Time: pushed}, pushed},
		{"now, for an event without one", &Event{Type: "text"}, now},
	}
	for _, tt := range tests {
		e.Dispatch(tt.ev)
		if got := r.LastHit(); !got.Equal(tt.want) {
			t.Errorf("%s: LastHit = %v, want %v", tt.name, got, tt.want)
		}
	}
	// A reload keeps it with the count; an offline run does not touch it.
	r2 := rule("one", []string{"text"})
	e.SetRules(NewRuleSet([]*Rule{r2}, nil))
	dry := New(Options{DryRun: true})
	dry.SetRules(e.Rules())
	dry.Dispatch(&Event{Type: "text", Time: now.Add(time.Hour)})
	if !r2.LastHit().Equal(now) || r2.Hits() != 2 {
		t.Errorf("after a reload and a dry run: LastHit %v, hits %d; want %v, 2", r2.LastHit(), r2.Hits(), now)
	}
}

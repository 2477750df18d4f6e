package engine

import (
	"context"
	"reflect"
	"testing"
	"time"
)

func TestPlanWhen(t *testing.T) {
	for _, c := range []struct {
		src   string
		typed bool
		types []string
		field whenField
		user  string
		vals  []string
	}{
		{src: `user.step == "phone"`, field: fieldUser, user: "step", vals: []string{"phone"}},
		{src: `"phone" == user.step`, field: fieldUser, user: "step", vals: []string{"phone"}},
		{src: `user["step"] == "phone"`, field: fieldUser, user: "step", vals: []string{"phone"}},
		{src: `user.step in ["a", "b"]`, field: fieldUser, user: "step", vals: []string{"a", "b"}},
		{src: `user.step in ["", "b"]`}, // nil is in it
		{src: `user.step == "a" || user.step == "b"`, field: fieldUser, user: "step", vals: []string{"a", "b"}},
		{src: `user.step == "a" || user.lang == "b"`},
		{src: `user.step == "a" || event.key == "b"`},
		{src: `event.key == "K" && user.step == "a"`, field: fieldKey, vals: []string{"K"}},
		{src: `user.step == "a" and event.content == "hi"`, field: fieldContent, vals: []string{"hi"}},
		{src: `event.type in ["click", "scan"] && event.type == "scan"`, typed: true, types: []string{"scan"}},
		{src: `event.type == "click" && event.key == "K"`, typed: true, types: []string{"click"}, field: fieldKey, vals: []string{"K"}},
		// Reached only if the test before it does not fail.
		{src: `event.from startsWith "o" && user.step == "a"`, field: fieldUser, user: "step", vals: []string{"a"}},
		{src: `vars.n > 3 && user.step == "a"`},
		{src: `user.n > 3 && event.key == "K"`},
		{src: `user.step in ["a"] && event.key == "K"`, field: fieldUser, user: "step", vals: []string{"a"}},
		{src: `user.step != "x" && event.key == "K"`, field: fieldKey, vals: []string{"K"}},
		// Not a conjunction at the top, or not an equality.
		{src: `user.step == "a" || event.from == "o"`},
		{src: `not (user.step == "a")`},
		{src: `user.step != "a"`},
		{src: `user.step == 3`},
		{src: `user.profile.step == "a"`},
		{src: `event.from == "o"`},
		{src: `true`},
	} {
		p, err := CompileCondition(c.src)
		if err != nil {
			t.Fatal(err)
		}
		got := planWhen(p)
		want := whenPlan{typed: c.typed, types: c.types, field: c.field, user: c.user, values: c.vals}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: plan %+v, want %+v", c.src, got, want)
		}
	}
}

// readCounter counts reads of the user's state.
type readCounter struct {
	Users // only LoadUser is called
	reads int
	state map[string]any
}

func (u *readCounter) LoadUser(context.Context, string) (map[string]any, error) {
	u.reads++
	return u.state, nil
}

// TestUserIndex checks that dialog rules are offered only to the users at
// their step, and that the user's state is read only for the event types
// that have such rules.
func TestUserIndex(t *testing.T) {
	set := NewRuleSet([]*Rule{
		rule("ask-phone", []string{"text"}, when(`user.step == "phone" && len(event.content) == 11`)),
		rule("ask-name", []string{"text"}, when(`user.step == "name"`)),
		rule("menu", []string{"click"}, keys("MENU")),
		rule("any", []string{"*"}, when(`event.type == "text" && user.step in ["name", "phone"]`), cont),
	}, nil)
	for _, c := range []struct {
		ev    *Event
		state map[string]any
		cands []string
		reads int
	}{
		{&Event{Type: "text", From: "o1", Content: "13800000000"}, map[string]any{"step": "phone"}, []string{"ask-phone", "any"}, 1},
		{&Event{Type: "text", From: "o1", Content: "王"}, map[string]any{"step": "name"}, []string{"ask-name", "any"}, 1},
		{&Event{Type: "text", From: "o1", Content: "王"}, nil, nil, 1},
		{&Event{Type: "text", From: "o1", Content: "王"}, map[string]any{"step": 7}, []string{"ask-phone", "ask-name", "any"}, 1},
		{&Event{Type: "click", From: "o1", Key: "MENU"}, map[string]any{"step": "name"}, []string{"menu"}, 0},
	} {
		users := &readCounter{state: c.state}
		env := newEnv(c.ev, nil, time.Now, time.UTC)
		env.users, env.userFrom = users, c.ev.From
		var buf, hits [32]int32
		got, err := set.candidates(context.Background(), c.ev, NormalizeText(c.ev.Content), env, 0, true, buf[:], hits[:])
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, i := range got {
			names = append(names, set.ordered[i].Name)
		}
		if !reflect.DeepEqual(names, c.cands) || users.reads != c.reads {
			t.Errorf("%+v %v: candidates %v after %d reads, want %v after %d", *c.ev, c.state, names, users.reads, c.cands, c.reads)
		}
	}
}

// TestUserIndexSeesStateSteps: a rule that changes the user's state lets
// the rules after it that wait for the new state through; a push answered
// before the first rule indexed by a user field never reads the state.
func TestUserIndexSeesStateSteps(t *testing.T) {
	toPhone := setsState{"phone"}
	set := NewRuleSet([]*Rule{
		rule("price", []string{"text"}, exact("price")),
		rule("start", []string{"text"}, exact("go"), cont, func(r *Rule) {
			r.Steps = []Step{{Name: "state", Action: toPhone, State: toPhone}}
		}),
		rule("ask-phone", []string{"text"}, when(`user.step == "phone"`)),
		rule("other", []string{"text"}, when(`user.step == "name"`)),
	}, nil)
	for _, c := range []struct {
		content string
		state   map[string]any
		matched []string
		reads   int
	}{
		{"price", map[string]any{"step": "phone"}, []string{"price"}, 0},
		{"go", nil, []string{"start", "ask-phone"}, 1},
		{"go", map[string]any{"step": "name"}, []string{"start", "ask-phone"}, 1},
		{"hello", map[string]any{"step": "phone"}, []string{"ask-phone"}, 1},
		{"hello", map[string]any{"step": "name"}, []string{"other"}, 1},
	} {
		ev := &Event{Type: "text", From: "o1", Content: c.content}
		users := &readCounter{state: c.state}
		env := newEnv(ev, nil, time.Now, time.UTC)
		env.users, env.userFrom = users, ev.From
		got, errs := set.MatchInto(context.Background(), nil, ev, env, nil)
		if !reflect.DeepEqual(names(got), c.matched) || users.reads != c.reads || errs != nil {
			t.Errorf("%q %v: matched %v after %d reads (%v), want %v after %d", c.content, c.state, names(got), users.reads, errs, c.matched, c.reads)
		}
	}
}

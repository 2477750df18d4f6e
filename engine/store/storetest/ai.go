package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// expire moves past a short ttl on every store: the clock for the stores
// that keep ends themselves, and real time for Redis, whose keys expire
// on its own clock.
func expire(clock *Clock, ttl time.Duration) {
	clock.T = clock.T.Add(time.Hour)
	time.Sleep(ttl + 30*time.Millisecond)
}

const shortTTL = 50 * time.Millisecond

func testAITurns(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	ctx := context.Background()
	got := func(user string) string {
		turns, err := s.AITurns(ctx, user)
		must(t, err)
		return fmt.Sprint(turns)
	}
	if g := got("U"); g != "[]" {
		t.Errorf("a history before any turn: %s", g)
	}
	for i := 1; i <= 3; i++ {
		must(t, s.AddAITurn(ctx, "U", store.Turn{Q: fmt.Sprint("q", i), A: fmt.Sprint("a", i)}, 2, time.Hour))
	}
	must(t, s.AddAITurn(ctx, "V", store.Turn{Q: "vq", A: "va"}, 2, time.Hour))
	if g, want := got("U"), "[{q2 a2} {q3 a3}]"; g != want {
		t.Errorf("history kept %s, want the last 2 in order %s", g, want)
	}
	if g, want := got("V"), "[{vq va}]"; g != want {
		t.Errorf("another user's history %s, want %s", g, want)
	}
	must(t, s.AddAITurn(ctx, "E", store.Turn{Q: "q", A: "a"}, 2, shortTTL))
	expire(clock, shortTTL)
	if g := got("E"); g != "[]" {
		t.Errorf("a history outlived its ttl: %s", g)
	}
}

func testAIQuota(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	ctx := context.Background()
	take := func(key string, ttl time.Duration) bool {
		ok, err := s.TakeAIQuota(ctx, key, 2, ttl)
		must(t, err)
		return ok
	}
	first, second, third := take("U/day", time.Hour), take("U/day", time.Hour), take("U/day", time.Hour)
	if !first || !second || third {
		t.Error("a quota of 2 did not take 2 then refuse")
	}
	if !take("V/day", time.Hour) {
		t.Error("a quota was shared between keys")
	}
	take("E", shortTTL)
	take("E", shortTTL)
	expire(clock, shortTTL)
	if !take("E", shortTTL) {
		t.Error("a quota outlived its ttl")
	}
}

func testHeldReplies(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	ctx := context.Background()
	next := func(user string) string {
		r, err := s.TakeHeldReply(ctx, user)
		must(t, err)
		if r == nil {
			return "<none>"
		}
		return string(r)
	}
	if g := next("U"); g != "<none>" {
		t.Errorf("a held reply before any: %s", g)
	}
	for _, r := range []string{"a", "b", "c"} {
		must(t, s.HoldReply(ctx, "U", []byte(r), time.Hour))
	}
	must(t, s.HoldReply(ctx, "V", []byte("v"), time.Hour))
	for _, want := range []string{"a", "b", "c", "<none>"} {
		if g := next("U"); g != want {
			t.Errorf("held reply %s, want %s (first in, first out)", g, want)
		}
	}
	if g := next("V"); g != "v" {
		t.Errorf("another user's held reply %s, want v", g)
	}
	for i := range store.MaxHeldReplies + 2 {
		must(t, s.HoldReply(ctx, "W", []byte(fmt.Sprint(i)), time.Hour))
	}
	if g := next("W"); g != "2" {
		t.Errorf("past %d held replies the first left is %s, want 2 (the oldest dropped)", store.MaxHeldReplies, g)
	}
	must(t, s.HoldReply(ctx, "E", []byte("e"), shortTTL))
	expire(clock, shortTTL)
	if g := next("E"); g != "<none>" {
		t.Errorf("a held reply outlived its ttl: %s", g)
	}
}

// testDurableAI: a restart keeps the history, the counts and the held
// replies.
func testDurableAI(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	ctx := context.Background()
	must(t, s.AddAITurn(ctx, "U", store.Turn{Q: "q", A: "a"}, 6, time.Hour))
	must(t, s.HoldReply(ctx, "U", []byte("held"), time.Hour))
	if ok, _ := s.TakeAIQuota(ctx, "U/day", 1, time.Hour); !ok {
		t.Fatal("quota")
	}
	s = o.Reopen(t, s, clock)
	if turns, _ := s.AITurns(ctx, "U"); fmt.Sprint(turns) != "[{q a}]" {
		t.Errorf("history after a restart: %v", turns)
	}
	if r, _ := s.TakeHeldReply(ctx, "U"); string(r) != "held" {
		t.Errorf("held reply after a restart: %q", r)
	}
	if ok, _ := s.TakeAIQuota(ctx, "U/day", 1, time.Hour); ok {
		t.Error("the daily count did not survive a restart")
	}
}

// testForgetAI: an unsubscribe forgets the turns and held replies, not the
// daily count.
func testForgetAI(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	ctx := context.Background()
	must(t, s.AddAITurn(ctx, "U", store.Turn{Q: "q", A: "a"}, 6, time.Hour))
	must(t, s.AddAITurn(ctx, "V", store.Turn{Q: "q", A: "a"}, 6, time.Hour))
	must(t, s.HoldReply(ctx, "U", []byte("held"), time.Hour))
	if ok, _ := s.TakeAIQuota(ctx, "r/U/day", 1, time.Hour); !ok {
		t.Fatal("quota")
	}
	must(t, s.ForgetAI(ctx, "U"))
	must(t, s.ForgetAI(ctx, "nobody"))
	if turns, _ := s.AITurns(ctx, "U"); len(turns) != 0 {
		t.Errorf("turns after ForgetAI: %v", turns)
	}
	if r, _ := s.TakeHeldReply(ctx, "U"); r != nil {
		t.Errorf("a held reply after ForgetAI: %q", r)
	}
	if turns, _ := s.AITurns(ctx, "V"); len(turns) != 1 {
		t.Error("ForgetAI forgot another user")
	}
	if ok, _ := s.TakeAIQuota(ctx, "r/U/day", 1, time.Hour); ok {
		t.Error("ForgetAI reset the daily count")
	}
}

// Package storetest is the conformance suite every store.Store passes: the
// in-memory store, the embedded bbolt store and the Redis store run the same
// tests, so they behave alike.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
)

// Clock is a settable clock for stores under test.
type Clock struct{ T time.Time }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return c.T }

// Opener opens a fresh, empty store on clock. Reopen, when not nil, closes
// s and opens the same data again (durable stores only).
type Opener struct {
	Open   func(t *testing.T, clock *Clock) store.Store
	Reopen func(t *testing.T, s store.Store, clock *Clock) store.Store
	// Crash, when not nil, is Reopen after an unclean stop.
	Crash func(t *testing.T, s store.Store, clock *Clock) store.Store
	// OwnClock is set for a store that expires keys on its own clock
	// (Redis): tests that move the clock to expire state skip it.
	OwnClock bool
}

// Run runs the suite.
func Run(t *testing.T, o Opener) {
	t.Run("Cooldown", func(t *testing.T) { testCooldown(t, o) })
	t.Run("Limit", func(t *testing.T) { testLimit(t, o) })
	t.Run("ClaimOnce", func(t *testing.T) { testClaimOnce(t, o) })
	t.Run("Windows", func(t *testing.T) { testWindows(t, o) })
	t.Run("UnknownWindows", func(t *testing.T) { testUnknownWindows(t, o) })
	t.Run("OutboxOrder", func(t *testing.T) { testOutboxOrder(t, o) })
	t.Run("OutboxIdempotent", func(t *testing.T) { testOutboxIdempotent(t, o) })
	t.Run("OutboxRetryAndDead", func(t *testing.T) { testOutboxRetryAndDead(t, o) })
	t.Run("RememberQuery", func(t *testing.T) { testRememberQuery(t, o) })
	t.Run("OutboxAdminList", func(t *testing.T) { testOutboxAdminList(t, o) })
	t.Run("OutboxAdminRetry", func(t *testing.T) { testOutboxAdminRetry(t, o) })
	t.Run("OutboxAdminDrop", func(t *testing.T) { testOutboxAdminDrop(t, o) })
	t.Run("Track", func(t *testing.T) { testTrack(t, o) })
	t.Run("IdempotencyKeys", func(t *testing.T) { testIdempotencyKeys(t, o) })
	t.Run("Users", func(t *testing.T) { testUsers(t, o) })
	t.Run("UserLimits", func(t *testing.T) { testUserLimits(t, o) })
	t.Run("UserPatchRace", func(t *testing.T) { testUserPatchRace(t, o) })
	t.Run("UserDelete", func(t *testing.T) { testUserDelete(t, o) })
	t.Run("InternalUsers", func(t *testing.T) { testInternalUsers(t, o) })
	if !o.OwnClock {
		t.Run("UserExpiry", func(t *testing.T) { testUserExpiry(t, o) })
	}
	t.Run("AITurns", func(t *testing.T) { testAITurns(t, o) })
	t.Run("AIQuota", func(t *testing.T) { testAIQuota(t, o) })
	t.Run("HeldReplies", func(t *testing.T) { testHeldReplies(t, o) })
	t.Run("ForgetAI", func(t *testing.T) { testForgetAI(t, o) })
	t.Run("Handoffs", func(t *testing.T) { testHandoffs(t, o) })
	t.Run("Tallies", func(t *testing.T) { testTallies(t, o) })
	if o.Reopen != nil {
		t.Run("UserDurable", func(t *testing.T) { testUserDurable(t, o) })
		t.Run("Durable", func(t *testing.T) { testDurable(t, o) })
		t.Run("DurableAI", func(t *testing.T) { testDurableAI(t, o) })
		t.Run("DurableTrack", func(t *testing.T) { testDurableTrack(t, o) })
		t.Run("DurableHandoffs", func(t *testing.T) { testDurableHandoffs(t, o) })
		t.Run("DurableTallies", func(t *testing.T) { testDurableTallies(t, o) })
		t.Run("DurableLimit", func(t *testing.T) { testDurableLimit(t, o) })
	}
	if o.Crash != nil {
		t.Run("DurableWindow", func(t *testing.T) { testDurableWindow(t, o) })
	}
}

func start() *Clock { return &Clock{T: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)} }

func send(id, user string) *outbox.Send {
	return &outbox.Send{ID: id, Kind: outbox.KindKefu, OrderKey: user, Rule: "r",
		Payload: json.RawMessage(fmt.Sprintf(`{"text":{"content":%q}}`, id))}
}

func ids(ss []*outbox.Send) []string {
	out := []string{}
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

func eq(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testCooldown(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	ctx := context.Background()
	take := func(key string) bool {
		ok, err := s.TakeCooldown(ctx, key, time.Minute)
		must(t, err)
		return ok
	}
	if !take("a") || take("a") || !take("b") {
		t.Error("a cooldown did not hold for its key only")
	}
	clock.T = clock.T.Add(61 * time.Second)
	if !take("a") {
		t.Error("a cooldown outlived its ttl")
	}
}

func testClaimOnce(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	ctx := context.Background()
	claim := func(key string) bool {
		ok, err := s.ClaimOnce(ctx, key, 24*time.Hour)
		must(t, err)
		return ok
	}
	if !claim("pay/4200001") || claim("pay/4200001") || !claim("pay/4200002") {
		t.Error("ClaimOnce did not hold per key")
	}
	if o.Crash != nil {
		s = o.Crash(t, s, clock)
		ok, err := s.ClaimOnce(ctx, "pay/4200001", 24*time.Hour)
		must(t, err)
		if ok {
			t.Error("a claim was lost in a crash")
		}
	}
	clock.T = clock.T.Add(25 * time.Hour)
	ok, err := s.ClaimOnce(ctx, "pay/4200001", 24*time.Hour)
	must(t, err)
	if !ok {
		t.Error("a claim outlived its ttl")
	}
}

func testWindows(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	ctx := context.Background()
	slot := func(user string) bool {
		ok, err := s.TakeWindowSlot(ctx, user, clock.T)
		must(t, err)
		return ok
	}
	if slot("u") {
		t.Error("a slot without any window")
	}
	// A click: 3 within a minute. WeChat decides about the count
	// (openings may stack), so a 4th is attempted too; only time ends it.
	must(t, s.OpenWindow(ctx, "u", clock.T.Add(time.Minute)))
	for i := 0; i < 4; i++ {
		if !slot("u") {
			t.Fatalf("slot %d refused while the window's time runs", i+1)
		}
	}
	// A message: 48 hours; a click inside it does not shorten it.
	must(t, s.OpenWindow(ctx, "u", clock.T.Add(48*time.Hour)))
	must(t, s.OpenWindow(ctx, "u", clock.T.Add(time.Minute)))
	clock.T = clock.T.Add(time.Hour)
	if !slot("u") {
		t.Error("a click shortened a message's window")
	}
	// WeChat refused (45015/45047): nothing is attempted until the user's
	// next opening, which opens the window again.
	must(t, s.OpenWindow(ctx, "v", clock.T.Add(48*time.Hour)))
	must(t, s.CloseWindow(ctx, "v"))
	if slot("v") {
		t.Error("a slot after CloseWindow")
	}
	must(t, s.OpenWindow(ctx, "v", clock.T.Add(time.Minute)))
	if !slot("v") {
		t.Error("no slot after the opening that followed CloseWindow")
	}
	must(t, s.OpenWindow(ctx, "w", clock.T.Add(time.Minute)))
	clock.T = clock.T.Add(2 * time.Minute)
	if slot("w") {
		t.Error("a slot after the window expired")
	}
}

func testOutboxOrder(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	ctx := context.Background()
	must(t, s.Enqueue(ctx, send("a1", "A"), send("a2", "A"), send("b1", "B")))
	later := send("c1", "C")
	later.NotBefore = clock.T.Add(time.Minute)
	must(t, s.Enqueue(ctx, later, send("a3", "A")))
	n, err := s.Pending(ctx)
	must(t, err)
	if n != 5 {
		t.Errorf("pending %d, want 5", n)
	}
	due, err := s.Due(ctx, clock.T, 10, nil)
	must(t, err)
	eq(t, "due: each user's oldest, not the delayed one", ids(due), []string{"a1", "b1"})
	for _, d := range due {
		if d.Seq == 0 || d.Kind != outbox.KindKefu || string(d.Payload) == "" {
			t.Errorf("due send lost fields: %+v", d)
		}
	}
	due, _ = s.Due(ctx, clock.T, 10, func(u string) bool { return u == "A" })
	eq(t, "due skipping busy user A", ids(due), []string{"b1"})
	due, _ = s.Due(ctx, clock.T, 1, nil)
	eq(t, "due with limit 1", ids(due), []string{"a1"})

	must(t, s.Done(ctx, due[0]))
	due, _ = s.Due(ctx, clock.T.Add(2*time.Minute), 10, nil)
	eq(t, "due after a1 is done", ids(due), []string{"a2", "b1", "c1"})
}

func testOutboxIdempotent(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	ctx := context.Background()
	must(t, s.Enqueue(ctx, send("x", "U")))
	must(t, s.Enqueue(ctx, send("x", "U"), send("y", "U")))
	due, _ := s.Due(ctx, clock.T, 10, nil)
	must(t, s.Done(ctx, due[0]))
	must(t, s.Enqueue(ctx, send("x", "U"))) // delivered already: still ignored
	n, _ := s.Pending(ctx)
	if n != 1 {
		t.Errorf("pending %d, want 1 (y only)", n)
	}
}

func testOutboxRetryAndDead(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	ctx := context.Background()
	must(t, s.Enqueue(ctx, send("m1", "U"), send("m2", "U")))
	due, _ := s.Due(ctx, clock.T, 10, nil)
	first := due[0]
	first.Attempts, first.LastError, first.NotBefore = 1, "busy", clock.T.Add(30*time.Second)
	must(t, s.Retry(ctx, first))
	due, _ = s.Due(ctx, clock.T, 10, nil)
	eq(t, "a user's later send waits behind a retry", ids(due), []string{})
	clock.T = clock.T.Add(31 * time.Second)
	due, _ = s.Due(ctx, clock.T, 10, nil)
	eq(t, "retry due", ids(due), []string{"m1"})
	if due[0].Attempts != 1 || due[0].LastError != "busy" {
		t.Errorf("retry state lost: %+v", due[0])
	}
	must(t, s.Dead(ctx, due[0], "errcode 45015"))
	due, _ = s.Due(ctx, clock.T, 10, nil)
	eq(t, "after the dead letter", ids(due), []string{"m2"})
	must(t, s.Dead(ctx, due[0], "second"))
	dl, err := s.DeadLetters(ctx, 10)
	must(t, err)
	if len(dl) != 2 || dl[0].Send.ID != "m2" || dl[1].Reason != "errcode 45015" || dl[1].Send.Attempts != 1 {
		t.Errorf("dead letters %+v, want m2 then m1 with its reason", dl)
	}
	n, _ := s.Pending(ctx)
	if n != 0 {
		t.Errorf("pending %d after both dead", n)
	}
	must(t, s.Enqueue(ctx, send("m1", "U")))
	if n, _ := s.Pending(ctx); n != 0 {
		t.Error("a dead send's ID was enqueued again")
	}
}

// testDurableWindow: a window opened just before its sends were enqueued
// survives a restart at once (no time for any write-behind).
func testDurableWindow(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	ctx := context.Background()
	must(t, s.OpenWindow(ctx, "U", clock.T.Add(48*time.Hour)))
	must(t, s.Enqueue(ctx, send("w1", "U")))
	s = o.Crash(t, s, clock)
	if ok, _ := s.TakeWindowSlot(ctx, "U", clock.T); !ok {
		t.Error("the window of an enqueued send was lost")
	}
}

func testDurable(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	ctx := context.Background()
	must(t, s.Enqueue(ctx, send("d1", "U"), send("d2", "U")))
	due, _ := s.Due(ctx, clock.T, 10, nil)
	must(t, s.Done(ctx, due[0]))
	must(t, s.OpenWindow(ctx, "U", clock.T.Add(48*time.Hour)))
	ok, _ := s.TakeCooldown(ctx, "k", time.Hour)
	if !ok {
		t.Fatal("cooldown")
	}
	s = o.Reopen(t, s, clock)
	due, _ = s.Due(ctx, clock.T, 10, nil)
	eq(t, "after reopening", ids(due), []string{"d2"})
	must(t, s.Enqueue(ctx, send("d1", "U")))
	if n, _ := s.Pending(ctx); n != 1 {
		t.Errorf("pending %d after reopening and re-enqueueing a delivered ID, want 1", n)
	}
	if ok, _ := s.TakeWindowSlot(ctx, "U", clock.T); !ok {
		t.Error("the kefu window did not survive a restart")
	}
	if ok, _ := s.TakeCooldown(ctx, "k", time.Hour); ok {
		t.Error("the cooldown did not survive a restart")
	}
}

// testRememberQuery: a signed query string is remembered with its body's
// hash for at least its time (replay protection), and forgotten after
// twice that at most.
func testRememberQuery(t *testing.T, o Opener) {
	clock := start()
	s, ok := o.Open(t, clock).(interface {
		RememberQuery(context.Context, string, string, time.Duration) (string, error)
	})
	if !ok {
		t.Fatal("the store does not remember query strings")
	}
	ctx := context.Background()
	h1, h2, h3 := strings.Repeat("1a", 16), strings.Repeat("2b", 16), strings.Repeat("3c", 16) // 128-bit hashes, in hex
	remember := func(key, hash string) string {
		prev, err := s.RememberQuery(ctx, key, hash, time.Second)
		must(t, err)
		return prev
	}
	if prev := remember("ts:n:sig", h1); prev != "" {
		t.Errorf("a new query string: %q, want \"\"", prev)
	}
	if prev := remember("ts:n:sig", h2); prev != h1 {
		t.Errorf("the same query string again: %q, want the first body's hash", prev)
	}
	if prev := remember("ts:n2:sig", h2); prev != "" {
		t.Errorf("another query string: %q", prev)
	}
	clock.T = clock.T.Add(3 * time.Second)                    // kept at least its time, forgotten by twice it
	if _, redis := s.(interface{ Prefix() string }); !redis { // Redis expires on its own clock
		if prev := remember("ts:n:sig", h3); prev != "" {
			t.Errorf("after its time: %q, want it forgotten", prev)
		}
	}
}

// WriteOtherAccount gives another account of the same file or connection
// a send, a user's state, a handoff and daily counters, so that a
// conformance run on an account's view shows that none of it leaks in (it
// counts pending sends and reads the users, handoffs and counters the
// suite writes).
func WriteOtherAccount(t *testing.T, other store.Store) {
	t.Helper()
	ctx := context.Background()
	if err := other.Enqueue(ctx, &outbox.Send{ID: "other-send", Kind: "kefu", OrderKey: "oOther"}); err != nil {
		t.Fatal(err)
	}
	if err := other.PatchUser(ctx, "oU1", &store.UserPatch{Set: map[string]any{"noise": "yes"}}); err != nil {
		t.Fatal(err)
	}
	if idx, ok := other.(store.HandoffIndex); ok {
		h := store.Handoff{OpenID: "oOther", Account: "other@gh", Since: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}
		if err := idx.PutHandoff(ctx, h, h.Since.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if ts, ok := other.(store.Tallies); ok {
		day := store.TallyDay(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), time.UTC)
		if err := ts.AddTallies(ctx, []store.Tally{{Day: day, Kind: "push", Name: "text", N: 9}, {Day: day, Kind: "other", Name: "x", N: 1}}); err != nil {
			t.Fatal(err)
		}
	}
}

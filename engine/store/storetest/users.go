package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

func testUsers(t *testing.T, o Opener) {
	ctx := context.Background()
	clock := start()
	s := o.Open(t, clock)
	st, err := s.LoadUser(ctx, "oU1")
	must(t, err)
	if st != nil {
		t.Fatalf("a new user's state = %v, want nil", st)
	}
	steps := []struct {
		name  string
		patch store.UserPatch
		want  map[string]any
	}{
		{"set", store.UserPatch{Set: map[string]any{"step": "phone", "n": 1.0, "ok": true, "tags": []any{"a", 2.0}}},
			map[string]any{"step": "phone", "n": 1.0, "ok": true, "tags": []any{"a", 2.0}}},
		{"set keeps other keys", store.UserPatch{Set: map[string]any{"phone": "13800000000"}},
			map[string]any{"step": "phone", "n": 1.0, "ok": true, "tags": []any{"a", 2.0}, "phone": "13800000000"}},
		{"unset", store.UserPatch{Unset: []string{"tags", "ok", "absent"}},
			map[string]any{"step": "phone", "n": 1.0, "phone": "13800000000"}},
		{"clear then set", store.UserPatch{Clear: true, Set: map[string]any{"step": "date"}},
			map[string]any{"step": "date"}},
		{"unset the last key", store.UserPatch{Unset: []string{"step"}}, nil},
	}
	for _, step := range steps {
		must(t, s.PatchUser(ctx, "oU1", &step.patch))
		got, err := s.LoadUser(ctx, "oU1")
		must(t, err)
		if len(got) == 0 && len(step.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, step.want) {
			t.Fatalf("%s: state = %#v, want %#v", step.name, got, step.want)
		}
	}
	if st, _ := s.LoadUser(ctx, "oU2"); st != nil {
		t.Fatalf("another user's state = %v, want nil", st)
	}
}

// testUserExpiry: a state lives ttl after its last write, exactly, on the
// store's clock. Redis keeps time itself; its expiry is tested end to end.
func testUserExpiry(t *testing.T, o Opener) {
	ctx := context.Background()
	clock := start()
	s := o.Open(t, clock)
	must(t, s.PatchUser(ctx, "oU1", &store.UserPatch{Set: map[string]any{"step": "a"}, TTL: 10 * time.Minute}))
	clock.T = clock.T.Add(9 * time.Minute)
	must(t, s.PatchUser(ctx, "oU1", &store.UserPatch{Set: map[string]any{"x": "y"}, TTL: 10 * time.Minute})) // renews
	clock.T = clock.T.Add(10*time.Minute - time.Millisecond)
	if st, _ := s.LoadUser(ctx, "oU1"); st["step"] != "a" || st["x"] != "y" {
		t.Fatalf("1 ms before the ttl after the last write: state = %v, want both keys", st)
	}
	if n, _ := s.CountUsers(ctx); n != 1 {
		t.Fatalf("CountUsers = %d, want 1", n)
	}
	clock.T = clock.T.Add(time.Millisecond)
	if st, _ := s.LoadUser(ctx, "oU1"); st != nil {
		t.Fatalf("at the ttl: state = %v, want nil (expired)", st)
	}
	if n, _ := s.CountUsers(ctx); n != 0 {
		t.Fatalf("CountUsers after expiry = %d, want 0", n)
	}
	// A write after expiry starts from nothing; the default ttl is 24h.
	must(t, s.PatchUser(ctx, "oU1", &store.UserPatch{Set: map[string]any{"x": "z"}}))
	clock.T = clock.T.Add(store.DefaultStateTTL - time.Second)
	if st, _ := s.LoadUser(ctx, "oU1"); !reflect.DeepEqual(st, map[string]any{"x": "z"}) {
		t.Fatalf("after an expiry and a new write: state = %v, want only x", st)
	}
	clock.T = clock.T.Add(time.Second)
	if st, _ := s.LoadUser(ctx, "oU1"); st != nil {
		t.Fatalf("past the default ttl: state = %v, want nil", st)
	}
}

func testUserLimits(t *testing.T, o Opener) {
	ctx := context.Background()
	s := o.Open(t, start())
	big := map[string]any{}
	for i := range store.MaxStateKeys {
		big[fmt.Sprintf("k%02d", i)] = "v"
	}
	must(t, s.PatchUser(ctx, "oU1", &store.UserPatch{Set: big}))
	err := s.PatchUser(ctx, "oU1", &store.UserPatch{Set: map[string]any{"one-more": "v"}})
	if !errors.Is(err, store.ErrStateTooLarge) {
		t.Fatalf("65th key: err = %v, want ErrStateTooLarge", err)
	}
	st, _ := s.LoadUser(ctx, "oU1")
	if len(st) != store.MaxStateKeys || st["one-more"] != nil {
		t.Fatalf("after a refused write: %d keys (one-more=%v), want the %d from before", len(st), st["one-more"], store.MaxStateKeys)
	}
	// Replacing a key within the limit is fine; bytes are counted too.
	must(t, s.PatchUser(ctx, "oU1", &store.UserPatch{Set: map[string]any{"k00": "w"}}))
	err = s.PatchUser(ctx, "oU2", &store.UserPatch{Set: map[string]any{"note": strings.Repeat("x", store.MaxStateBytes)}})
	if !errors.Is(err, store.ErrStateTooLarge) {
		t.Fatalf("8 KiB value: err = %v, want ErrStateTooLarge", err)
	}
	if st, _ := s.LoadUser(ctx, "oU2"); st != nil {
		t.Fatalf("a refused first write left %v", st)
	}
	must(t, s.PatchUser(ctx, "oU2", &store.UserPatch{Set: map[string]any{"note": strings.Repeat("x", store.MaxStateBytes-100)}}))
}

// testUserPatchRace: pushes of one user writing different keys at once
// keep every key (the write is a patch, not a read-modify-write by the
// caller).
func testUserPatchRace(t *testing.T, o Opener) {
	ctx := context.Background()
	s := o.Open(t, start())
	var wg sync.WaitGroup
	const n = 16
	for i := range n {
		wg.Go(func() {
			if err := s.PatchUser(ctx, "oU1", &store.UserPatch{Set: map[string]any{fmt.Sprintf("k%d", i): float64(i)}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st, err := s.LoadUser(ctx, "oU1")
	must(t, err)
	if len(st) != n {
		t.Fatalf("after %d concurrent patches: %d keys (%v), want %d", n, len(st), st, n)
	}
}

func testUserDelete(t *testing.T, o Opener) {
	ctx := context.Background()
	s := o.Open(t, start())
	must(t, s.PatchUser(ctx, "oU1", &store.UserPatch{Set: map[string]any{"step": "a"}}))
	must(t, s.PatchUser(ctx, "oU2", &store.UserPatch{Set: map[string]any{"step": "b"}}))
	if n, _ := s.CountUsers(ctx); n != 2 {
		t.Fatalf("CountUsers = %d, want 2", n)
	}
	had, err := s.DeleteUser(ctx, "oU1")
	must(t, err)
	if !had {
		t.Fatal("DeleteUser of a user with state reported none")
	}
	if had, _ := s.DeleteUser(ctx, "oU1"); had {
		t.Fatal("DeleteUser twice reported a state the second time")
	}
	if st, _ := s.LoadUser(ctx, "oU1"); st != nil {
		t.Fatalf("deleted state = %v", st)
	}
	if n, _ := s.CountUsers(ctx); n != 1 {
		t.Fatalf("CountUsers after a delete = %d, want 1", n)
	}
}

func testUserDurable(t *testing.T, o Opener) {
	ctx := context.Background()
	clock := start()
	s := o.Open(t, clock)
	must(t, s.PatchUser(ctx, "oU1", &store.UserPatch{Set: map[string]any{"step": "date", "phone": "13800000000"}}))
	s = o.Reopen(t, s, clock)
	st, err := s.LoadUser(ctx, "oU1")
	must(t, err)
	if !reflect.DeepEqual(st, map[string]any{"step": "date", "phone": "13800000000"}) {
		t.Fatalf("after a restart: state = %v", st)
	}
}

// testInternalUsers: the states the bot keeps for itself under
// store.InternalUserPrefix (the console's sessions, who is online) are
// kept and read like any user's, but CountUsers counts followers only
// (wxbot_state_users).
func testInternalUsers(t *testing.T, o Opener) {
	ctx := context.Background()
	s := o.Open(t, start())
	must(t, s.PatchUser(ctx, "oFollower", &store.UserPatch{Set: map[string]any{"step": "a"}}))
	internal := store.InternalUserPrefix + "console-session:abc"
	must(t, s.PatchUser(ctx, internal, &store.UserPatch{Set: map[string]any{"user": "mia"}}))
	if st, _ := s.LoadUser(ctx, internal); st["user"] != "mia" {
		t.Fatalf("an internal state = %v, want user mia", st)
	}
	if n, _ := s.CountUsers(ctx); n != 1 {
		t.Fatalf("CountUsers with a follower and an internal state = %d, want 1", n)
	}
	if had, err := s.DeleteUser(ctx, internal); err != nil || !had {
		t.Fatalf("DeleteUser of an internal state = %v, %v", had, err)
	}
	if st, _ := s.LoadUser(ctx, internal); st != nil {
		t.Fatalf("an internal state after its delete = %v", st)
	}
}

package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// testUnknownWindows: a store that is a store.WindowKnower tells a window it
// never knew from one that is over or closed, and WeChat's refusal of a
// user it did not know is recorded: their next sends are certain refusals
// until they open a window again.
func testUnknownWindows(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	k, ok := s.(store.WindowKnower)
	if !ok {
		t.Skip("the store cannot tell an unknown window from one that is over: every refused slot is taken as certain")
	}
	ctx := context.Background()
	known := func(user string) bool {
		t.Helper()
		ok, err := k.KnowsWindow(ctx, user)
		must(t, err)
		return ok
	}
	slot := func(user string) bool {
		t.Helper()
		ok, err := s.TakeWindowSlot(ctx, user, clock.T)
		must(t, err)
		return ok
	}
	if known("u") {
		t.Error("a window known before any opening")
	}
	must(t, s.OpenWindow(ctx, "u", clock.T.Add(time.Minute)))
	if !known("u") || !slot("u") {
		t.Error("an open window not known, or refused")
	}
	must(t, s.CloseWindow(ctx, "u"))
	if !known("u") || slot("u") {
		t.Error("a window WeChat closed not known as closed")
	}

	// WeChat refused a user the store did not know (their window was
	// opened where it could not see).
	must(t, s.CloseWindow(ctx, "stranger"))
	if !known("stranger") || slot("stranger") {
		t.Error("WeChat's refusal of a user without a window not recorded")
	}
	must(t, s.OpenWindow(ctx, "stranger", clock.T.Add(48*time.Hour)))
	if !slot("stranger") {
		t.Error("no slot after the stranger's opening")
	}
}

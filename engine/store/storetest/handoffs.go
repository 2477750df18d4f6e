package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

func handoffIndex(t *testing.T, s store.Store) store.HandoffIndex {
	t.Helper()
	h, ok := s.(store.HandoffIndex)
	if !ok {
		t.Fatalf("%T does not implement store.HandoffIndex", s)
	}
	return h
}

// wantHandoffs checks the listed handoffs' OpenIDs, accounts and waits,
// in order, and that each keeps its since.
func wantHandoffs(t *testing.T, idx store.HandoffIndex, want []store.Handoff) {
	t.Helper()
	got, err := idx.Handoffs(context.Background())
	must(t, err)
	if len(got) != len(want) {
		t.Fatalf("Handoffs = %+v, want %+v", got, want)
	}
	for i := range got {
		if !got[i].Since.Equal(want[i].Since) {
			t.Errorf("handoff %d: since %v, want %v", i, got[i].Since, want[i].Since)
		}
		got[i].Since = want[i].Since
	}
	if !reflect.DeepEqual(got, want) && len(want) > 0 {
		t.Errorf("Handoffs = %+v, want %+v", got, want)
	}
}

// testHandoffs: a handoff is listed from its put to its end or its until,
// oldest first; a put replaces the user's handoff (a wait becomes a
// session); ending one that is not there is no error.
func testHandoffs(t *testing.T, o Opener) {
	clock := start()
	idx := handoffIndex(t, o.Open(t, clock))
	ctx := context.Background()
	t0 := clock.T
	waitA := store.Handoff{OpenID: "oA", Waiting: true, Since: t0}
	heldB := store.Handoff{OpenID: "oB", Account: "b@gh", Since: t0.Add(-time.Minute)}
	heldA := store.Handoff{OpenID: "oA", Account: "a@gh", Since: t0.Add(time.Minute)}
	steps := []struct {
		name string
		do   func() error
		want []store.Handoff
	}{
		{"none", func() error { return nil }, nil},
		{"a wait", func() error { return idx.PutHandoff(ctx, waitA, t0.Add(30*time.Minute)) }, []store.Handoff{waitA}},
		{"an older session first", func() error { return idx.PutHandoff(ctx, heldB, t0.Add(10*time.Minute)) },
			[]store.Handoff{heldB, waitA}},
		{"the wait becomes a session", func() error { return idx.PutHandoff(ctx, heldA, t0.Add(31*time.Minute)) },
			[]store.Handoff{heldB, heldA}},
		{"ended at its until", func() error { clock.T = t0.Add(10 * time.Minute); return nil }, []store.Handoff{heldA}},
		{"ending an unknown one", func() error { return idx.EndHandoff(ctx, "oNobody") }, []store.Handoff{heldA}},
		{"ended", func() error { return idx.EndHandoff(ctx, "oA") }, nil},
		{"a put after the ended ones", func() error { return idx.PutHandoff(ctx, waitA, t0.Add(time.Hour)) }, []store.Handoff{waitA}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			must(t, st.do())
			wantHandoffs(t, idx, st.want)
		})
	}
}

// testDurableHandoffs: the handoffs survive a reopen.
func testDurableHandoffs(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	h := store.Handoff{OpenID: "oA", Account: "a@gh", Since: clock.T}
	must(t, handoffIndex(t, s).PutHandoff(context.Background(), h, clock.T.Add(time.Hour)))
	s = o.Reopen(t, s, clock)
	wantHandoffs(t, handoffIndex(t, s), []store.Handoff{h})
}

package bolt_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/bolt"
)

// TestHandoffHints: the bbolt store says, without a read, which users may
// be in a handoff: those its index has, across a reopen, in an account
// view apart from the file's top level.
func TestHandoffHints(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wxbot.db")
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	s, err := bolt.OpenFile(path, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	shop, err := s.Account("wxshop")
	if err != nil {
		t.Fatal(err)
	}
	want := func(st *bolt.Bolt, what string, hints map[string]bool) {
		t.Helper()
		for id, may := range hints {
			if got := st.MayHaveHandoff(id); got != may {
				t.Errorf("%s: MayHaveHandoff(%s) = %v, want %v", what, id, got, may)
			}
		}
	}
	want(s, "a new file", map[string]bool{"oA": false, "oB": false})
	for _, id := range []string{"oA", "oB"} {
		if err := s.PutHandoff(ctx, store.Handoff{OpenID: id, Waiting: true, Since: now}, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EndHandoff(ctx, "oB"); err != nil {
		t.Fatal(err)
	}
	want(s, "after the writes", map[string]bool{"oA": true, "oB": false, "oC": false})
	want(shop, "another account", map[string]bool{"oA": false})
	s.Close()

	if s, err = bolt.OpenFile(path, func() time.Time { return now }); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want(s, "reopened", map[string]bool{"oA": true, "oB": false})
}

package store_test

import (
	"path/filepath"
	"testing"

	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/storetest"
)

func TestBoltConformance(t *testing.T) {
	reopen := func(t *testing.T, s store.Store, clock *storetest.Clock, crash bool) store.Store {
		b := s.(*store.Bolt)
		path := b.Path()
		closer := b.Close
		if crash {
			closer = b.CrashClose
		}
		if err := closer(); err != nil {
			t.Fatal(err)
		}
		r, err := store.OpenBolt(path, clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	storetest.Run(t, storetest.Opener{
		Crash: func(t *testing.T, s store.Store, clock *storetest.Clock) store.Store {
			return reopen(t, s, clock, true)
		},
		Open: func(t *testing.T, clock *storetest.Clock) store.Store {
			s, err := store.OpenBolt(filepath.Join(t.TempDir(), "wxbot.db"), clock.Now)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		Reopen: func(t *testing.T, s store.Store, clock *storetest.Clock) store.Store {
			return reopen(t, s, clock, false)
		},
	})
}

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, storetest.Opener{
		Open: func(t *testing.T, clock *storetest.Clock) store.Store { return store.NewMemory(clock.Now) },
	})
}

func TestBoltLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wxbot.db")
	s, err := store.OpenBolt(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := store.Open("bolt:"+path, nil); err == nil {
		t.Error("a second open of a held store succeeded")
	}
}

func TestOpenURLs(t *testing.T) {
	for _, bad := range []string{"bolt:", "wxbot.db", "mysql://x"} {
		if _, err := store.Open(bad, nil); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

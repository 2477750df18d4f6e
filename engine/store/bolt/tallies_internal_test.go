package bolt

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/wxbot/wxbot/engine/store"
)

// TestTallyDaysLeaveTheFile: an add deletes the buckets of the days past
// store.TallyRetention, in the file's top level and in an account's
// buckets, and keeps the others.
func TestTallyDaysLeaveTheFile(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	s, err := OpenFile(filepath.Join(t.TempDir(), "wxbot.db"), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, err := s.Account("wxa")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	add := func(b *Bolt, day string) {
		t.Helper()
		if err := b.AddTallies(ctx, []store.Tally{{Day: day, Kind: "push", Name: "text", N: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	days := func(b *Bolt) (out []string) {
		b.db.View(func(tx *bbolt.Tx) error {
			return b.bucket(tx, bTallies).ForEach(func(k, _ []byte) error { out = append(out, string(k)); return nil })
		})
		return out
	}
	for _, b := range []*Bolt{s, v} {
		add(b, "20261101")
		add(b, "20261124")
	}
	now = time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC) // past 20261101's retention, within 20261124's
	for _, b := range []*Bolt{s, v} {
		add(b, store.TallyDay(now, time.UTC))
		if got, want := days(b), []string{"20261124", "20261210"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("root %q: days %v, want %v", b.root, got, want)
		}
	}
}

// TestTallyKeys: a key reads back as written, whatever its kind and name
// hold, and what is no key is refused rather than misread.
func TestTallyKeys(t *testing.T) {
	for _, c := range []struct{ kind, name string }{{"push", "text"}, {"a\x00b", ""}, {"a", "\x00b\x01"}, {string(make([]byte, 300)), "x"}} {
		for _, tag := range []byte{tagCount, tagNames} {
			kind, gotTag, name, ok := parseTallyKey(tallyKey(c.kind, tag, c.name))
			if !ok || kind != c.kind || gotTag != tag || name != c.name {
				t.Errorf("tallyKey(%q, %d, %q) read back as %q, %d, %q, %v", c.kind, tag, c.name, kind, gotTag, name, ok)
			}
		}
	}
	for _, k := range [][]byte{nil, {}, {5, 'a'}, {0x80}, {1, 'a'}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		if _, _, _, ok := parseTallyKey(k); ok {
			t.Errorf("parseTallyKey(%q) took it", k)
		}
	}
}

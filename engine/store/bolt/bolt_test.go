package bolt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/bolt"
	"github.com/wxbot/wxbot/engine/store/storetest"
)

func TestBoltConformance(t *testing.T) {
	reopen := func(t *testing.T, s store.Store, clock *storetest.Clock, crash bool) store.Store {
		b := s.(*bolt.Bolt)
		path := b.Path()
		closer := b.Close
		if crash {
			closer = b.CrashClose
		}
		if err := closer(); err != nil {
			t.Fatal(err)
		}
		r, err := bolt.OpenFile(path, clock.Now)
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
			s, err := bolt.OpenFile(filepath.Join(t.TempDir(), "wxbot.db"), clock.Now)
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

// TestBoltAccountConformance: an account's view of a shared file behaves
// as a store of its own, across restarts and crashes, beside another
// account's view that gets the same writes.
func TestBoltAccountConformance(t *testing.T) {
	owners := map[store.Store]*bolt.Bolt{}
	open := func(t *testing.T, path string, clock *storetest.Clock) store.Store {
		f, err := bolt.OpenFile(path, clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		other, err := f.Account("wxother")
		if err != nil {
			t.Fatal(err)
		}
		storetest.WriteOtherAccount(t, other)
		v, err := f.Account("wxaccount")
		if err != nil {
			t.Fatal(err)
		}
		owners[v] = f
		return v
	}
	reopen := func(t *testing.T, s store.Store, clock *storetest.Clock, crash bool) store.Store {
		f := owners[s]
		closer := f.Close
		if crash {
			closer = f.CrashClose
		}
		if err := closer(); err != nil {
			t.Fatal(err)
		}
		return open(t, f.Path(), clock)
	}
	storetest.Run(t, storetest.Opener{
		Open: func(t *testing.T, clock *storetest.Clock) store.Store {
			return open(t, filepath.Join(t.TempDir(), "wxbot.db"), clock)
		},
		Reopen: func(t *testing.T, s store.Store, clock *storetest.Clock) store.Store {
			return reopen(t, s, clock, false)
		},
		Crash: func(t *testing.T, s store.Store, clock *storetest.Clock) store.Store {
			return reopen(t, s, clock, true)
		},
	})
}

// TestBoltAccountsIsolated: two accounts of one file share no key, and the
// file's top level (a bot without --accounts) sees neither.
func TestBoltAccountsIsolated(t *testing.T) {
	ctx := context.Background()
	f, err := bolt.OpenFile(filepath.Join(t.TempDir(), "wxbot.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, _ := f.Account("wxa")
	b, err := f.Account("wxb")
	if err != nil {
		t.Fatal(err)
	}
	a.PatchUser(ctx, "oU", &store.UserPatch{Set: map[string]any{"step": "a"}})
	a.Enqueue(ctx, &outbox.Send{ID: "s1", Kind: "kefu", OrderKey: "oU"})
	if ok, _ := a.TakeCooldown(ctx, "k", time.Hour); !ok {
		t.Fatal("a's first cooldown refused")
	}
	a.OpenWindow(ctx, "oU", time.Now().Add(time.Hour))
	for name, s := range map[string]*bolt.Bolt{"b": b, "the top level": f} {
		if st, _ := s.LoadUser(ctx, "oU"); st != nil {
			t.Errorf("%s sees a's state %v", name, st)
		}
		if n, _ := s.Pending(ctx); n != 0 {
			t.Errorf("%s sees %d of a's sends", name, n)
		}
		if ok, _ := s.TakeCooldown(ctx, "k", time.Hour); !ok {
			t.Errorf("%s shares a's cooldown", name)
		}
		if ok, _ := s.TakeWindowSlot(ctx, "oU", time.Now()); ok {
			t.Errorf("%s sees a's kefu window", name)
		}
	}
	if st, _ := a.LoadUser(ctx, "oU"); st["step"] != "a" {
		t.Errorf("a's own state %v", st)
	}
}

func TestBoltLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wxbot.db")
	s, err := bolt.OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := store.Open("bolt:"+path, store.Options{}); err == nil {
		t.Error("a second open of a held store succeeded")
	}
}

func TestOpenURLs(t *testing.T) {
	for _, bad := range []string{"bolt:", "wxbot.db", "mysql://x"} {
		if _, err := store.Open(bad, store.Options{}); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

func openBolt(t *testing.T, clock *storetest.Clock) *bolt.Bolt {
	t.Helper()
	s, err := bolt.OpenFile(filepath.Join(t.TempDir(), "wxbot.db"), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func kefu(id, user string) *outbox.Send {
	return &outbox.Send{ID: id, Kind: outbox.KindKefu, OrderKey: user, Payload: json.RawMessage(`{}`)}
}

// TestBoltPrune: the hourly prune removes from disk the send IDs delivered
// (or dead) longer ago than the retention, and expired cooldowns,
// once-claims and windows; it keeps the pending IDs and everything live,
// and what it removed can be taken again.
func TestBoltPrune(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	clock := &storetest.Clock{T: t0}
	s := openBolt(t, clock)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ok := func(b bool, err error) bool {
		t.Helper()
		must(err)
		return b
	}
	keys := func(bucket string, want ...string) {
		t.Helper()
		if got := s.BucketKeys(bucket); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s on disk: %q, want %q", bucket, got, want)
		}
	}
	settle := func(id string, dead bool) {
		t.Helper()
		due, err := s.Due(ctx, clock.T, 10, nil)
		must(err)
		for _, d := range due {
			if d.ID != id {
				continue
			}
			if dead {
				must(s.Dead(ctx, d, "gone"))
			} else {
				must(s.Done(ctx, d))
			}
			return
		}
		t.Fatalf("%s not due", id)
	}

	// At t0: an old delivered ID, an old dead one and one still pending;
	// short and long cooldowns, claims and windows.
	must(s.Enqueue(ctx, kefu("old-done", "A"), kefu("old-dead", "B"), kefu("pending", "C")))
	settle("old-done", false)
	settle("old-dead", true)
	if !ok(s.TakeCooldown(ctx, "cd-short", time.Minute)) || !ok(s.TakeCooldown(ctx, "cd-long", 72*time.Hour)) {
		t.Fatal("fresh cooldowns refused")
	}
	if !ok(s.ClaimOnce(ctx, "once-short", time.Minute)) || !ok(s.ClaimOnce(ctx, "once-long", 72*time.Hour)) {
		t.Fatal("fresh claims refused")
	}
	must(s.OpenWindow(ctx, "win-short", t0.Add(10*time.Minute)))
	must(s.OpenWindow(ctx, "win-long", t0.Add(72*time.Hour)))
	s.Flush()

	// Nothing is expired yet: a prune keeps it all.
	s.Prune()
	keys(bolt.BoltBuckets.IDs, "old-dead", "old-done", "pending")
	keys(bolt.BoltBuckets.Cooldowns, "cd-long", "cd-short")
	keys(bolt.BoltBuckets.Once, "once-long", "once-short")
	keys(bolt.BoltBuckets.Windows, "win-long", "win-short")

	// A day later: a recent delivered ID.
	clock.T = t0.Add(24 * time.Hour)
	must(s.Enqueue(ctx, kefu("recent-done", "D")))
	settle("recent-done", false)

	// Just past the retention of the old IDs.
	clock.T = t0.Add(bolt.IDRetention + time.Minute)
	s.Prune()
	keys(bolt.BoltBuckets.IDs, "pending", "recent-done")
	keys(bolt.BoltBuckets.Cooldowns, "cd-long")
	keys(bolt.BoltBuckets.Once, "once-long")
	keys(bolt.BoltBuckets.Windows, "win-long")

	// What was pruned can be taken again; what was kept still holds.
	if !ok(s.TakeCooldown(ctx, "cd-short", time.Minute)) {
		t.Error("an expired, pruned cooldown could not be taken again")
	}
	if ok(s.TakeCooldown(ctx, "cd-long", time.Minute)) {
		t.Error("a live cooldown was taken twice after a prune")
	}
	if !ok(s.ClaimOnce(ctx, "once-short", time.Minute)) {
		t.Error("an expired, pruned claim could not be claimed again")
	}
	if ok(s.ClaimOnce(ctx, "once-long", time.Minute)) {
		t.Error("a live claim was claimed twice after a prune")
	}
	if !ok(s.TakeWindowSlot(ctx, "win-long", clock.T)) {
		t.Error("a live window lost its slots in a prune")
	}
	// A forgotten ID is a new send; a remembered one is still ignored.
	must(s.Enqueue(ctx, kefu("old-done", "A"), kefu("recent-done", "D")))
	due, err := s.Due(ctx, clock.T, 10, nil)
	must(err)
	got := []string{}
	for _, d := range due {
		got = append(got, d.ID)
	}
	if fmt.Sprint(got) != "[pending old-done]" {
		t.Errorf("due after the prune: %v, want [pending old-done]", got)
	}
}

// TestBoltCorruptOutboxEntry: an outbox entry that is not JSON does not
// stop the outbox: Due serves the others and moves it to the dead letters
// with its reason, once, even when several Due calls meet it at once.
func TestBoltCorruptOutboxEntry(t *testing.T) {
	clock := &storetest.Clock{T: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	s := openBolt(t, clock)
	ctx := context.Background()
	if err := s.Enqueue(ctx, kefu("a1", "A"), kefu("b1", "B")); err != nil {
		t.Fatal(err)
	}
	// Garbage before, between and after the good entries (keys 0, 1½, max).
	for _, k := range [][]byte{bolt.SeqKey(0), append(bolt.SeqKey(1), 0x80), bolt.SeqKey(1 << 60)} {
		if err := s.PutRaw(bolt.BoltBuckets.Outbox, k, []byte("{\"id\":\"x\", \x00garbage")); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			due, err := s.Due(ctx, clock.T, 10, nil)
			if err != nil {
				t.Errorf("Due with corrupt entries: %v", err)
				return
			}
			if len(due) != 2 || due[0].ID != "a1" || due[1].ID != "b1" {
				t.Errorf("Due with corrupt entries served %d sends, want a1 and b1", len(due))
			}
		}()
	}
	wg.Wait()
	dl, err := s.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 3 {
		t.Fatalf("%d dead letters, want the 3 corrupt entries once each: %+v", len(dl), dl)
	}
	for _, d := range dl {
		if !strings.HasPrefix(d.Reason, "corrupt outbox entry ") || !strings.Contains(d.Reason, "garbage") || !d.At.Equal(clock.T) {
			t.Errorf("dead letter %+v: want the reason \"corrupt outbox entry ...\" with the bytes, at the clock's time", d)
		}
	}
	if dl[0].Send.Seq != 1<<60 {
		t.Errorf("the newest dead letter has seq %d, want the key's %d", dl[0].Send.Seq, uint64(1<<60))
	}
	if n, _ := s.Pending(ctx); n != 2 {
		t.Errorf("pending %d, want 2 (the corrupt entries left the outbox)", n)
	}
	// Once: later calls do not record them again.
	due, err := s.Due(ctx, clock.T, 10, nil)
	if err != nil || len(due) != 2 {
		t.Fatalf("Due again: %d, %v", len(due), err)
	}
	if dl, _ := s.DeadLetters(ctx, 10); len(dl) != 3 {
		t.Errorf("%d dead letters after another Due, want 3", len(dl))
	}
	if err := s.Done(ctx, due[0]); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Pending(ctx); n != 1 {
		t.Errorf("pending %d after a1, want 1", n)
	}
}

// TestBoltDamagedFile: a truncated or scribbled store file is refused with
// an error saying it is damaged and what to do, instead of crashing the
// process (bbolt faults on a truncated map and panics on bad pages).
func TestBoltDamagedFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "wxbot.db")
	s, err := bolt.OpenFile(good, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var sends []*outbox.Send
	for i := 0; i < 500; i++ {
		snd := kefu(fmt.Sprint("send-", i), fmt.Sprint("user-", i%40))
		snd.Payload = json.RawMessage(fmt.Sprintf(`{"text":{"content":%q}}`, strings.Repeat("x", 200)))
		sends = append(sends, snd)
	}
	if err := s.Enqueue(ctx, sends...); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		s.OpenWindow(ctx, fmt.Sprint("user-", i), time.Now().Add(48*time.Hour))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096 // the size bbolt used on this machine, checked below
	if len(orig)%page != 0 || len(orig) < 16*page {
		t.Fatalf("the store file is %d bytes: want at least 16 pages of %d", len(orig), page)
	}
	// scribble overwrites pages [from, to) with bytes that are not bbolt's.
	scribble := func(b []byte, from, to, seed int) []byte {
		b = bytes.Clone(b)
		r := rand.New(rand.NewPCG(uint64(seed), 1))
		for i := from * page; i < to*page && i < len(b); i++ {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	n := len(orig) / page
	for _, tc := range []struct {
		name string
		data []byte
		why  string
	}{
		{"truncated to 4 pages", orig[:4*page], "truncated"},
		{"truncated to half", orig[:n/2*page], "truncated"},
		{"truncated mid-page", orig[:len(orig)-100], "whole number"},
		{"truncated to 1 page", orig[:page], ""},
		{"metas scribbled", scribble(orig, 0, 2, 1), ""},
		{"all data pages scribbled", scribble(orig, 2, n, 2), ""},
		{"pages 2-5 scribbled", scribble(orig, 2, 6, 3), ""},
		{"branch pgids out of the file", bigPgids(orig, page), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wxbot.db")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := bolt.OpenFile(path, nil)
			if err == nil {
				s.Close()
				t.Fatal("a damaged store file was opened")
			}
			msg := err.Error()
			for _, want := range []string{"store " + path + " is damaged (", tc.why, "move it aside", "outbox", "bbolt check " + path, "bbolt compact"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
		})
	}
	// Scribbling one page at a time: refused or opened (a free page may be
	// scribbled harmlessly), never a crash.
	for p := 2; p < n; p++ {
		path := filepath.Join(t.TempDir(), "wxbot.db")
		if err := os.WriteFile(path, scribble(orig, p, p+1, p), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := bolt.OpenFile(path, nil)
		if err == nil {
			s.Close()
		} else if !strings.Contains(err.Error(), "is damaged") {
			t.Errorf("page %d scribbled: %v", p, err)
		}
	}
	// The undamaged file still opens, with its outbox.
	s, err = bolt.OpenFile(good, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.Pending(ctx); err != nil || n != len(sends) {
		t.Errorf("pending %d, %v in the undamaged file; want %d", n, err, len(sends))
	}
}

// bigPgids rewrites the child page IDs of every branch page in a bbolt file
// to point far past its end.
func bigPgids(b []byte, page int) []byte {
	b = bytes.Clone(b)
	const branchPage, headerSize, elemSize = 0x01, 16, 16
	for off := 2 * page; off+page <= len(b); off += page {
		if binary.LittleEndian.Uint16(b[off+8:]) != branchPage {
			continue
		}
		count := int(binary.LittleEndian.Uint16(b[off+10:]))
		for i := 0; i < count; i++ {
			e := off + headerSize + i*elemSize
			binary.LittleEndian.PutUint64(b[e+8:], 1<<40+uint64(i))
		}
	}
	return b
}

// TestBoltKeepsAnswersAcrossARestart: answers saved before Close are read
// back after a reopen until they expire, and expired ones are dropped.
func TestBoltKeepsAnswersAcrossARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wxbot.db")
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	s, err := bolt.OpenFile(path, clock)
	if err != nil {
		t.Fatal(err)
	}
	s.SaveAnswer("gh/m/1", "application/xml; charset=utf-8", []byte("<xml>one</xml>"), now.Add(30*time.Second))
	s.SaveAnswer("gh/m/2", "text/plain; charset=utf-8", []byte("success"), now.Add(10*time.Second))
	if err := s.Close(); err != nil { // SIGTERM: the close flushes them
		t.Fatal(err)
	}
	now = now.Add(20 * time.Second) // the second has expired
	s, err = bolt.OpenFile(path, clock)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []string
	s.SavedAnswers(now, func(key, ct string, body []byte) { got = append(got, key+" "+ct+" "+string(body)) })
	if want := "[gh/m/1 application/xml; charset=utf-8 <xml>one</xml>]"; fmt.Sprint(got) != want {
		t.Errorf("answers %v, want %s", got, want)
	}
}

// TestBoltAnswersOverSeveralWrites: answers written behind in several
// rounds (the buffers taking turns) all come back after a crash, as
// written, and a body changed by its caller after SaveAnswer is kept as it
// was given.
func TestBoltAnswersOverSeveralWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wxbot.db")
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	s, err := bolt.OpenFile(path, clock)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	body := make([]byte, 0, 64)
	for round := 0; round < 4; round++ {
		for i := 0; i < 50+round*100; i++ {
			key := fmt.Sprintf("gh/m/%d-%d", round, i)
			body = fmt.Appendf(body[:0], "<xml>%s %s</xml>", key, strings.Repeat("x", i))
			s.SaveAnswer(key, "application/xml; charset=utf-8", body, now.Add(30*time.Second))
			want[key] = string(body)
			body[0] = '!' // the caller reuses its buffer
		}
		s.Flush()
	}
	if err := s.CrashClose(); err != nil { // kill -9 after the writes: they are in the files
		t.Fatal(err)
	}
	s, err = bolt.OpenFile(path, clock)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := map[string]string{}
	s.SavedAnswers(now, func(key, ct string, body []byte) { got[key] = string(body) })
	if len(got) != len(want) {
		t.Errorf("%d answers back, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

// makeStore writes a store with n pending kefu sends (send-i to user-i%40)
// and some windows, closed cleanly or as a crash would leave it, and
// returns its bytes.
func makeStore(t *testing.T, n int, crash bool) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wxbot.db")
	s, err := bolt.OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var sends []*outbox.Send
	for i := 0; i < n; i++ {
		snd := kefu(fmt.Sprint("send-", i), fmt.Sprint("user-", i%40))
		snd.Payload = json.RawMessage(fmt.Sprintf(`{"text":{"content":%q}}`, strings.Repeat("x", 200)))
		sends = append(sends, snd)
	}
	if err := s.Enqueue(ctx, sends...); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		s.OpenWindow(ctx, fmt.Sprint("user-", i), time.Now().Add(48*time.Hour))
	}
	s.Flush()
	closer := s.Close
	if crash {
		closer = s.CrashClose
	}
	if err := closer(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// leafPages lists the leaf pages of a bbolt file (4096-byte pages) whose
// bytes match.
func leafPages(b []byte, match func(page []byte) bool) []int {
	const page, leafPage = 4096, 0x02
	var out []int
	for p := 2; (p+1)*page <= len(b); p++ {
		pg := b[p*page : (p+1)*page]
		if binary.LittleEndian.Uint16(pg[8:]) == leafPage && match(pg) {
			out = append(out, p)
		}
	}
	return out
}

// scribblePages overwrites the given 4096-byte pages with random bytes.
func scribblePages(b []byte, pages []int) []byte {
	b = bytes.Clone(b)
	r := rand.New(rand.NewPCG(uint64(len(pages)), 7))
	for _, p := range pages {
		for i := p * 4096; i < (p+1)*4096; i++ {
			b[i] = byte(r.Uint32())
		}
	}
	return b
}

// idsPages are the leaf pages of the ids bucket (keys send-N, no payload).
func idsPages(b []byte) []int {
	return leafPages(b, func(pg []byte) bool {
		return bytes.Contains(pg, []byte("send-")) && !bytes.Contains(pg, []byte(`"payload"`))
	})
}

func openBytes(t *testing.T, b []byte) (string, *bolt.Bolt, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wxbot.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := bolt.OpenFile(path, nil)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return path, s, err
}

// TestBoltFullCheckOnlyAfterUncleanShutdown: the full consistency check
// runs at an open after a crash (or on a file without the shutdown marker,
// from an older version), not after a clean Close; each open marks the
// store running again, so a crash after a clean start is still seen.
func TestBoltFullCheckOnlyAfterUncleanShutdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wxbot.db")
	ctx := context.Background()
	open := func(wantFull bool) *bolt.Bolt {
		t.Helper()
		s, err := bolt.OpenFile(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.FullyChecked() != wantFull {
			t.Errorf("full check ran: %v, want %v", s.FullyChecked(), wantFull)
		}
		return s
	}
	s := open(false) // a new file: nothing to check
	if err := s.Enqueue(ctx, kefu("a", "A")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(false) // after a clean shutdown
	if err := s.CrashClose(); err != nil {
		t.Fatal(err)
	}
	s = open(true) // after a crash
	if err := s.CrashClose(); err != nil {
		t.Fatal(err)
	}
	s = open(true) // a crash again, right after the checked start
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(false)
	if n, err := s.Pending(ctx); err != nil || n != 1 {
		t.Errorf("pending %d, %v; want the 1 send kept through it all", n, err)
	}
	s.Close()

	// A file from before the marker: bbolt's own, with the store's buckets.
	old := filepath.Join(t.TempDir(), "old.db")
	db, err := bbolt.Open(old, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte(bolt.BoltBuckets.Outbox))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	path = old
	open(true).Close()
	open(false).Close()
}

// TestBoltDamageAndTheShutdownMarker: a page the start does not read (the
// send IDs), scribbled, is found by the full check after a crash, and the
// error lists the pending sends moving the file aside would lose. After a
// clean shutdown the full check is skipped (the cost of a fast start), so
// the same damage is not found at the open; damage the start reads is.
func TestBoltDamageAndTheShutdownMarker(t *testing.T) {
	crashed, clean := makeStore(t, 500, true), makeStore(t, 500, false)
	if len(idsPages(crashed)) == 0 || len(idsPages(clean)) == 0 {
		t.Fatal("no page of the ids bucket found")
	}
	path, _, err := openBytes(t, scribblePages(crashed, idsPages(crashed)))
	if err == nil {
		t.Fatal("a damaged store opened after a crash")
	}
	msg := err.Error()
	for _, want := range []string{"store " + path + " is damaged (the last shutdown was not clean", "move it aside",
		"the sends still in its outbox are then lost: 500 can be read: send-0 (kefu, user-0), send-1 (kefu, user-1), send-2 (kefu, user-2) and 497 more), or try"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}

	_, s, err := openBytes(t, scribblePages(clean, idsPages(clean)))
	if err != nil {
		t.Fatalf("after a clean shutdown, damage on a page the start does not read was found: %v", err)
	}
	if s.FullyChecked() {
		t.Error("the full check ran after a clean shutdown")
	}

	// The outbox is read at every start: its damage is an error, after a
	// clean shutdown too, listing what can still be read of it.
	for name, data := range map[string][]byte{"clean": clean, "crashed": crashed} {
		last := leafPages(data, func(pg []byte) bool { return bytes.Contains(pg, []byte(`"id":"send-499"`)) })
		if len(last) == 0 {
			t.Fatal("no page holds send-499")
		}
		_, _, err := openBytes(t, scribblePages(data, last))
		if err == nil {
			t.Errorf("%s: a store with a scribbled outbox page opened", name)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "lost: at least ") || !strings.Contains(msg, ": send-0 (kefu, user-0), ") {
			t.Errorf("%s: error %q does not list the readable start of the outbox", name, msg)
		}
	}
}

// TestBoltDamagedListing: the error lists nothing it cannot read (the
// metas scribbled: the file does not open at all), and says when the
// outbox is readable and empty.
func TestBoltDamagedListing(t *testing.T) {
	data := makeStore(t, 50, true)
	_, _, err := openBytes(t, scribblePages(data, []int{0, 1}))
	if err == nil || !strings.Contains(err.Error(), "(the sends still in its outbox are then lost)") {
		t.Errorf("metas scribbled: %v", err)
	}

	empty := makeStore(t, 0, true)
	pages := leafPages(empty, func(pg []byte) bool { return bytes.Contains(pg, []byte("user-1")) })
	if len(pages) == 0 {
		t.Fatal("no windows page found")
	}
	_, _, err = openBytes(t, scribblePages(empty, pages))
	if err == nil || !strings.Contains(err.Error(), "(its outbox reads as empty: no pending send is lost)") {
		t.Errorf("windows scribbled, outbox empty: %v", err)
	}
}

// TestBackendAccounts: the bolt: driver's backend opens an account's
// backend whose state survives a restart of the file, apart from the top
// level's and another account's.
func TestBackendAccounts(t *testing.T) {
	ctx := context.Background()
	url := "bolt:" + filepath.Join(t.TempDir(), "wxbot.db")
	for round := 0; round < 2; round++ {
		b, err := store.Open(url, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		shop, err := b.Account("wxshop", store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		news, err := b.Account("wxnews", store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			shop.Store.PatchUser(ctx, "oU", &store.UserPatch{Set: map[string]any{"who": "shop"}})
		} else {
			if st, _ := shop.Store.LoadUser(ctx, "oU"); st["who"] != "shop" {
				t.Errorf("after a restart shop's state is %v", st)
			}
			for name, s := range map[string]store.Store{"news": news.Store, "the top level": b.Store} {
				if st, _ := s.LoadUser(ctx, "oU"); st != nil {
					t.Errorf("%s sees shop's state %v", name, st)
				}
			}
		}
		if shop.Dedup == nil || shop.Replays == nil {
			t.Error("an account's backend lacks its retry answers or replay window")
		}
		shop.Close()
		news.Close()
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

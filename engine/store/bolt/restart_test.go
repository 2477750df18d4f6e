package bolt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/dedup"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/bolt"
)

// atomicClock is a test clock the stores' goroutines may read while the
// test moves it.
type atomicClock struct{ ns atomic.Int64 }

func newClock() *atomicClock {
	c := &atomicClock{}
	c.ns.Store(time.Unix(1_800_000_000, 0).UnixNano())
	return c
}

func (c *atomicClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *atomicClock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func (c *atomicClock) Opts() store.Options { return store.Options{Now: c.Now} }
func hash128(s string) string              { return strings.Repeat(s, 32)[:32] }
func boltOf(b *store.Backend) *bolt.Bolt   { return b.Store.(*bolt.Bolt) }
func remember(b *store.Backend, key, h string) (string, error) {
	return b.Replays.RememberQuery(context.Background(), key, h, replayWindow)
}

// replayWindow is the window callback asks for: twice --max-skew.
const replayWindow = 10 * time.Minute

// TestBoltReplayWindowAcrossARestart: a signed query string seen before a
// restart (a clean one, or a kill -9 after the half-second write) is still
// known after it for its window: with another body it is a replay, with
// its own a retry. Past its window it is new again, and one account's
// query strings are not another's.
func TestBoltReplayWindowAcrossARestart(t *testing.T) {
	const q, first, forged = "1800000000:123456:0123456789abcdef0123456789abcdef01234567", "a1", "b2"
	for _, tc := range []struct {
		name      string
		dir       string // a directory of its own for the file
		account   string // "" for the file's top level
		crash     bool   // kill -9 after the write-behind's tick
		after     time.Duration
		other     string // the account asked after the restart
		body      string
		want      string
		wantFiles bool // query strings' files beside the bbolt file after the restart
	}{
		{name: "a forgery within the window", after: 5 * time.Minute, body: forged, want: hash128(first), wantFiles: true},
		{name: "a retry within the window", after: 5 * time.Minute, body: first, want: hash128(first), wantFiles: true},
		{name: "a forgery after a kill -9", crash: true, after: time.Minute, body: forged, want: hash128(first), wantFiles: true},
		{name: "past the window", after: replayWindow + time.Second, body: forged, want: ""},
		{name: "in a directory named like a pattern", dir: "a[b]*?", after: 5 * time.Minute, body: forged, want: hash128(first), wantFiles: true},
		{name: "an account's forgery", account: "wxshop", other: "wxshop", after: 5 * time.Minute, body: forged, want: hash128(first), wantFiles: true},
		{name: "another account's query string", account: "wxshop", other: "wxnews", after: 5 * time.Minute, body: forged, want: "", wantFiles: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, clock := filepath.Join(t.TempDir(), tc.dir, "wxbot.db"), newClock()
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			top, b := openBackend(t, path, clock, tc.account)
			if prev, err := remember(b, q, hash128(first)); err != nil || prev != "" {
				t.Fatalf("the first sight: %q, %v", prev, err)
			}
			closeBackend(t, top, b, tc.crash)
			clock.Add(tc.after)
			top, b = openBackend(t, path, clock, tc.other)
			defer closeBackend(t, top, b, false)
			if prev, err := remember(b, q, hash128(tc.body)); err != nil || prev != tc.want {
				t.Errorf("after the restart: %q, %v; want %q", prev, err, tc.want)
			}
			if n := filesBeside(t, path); (n > 0) != tc.wantFiles {
				t.Errorf("%d bytes of query strings beside the file after the restart", n)
			}
		})
	}
}

// openBackend opens the bolt: backend at path and, when account is set,
// that account's; top is the file's.
func openBackend(t *testing.T, path string, clock *atomicClock, account string) (top, b *store.Backend) {
	t.Helper()
	top, err := store.Open("bolt:"+path, clock.Opts())
	if err != nil {
		t.Fatal(err)
	}
	if account == "" {
		return top, top
	}
	if b, err = top.Account(account, clock.Opts()); err != nil {
		t.Fatal(err)
	}
	return top, b
}

// closeBackend closes cleanly, or as a kill -9 right after the
// write-behind would.
func closeBackend(t *testing.T, top, b *store.Backend, crash bool) {
	t.Helper()
	if crash {
		boltOf(b).Flush()
		if err := boltOf(top).CrashClose(); err != nil {
			t.Fatal(err)
		}
		return
	}
	if b != top {
		b.Close()
	}
	if err := top.Close(); err != nil {
		t.Fatal(err)
	}
}

// answerRecord encodes an answer as the store writes it (SaveAnswer).
func answerRecord(b []byte, key string, body []byte, until time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(until.UnixMilli()))
	for _, part := range [][]byte{[]byte(key), []byte("application/xml; charset=utf-8"), body} {
		b = binary.AppendUvarint(b, uint64(len(part)))
		b = append(b, part...)
	}
	return b
}

// plantAnswers writes a file of answers (keys prefix-0, prefix-1, …) of
// about size bytes ending at until, started at started, as a busy minute
// left it; it returns how many.
func plantAnswers(t *testing.T, path string, started time.Time, prefix string, size int, until time.Time) int {
	t.Helper()
	var b []byte
	n := 0
	for ; len(b) < size; n++ {
		b = answerRecord(b, fmt.Sprintf("%s-%d", prefix, n), answerBody, until)
	}
	if err := os.WriteFile(fmt.Sprintf("%s.answers.%d", path, started.UnixMilli()), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

// answerBody is about a reply in safe mode.
var answerBody = bytes.Repeat([]byte("<xml>safe mode's encrypted reply</xml>"), 13)

// TestBoltRestartReadsAnswersBounded: a start after a busy spell (48 MiB of
// answers beside the file, as the old write-behind left them) allocates
// far less than that, loads only the answers still valid among the newest
// the memory holds, and removes the files it does not need at once; the
// one it keeps goes once its answers expire, with no push.
func TestBoltRestartReadsAnswersBounded(t *testing.T) {
	const fileBytes, maxAlloc = 12 << 20, 16 << 20
	for _, tc := range []struct {
		name          string
		life          time.Duration // of the answers of the files but the last, from the restart
		wantFiles     int64         // beside the bbolt file after the restart, at most
		wantOldLoaded bool
	}{
		{name: "expired but the last", life: -time.Minute, wantFiles: 64 << 10},
		{name: "valid, past the memory's budget", life: 20 * time.Second, wantFiles: bolt.KeepFor(dedup.DefaultBytes) + 4<<10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, clock := filepath.Join(t.TempDir(), "wxbot.db"), newClock()
			now := clock.Now()
			for i := range 3 {
				plantAnswers(t, path, now.Add(time.Duration(i-4)*time.Minute), fmt.Sprint("old", i), fileBytes, now.Add(tc.life))
			}
			size := fileBytes
			if tc.life < 0 {
				size = 32 << 10 // a quiet minute after the busy ones
			}
			last := plantAnswers(t, path, now.Add(-time.Minute), "new", size, now.Add(20*time.Second)) - 1
			b, alloc := openMeasured(t, path, clock)
			defer b.Close()
			t.Logf("the start allocated %.1f MiB; %.1f MiB beside the file after it", float64(alloc)/(1<<20), float64(filesBeside(t, path))/(1<<20))
			if alloc > maxAlloc {
				t.Errorf("the start allocated %.1f MiB, want at most %d MiB", float64(alloc)/(1<<20), maxAlloc>>20)
			}
			for key, want := range map[string]bool{fmt.Sprint("new-", last): true, "old0-0": false, "old2-0": false} {
				if kept := keptAnswer(t, b, key); kept != want {
					t.Errorf("answer %s loaded: %v, want %v", key, kept, want)
				}
			}
			if n := filesBeside(t, path); n > tc.wantFiles {
				t.Errorf("%.1f MiB beside the file after the restart, want at most %.1f", float64(n)/(1<<20), float64(tc.wantFiles)/(1<<20))
			}
			clock.Add(21 * time.Second)
			boltOf(b).TickFiles()
			if n := filesBeside(t, path); n != 0 {
				t.Errorf("%d bytes beside the file once every answer expired", n)
			}
		})
	}
}

// openMeasured opens the bolt: backend at path and returns it with the
// bytes its open allocated: more than its peak heap, on no clock.
func openMeasured(t *testing.T, path string, clock *atomicClock) (*store.Backend, uint64) {
	t.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b, err := store.Open("bolt:"+path, clock.Opts())
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	return b, after.TotalAlloc - before.TotalAlloc
}

// keptAnswer reports whether the retry memory holds an answer for key,
// answerBody, from before the restart.
func keptAnswer(t *testing.T, b *store.Backend, key string) bool {
	t.Helper()
	a, first, err := b.Dedup.Claim(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if first {
		a.Finish("text/plain; charset=utf-8", []byte("success"))
		return false
	}
	if _, body, _ := a.Wait(context.Background()); !bytes.Equal(body, answerBody) {
		t.Errorf("answer %s: %q", key, body)
	}
	return true
}

// TestBoltFilesBoundedUnderLoad: a busy spell (all of it within the
// answers' and the window's time) leaves beside the bbolt file about what
// the memories hold, not what went through; a restart then knows the
// newest answers and query strings.
func TestBoltFilesBoundedUnderLoad(t *testing.T) {
	const budget, pushes = 256 << 10, 20_000
	path, clock := filepath.Join(t.TempDir(), "wxbot.db"), newClock()
	o := store.Options{Now: clock.Now, RetryMemory: budget, ReplayMemory: budget}
	b, err := store.Open("bolt:"+path, o)
	if err != nil {
		t.Fatal(err)
	}
	// Each of the two logs: what it keeps, past which the oldest segment
	// goes, and the segment being filled; a segment closes one write
	// past its size.
	bound := 2 * (bolt.KeepFor(budget) + 2*(bolt.SegmentBytes(budget)+100*int64(len(answerBody)+64)))
	most, written := int64(0), int64(0)
	for i := range pushes {
		a, _, err := b.Dedup.Claim(context.Background(), fmt.Sprint("push-", i))
		if err != nil {
			t.Fatal(err)
		}
		a.Finish("application/xml; charset=utf-8", answerBody)
		if _, err := remember(b, fmt.Sprint("query-", i), hash128("a")); err != nil {
			t.Fatal(err)
		}
		written += int64(len(answerBody) + 64 + 44)
		if i%100 == 99 {
			boltOf(b).Flush()
			most = max(most, filesBeside(t, path))
		}
	}
	t.Logf("%d KiB beside the file at most, %d KiB through, %d KiB allowed", most>>10, written>>10, bound>>10)
	if most > bound {
		t.Errorf("%d KiB beside the file at most while %d KiB went through, want at most %d KiB", most>>10, written>>10, bound>>10)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err = store.Open("bolt:"+path, o); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if prev, _ := remember(b, fmt.Sprint("query-", pushes-1), hash128("b")); prev != hash128("a") {
		t.Errorf("the last query string after the restart: %q, want it known", prev)
	}
	for key, want := range map[string]bool{fmt.Sprint("push-", pushes-1): true, "push-0": false} {
		if kept := keptAnswer(t, b, key); kept != want {
			t.Errorf("answer %s loaded: %v, want %v", key, kept, want)
		}
	}
}

// TestBoltDamagedFilesBeside: files beside the bbolt file that are torn,
// scribbled over or not files at all are read up to the damage, or
// skipped: the store opens, and what came before the damage is known.
func TestBoltDamagedFilesBeside(t *testing.T) {
	now := newClock().Now()
	good := answerRecord(nil, "good", answerBody, now.Add(20*time.Second))
	query := make([]byte, 44) // a query string's record: end, window, key and body hashes
	binary.BigEndian.PutUint64(query, uint64(now.Add(time.Minute).UnixMilli()))
	binary.BigEndian.PutUint32(query[8:], uint32(replayWindow.Milliseconds()))
	for _, tc := range []struct {
		name, suffix string
		data         []byte
		dir          bool
		gone         bool // removed at the start: nothing in it is valid
	}{
		{name: "a torn answer", suffix: ".answers.1", data: append(bytes.Clone(good), good[:len(good)/2]...)},
		{name: "an answer's length scribbled over", suffix: ".answers.1", data: append(bytes.Clone(good), 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1)},
		{name: "an answer ending in a century", suffix: ".answers.1", data: append(bytes.Clone(good), answerRecord(nil, "far", nil, now.AddDate(100, 0, 0))...)},
		{name: "random bytes for answers", suffix: ".answers.1", data: bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4096), gone: true},
		{name: "random bytes for query strings", suffix: ".queries.1", data: bytes.Repeat([]byte{0xff, 0x01}, 4096), gone: true},
		{name: "a torn query string", suffix: ".queries.1", data: append(bytes.Clone(query), query[:20]...)},
		{name: "a directory", suffix: ".answers.1", dir: true},
		{name: "a name that is no segment's", suffix: ".answers.x", data: []byte("notes")},
		{name: "a rewrite a crash interrupted", suffix: ".answers.1.tmp", data: good, gone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wxbot.db")
			name := path + tc.suffix
			write := func() error { return os.WriteFile(name, tc.data, 0o600) }
			if tc.dir {
				write = func() error { return os.Mkdir(name, 0o700) }
			}
			if err := write(); err != nil {
				t.Fatal(err)
			}
			clock := &atomicClock{}
			clock.ns.Store(now.UnixNano())
			b, err := store.Open("bolt:"+path, clock.Opts())
			if err != nil {
				t.Fatalf("the store did not open: %v", err)
			}
			defer b.Close()
			if _, err := os.Stat(name); tc.gone != os.IsNotExist(err) {
				t.Errorf("%s after the start: %v, want it gone: %v", tc.suffix, err, tc.gone)
			}
			if tc.suffix == ".answers.1" && !tc.dir && bytes.HasPrefix(tc.data, good) && !keptAnswer(t, b, "good") {
				t.Error("the answer before the damage was not read back")
			}
		})
	}
}

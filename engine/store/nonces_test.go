package store

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

const testBodyHash = "0123456789abcdef0123456789abcdef"

// TestNonceMemoryIsBounded: under more query strings than the tables hold,
// the memory rotates early instead of growing, and the latest is still
// remembered.
func TestNonceMemoryIsBounded(t *testing.T) {
	var m QueryMemory
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	n := 3 * DefaultReplayMemory / 32 // three times what two full generations hold
	for i := 0; i < n; i++ {
		m.Remember(strconv.Itoa(i), testBodyHash, now, 10*time.Minute)
	}
	if m.early.Load() == 0 {
		t.Errorf("no early rotation after %d query strings: the memory is not bounded", n)
	}
	if prev := m.Remember(strconv.Itoa(n-1), testBodyHash, now, 10*time.Minute); prev != testBodyHash {
		t.Errorf("the latest query string was forgotten: %q", prev)
	}
}

// TestNonceMemoryWithinBudget: the tables are made once, at the budget, and
// hold about 65,000 query strings per 2 MiB before the window shrinks.
func TestNonceMemoryWithinBudget(t *testing.T) {
	var m QueryMemory
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	m.Remember("q", testBodyHash, now, 10*time.Minute)
	bytes, holds := 0, 0
	for i := range m.shards {
		for _, tb := range []*nonceTable{&m.shards[i].cur, &m.shards[i].prev} {
			bytes += len(tb.slots) * nonceSlotBytes
			holds += len(tb.slots) * 3 / 4
		}
	}
	if bytes > DefaultReplayMemory || bytes < DefaultReplayMemory*9/10 {
		t.Errorf("tables of %d bytes for a budget of %d", bytes, DefaultReplayMemory)
	}
	if want := DefaultReplayMemory / 33; holds < want {
		t.Errorf("the tables hold %d query strings, want at least %d", holds, want)
	}
	early := m.early.Load()
	for i := 0; i < holds/4; i++ { // half what a generation holds, spread over the shards
		m.Remember(strconv.Itoa(i), testBodyHash, now, 10*time.Minute)
	}
	if m.early.Load() != early {
		t.Errorf("rotated early with %d of the %d query strings the tables hold", holds/4, holds)
	}
}

// TestNonceMemoryWindow: a query string is remembered for at least the TTL
// and forgotten after twice the TTL, on the memory's clock.
func TestNonceMemoryWindow(t *testing.T) {
	var m QueryMemory
	t0 := time.Unix(1_800_000_000, 0)
	clock := t0
	now := func() time.Time { return clock }
	const ttl = 10 * time.Minute
	if prev := m.Remember("q", testBodyHash, now, ttl); prev != "" {
		t.Fatalf("first seen, got %q", prev)
	}
	for _, c := range []struct {
		at   time.Duration
		want string
	}{
		{time.Second, testBodyHash},
		{ttl - time.Second, testBodyHash},
		{ttl + time.Second, testBodyHash}, // rotated: the older generation has it
		{2*ttl + 2*time.Second, ""},       // rotated twice: gone (and remembered again)
		{2*ttl + 3*time.Second, testBodyHash},
	} {
		clock = t0.Add(c.at)
		if prev := m.Remember("q", testBodyHash, now, ttl); prev != c.want {
			t.Errorf("at +%v: got %q, want %q", c.at, prev, c.want)
		}
	}
}

// TestNonceMemoryHashes: a hash comes back as it was given, whether it was
// kept as bytes (lower-case hex) or hashed; another body gives another
// string.
func TestNonceMemoryHashes(t *testing.T) {
	var m QueryMemory
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	for _, h := range []string{testBodyHash, "0123456789ABCDEF", "abc", "not hex", ""} {
		if prev := m.Remember("q"+h, h, now, time.Minute); prev != "" {
			t.Errorf("%q: first seen, got %q", h, prev)
		}
		if prev := m.Remember("q"+h, h, now, time.Minute); prev != h {
			t.Errorf("%q: seen again, got %q", h, prev)
		}
		if prev := m.Remember("q"+h, h+"0", now, time.Minute); prev == "" || prev == h+"0" {
			t.Errorf("%q: another body got %q, want the first one's hash", h, prev)
		}
	}
}

// TestNonceMemoryConcurrent: goroutines remembering the same query strings
// at once: for each, exactly one sees it first, and every later one gets
// the first one's body hash.
func TestNonceMemoryConcurrent(t *testing.T) {
	var m QueryMemory
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	const workers, keys = 8, 2000
	firsts := make([][]int, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < keys; k++ {
				switch prev := m.Remember("q"+strconv.Itoa(k), testBodyHash, now, 10*time.Minute); prev {
				case "":
					firsts[w] = append(firsts[w], k)
				case testBodyHash:
				default:
					t.Errorf("query %d: got %q", k, prev)
				}
			}
		}()
	}
	wg.Wait()
	seen := make([]int, keys)
	for _, ks := range firsts {
		for _, k := range ks {
			seen[k]++
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("query %d seen first %d times, want once", k, n)
		}
	}
}

// TestNonceMemoryLongestWindow: the memory keeps the longest window asked
// for, not the first: a store reloading query strings kept with a shorter
// window (a restart with a longer --max-skew) does not shorten the
// window of the pushes that follow.
func TestNonceMemoryLongestWindow(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name  string
		first time.Duration // the window of the first query string remembered
		at    time.Duration
		want  string
	}{
		{"within the longer window", time.Minute, 9 * time.Minute, testBodyHash},
		{"past twice the longer window", time.Minute, 21 * time.Minute, ""},
		{"a longer window first", time.Hour, 90 * time.Minute, testBodyHash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m QueryMemory
			m.Remember("reloaded", testBodyHash, func() time.Time { return t0 }, tc.first)
			for i := range nonceShards * 4 { // some in every shard
				m.Remember("push"+strconv.Itoa(i), testBodyHash, func() time.Time { return t0 }, 10*time.Minute)
			}
			at := func() time.Time { return t0.Add(tc.at) }
			for i := range nonceShards * 4 {
				if prev := m.Remember("push"+strconv.Itoa(i), testBodyHash, at, 10*time.Minute); prev != tc.want {
					t.Fatalf("push %d at +%v: %q, want %q", i, tc.at, prev, tc.want)
				}
			}
		})
	}
}

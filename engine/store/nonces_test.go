package store

import (
	"strconv"
	"testing"
	"time"
)

// TestNonceMemoryIsBounded: under more query strings than a generation
// holds, the memory rotates early instead of growing without end, and the
// latest is still remembered.
func TestNonceMemoryIsBounded(t *testing.T) {
	var m nonceMemory
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	hash := "0123456789abcdef0123456789abcdef"
	for i := 0; i < 3*ReplayMemory/45; i++ {
		m.remember(strconv.Itoa(i), hash, now, 10*time.Minute)
	}
	if m.seen.EarlyRotations.Load() == 0 {
		t.Errorf("no early rotation after %d query strings: the memory is not bounded", 3*ReplayMemory/45)
	}
	if prev := m.remember(strconv.Itoa(3*ReplayMemory/45-1), hash, now, 10*time.Minute); prev != hash {
		t.Errorf("the latest query string was forgotten: %q", prev)
	}
}

// TestNonceMemoryHashes: a hash comes back as it was given, whether it was
// kept as bytes (lower-case hex) or as it is.
func TestNonceMemoryHashes(t *testing.T) {
	var m nonceMemory
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	for _, h := range []string{"0123456789abcdef0123456789abcdef", "0123456789ABCDEF", "abc", "not hex", ""} {
		if prev := m.remember("q"+h, h, now, time.Minute); prev != "" {
			t.Errorf("%q: first seen, got %q", h, prev)
		}
		if prev := m.remember("q"+h, h, now, time.Minute); prev != h {
			t.Errorf("%q: seen again, got %q", h, prev)
		}
	}
}

package store

import (
	"strconv"
	"testing"
	"time"
)

// TestNonceMemoryIsBounded: under more query strings than a generation
// holds, shards rotate early instead of growing without end.
func TestNonceMemoryIsBounded(t *testing.T) {
	var m nonceMemory
	now := time.Unix(1_800_000_000, 0)
	hash := "0123456789abcdef0123456789abcdef"
	for i := 0; i < 3*maxNonces; i++ {
		m.remember(strconv.Itoa(i), hash, now, 10*time.Minute)
	}
	total := 0
	for i := range m.shards {
		total += len(m.shards[i].cur) + len(m.shards[i].prev)
	}
	if total > 2*maxNonces+len(m.shards) {
		t.Errorf("%d query strings kept, want at most about %d", total, 2*maxNonces)
	}
	if prev := m.remember(strconv.Itoa(3*maxNonces-1), hash, now, 10*time.Minute); prev != hash {
		t.Errorf("the latest query string was forgotten: %q", prev)
	}
}

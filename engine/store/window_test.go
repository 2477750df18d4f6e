package store_test

import (
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// TestMergeWindow: the same opening twice changes nothing (no second
// quota for a retried push); a longer opening wins; an ended window gives
// way to any opening.
func TestMergeWindow(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	msg, click := now.Add(48*time.Hour), now.Add(time.Minute)
	for _, tt := range []struct {
		name      string
		left      int
		until     time.Time
		quota     int
		newUntil  time.Time
		wantLeft  int
		wantUntil time.Time
	}{
		{"the same opening again", 0, msg, 5, msg, 0, msg},
		{"a click inside a message's window", 2, msg, 3, click, 2, msg},
		{"a later message", 0, msg, 5, msg.Add(time.Hour), 5, msg.Add(time.Hour)},
		{"an ended window", 0, now, 3, click, 3, click},
		{"no window yet", 0, time.Time{}, 5, msg, 5, msg},
	} {
		left, until := store.MergeWindow(tt.left, tt.until, tt.quota, tt.newUntil, now)
		if left != tt.wantLeft || !until.Equal(tt.wantUntil) {
			t.Errorf("%s: %d until %v, want %d until %v", tt.name, left, until, tt.wantLeft, tt.wantUntil)
		}
	}
}

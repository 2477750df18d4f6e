package store_test

import (
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// TestMergeWindow: the same opening twice changes nothing (a retried push
// opens no second window); a longer opening wins; an ended window gives
// way to any opening.
func TestMergeWindow(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	msg, click := now.Add(48*time.Hour), now.Add(time.Minute)
	for _, tt := range []struct {
		name      string
		until     time.Time
		newUntil  time.Time
		wantUntil time.Time
	}{
		{"the same opening again", msg, msg, msg},
		{"a click inside a message's window", msg, click, msg},
		{"a later message", msg, msg.Add(time.Hour), msg.Add(time.Hour)},
		{"an ended window", now, click, click},
		{"no window yet", time.Time{}, msg, msg},
	} {
		if until := store.MergeWindow(tt.until, tt.newUntil, now); !until.Equal(tt.wantUntil) {
			t.Errorf("%s: until %v, want %v", tt.name, until, tt.wantUntil)
		}
	}
}

package storetest

import (
	"context"
	"testing"
	"time"
)

// testLimit: a limit lets count firings through per key and window, counts
// the refused ones too, and starts afresh in the next window. The windows
// move with the test's clock, so even a store that expires keys on its own
// clock (Redis) is tested: the next window is another key.
func testLimit(t *testing.T, o Opener) {
	clock := start() // 10:00, on a minute's boundary
	s := o.Open(t, clock)
	ctx := context.Background()
	steps := []struct {
		after time.Duration // since start
		key   string
		want  bool
	}{
		{0, "a", true},
		{10 * time.Second, "a", true},
		{20 * time.Second, "b", true},
		{30 * time.Second, "a", false},
		{59 * time.Second, "a", false},
		{time.Minute, "a", true}, // the next window
		{time.Minute + time.Second, "b", true},
	}
	t0 := clock.T
	for i, st := range steps {
		clock.T = t0.Add(st.after)
		ok, err := s.TakeLimit(ctx, st.key, 2, time.Minute)
		must(t, err)
		if ok != st.want {
			t.Errorf("step %d: TakeLimit(%q) at +%v = %v, want %v", i+1, st.key, st.after, ok, st.want)
		}
	}
}

// testDurableLimit: a limit's count outlives a restart: a coupon limited to
// once a day is not claimed again because the bot restarted; a window
// that ended while the bot was down starts afresh.
func testDurableLimit(t *testing.T, o Opener) {
	clock := start()
	s := o.Open(t, clock)
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		if ok, err := s.TakeLimit(ctx, "coupon/oA", 1, 24*time.Hour); err != nil || ok != want {
			t.Fatalf("firing %d before the restart: %v, %v; want %v", i+1, ok, err, want)
		}
	}
	s.TakeLimit(ctx, "hourly/oA", 1, time.Hour)
	s = o.Reopen(t, s, clock)
	if ok, err := s.TakeLimit(ctx, "coupon/oA", 1, 24*time.Hour); err != nil || ok {
		t.Errorf("after a restart, the day's coupon again: %v, %v; want refused", ok, err)
	}
	if ok, _ := s.TakeLimit(ctx, "coupon/oB", 1, 24*time.Hour); !ok {
		t.Error("another user's coupon refused after the restart")
	}
	clock.T = clock.T.Add(time.Hour)
	s = o.Reopen(t, s, clock)
	if ok, _ := s.TakeLimit(ctx, "hourly/oA", 1, time.Hour); !ok {
		t.Error("a window that ended while the store was closed is still refused")
	}
}

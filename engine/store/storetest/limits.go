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

package redis_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// TestRedisTallyKeys: a day's keys expire in Redis when the caller's clock
// says the day is forgotten, and a damaged count is replaced rather than
// failing every add of its day.
func TestRedisTallyKeys(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	s := openRedis(t, fmt.Sprintf("wxbot-test-tally-%d-%d:", os.Getpid(), time.Now().UnixNano()), func() time.Time { return now })
	defer s.Close()
	defer cleanup(t, s)
	ctx := context.Background()
	day := store.TallyDay(now, time.UTC)
	hash, set := s.Prefix()+"tally:"+day+":text", s.Prefix()+"tally:"+day
	if err := s.Client().HSet(ctx, hash, "damaged", "not a number").Err(); err != nil {
		t.Fatal(err)
	}
	err := s.AddTallies(ctx, []store.Tally{{Day: day, Kind: "text", Name: "damaged", N: 2}, {Day: day, Kind: "text", Name: "ok", N: 1}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadTallies(ctx, day)
	if err != nil || fmt.Sprint(got) != fmt.Sprintf("[{%s text damaged 2} {%s text ok 1}]", day, day) {
		t.Errorf("ReadTallies = %v, %v; want damaged=2 and ok=1", got, err)
	}
	end, _ := store.TallyDayEnd(day)
	want := end.Add(store.TallyRetention).Sub(now)
	for _, k := range []string{hash, set} {
		ttl, err := s.Client().PTTL(ctx, k).Result()
		if err != nil || ttl > want || ttl < want-time.Minute {
			t.Errorf("%s: TTL %v (%v), want %v", k, ttl, err, want)
		}
	}
}

package outbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store/memory"
)

// TestOutboxConcurrentAcrossUsers: with an API that answers each send in
// 100 ms, sends to different users go out side by side (at least 500 a
// second with the default workers) while each user's sends keep their
// order. Virtual time (synctest): the rate is the outbox's, not this
// machine's.
func TestOutboxConcurrentAcrossUsers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const users, perUser = 200, 5
		var mu sync.Mutex
		got := map[string][]int{}
		inFlight, most := 0, 0
		done := make(chan struct{})
		delivered := 0
		ob := outbox.New(memory.New(nil), outbox.Options{})
		ob.Register("kefu", outbox.DelivererFunc(func(ctx context.Context, s *outbox.Send) error {
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			mu.Unlock()
			time.Sleep(100 * time.Millisecond) // WeChat answering
			mu.Lock()
			defer mu.Unlock()
			inFlight--
			var n int
			fmt.Sscanf(string(s.Payload), "%d", &n)
			got[s.OrderKey] = append(got[s.OrderKey], n)
			if delivered++; delivered == users*perUser {
				close(done)
			}
			return nil
		}))
		ctx, cancel := context.WithCancel(context.Background())
		for i := 0; i < perUser; i++ {
			for u := 0; u < users; u++ {
				s := &outbox.Send{ID: fmt.Sprintf("s-%d-%d", u, i), Kind: "kefu", OrderKey: fmt.Sprint("oU", u), Payload: []byte(fmt.Sprint(i))}
				if err := ob.Enqueue(ctx, s); err != nil {
					t.Fatal(err)
				}
			}
		}
		start := time.Now()
		go ob.Run(ctx)
		<-done
		took := time.Since(start)
		cancel()
		synctest.Wait()
		if rate := float64(users*perUser) / took.Seconds(); rate < 500 {
			t.Errorf("%d sends in %v of virtual time: %.0f a second, want at least 500 (at most %d in flight)", users*perUser, took, rate, most)
		}
		if most > outbox.DefaultWorkers {
			t.Errorf("%d sends in flight, more than the %d workers", most, outbox.DefaultWorkers)
		}
		for u, seq := range got {
			for i, n := range seq {
				if n != i {
					t.Fatalf("%s's sends went out as %v, want in order", u, seq)
				}
			}
		}
	})
}

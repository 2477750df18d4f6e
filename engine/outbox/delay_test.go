package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store/memory"
)

// clocked is a deliverer that records each delivery as "ID@seconds", the
// seconds of fake time since the test began.
type clocked struct {
	start time.Time
	mu    sync.Mutex
	got   []string
	fail  map[string]int // send ID → attempts to fail first
}

func (c *clocked) Deliver(_ context.Context, s *outbox.Send) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail[s.ID] > 0 {
		c.fail[s.ID]--
		return errors.New("errcode -1")
	}
	c.got = append(c.got, fmt.Sprintf("%s@%ds", s.ID, time.Since(c.start)/time.Second))
	return nil
}

func (c *clocked) delivered() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

// TestDelayedSendsHoldNoOneBack: a send with a Delay waits out of its
// user's line and joins it when due, so the user's sends go out in the
// order they come due; a send held in the line (NotBefore) still holds
// back those behind it, and a send being retried keeps its place.
func TestDelayedSendsHoldNoOneBack(t *testing.T) {
	type send struct {
		id     string
		delay  time.Duration // out of line
		inLine time.Duration // NotBefore: held in the line
		fails  int
	}
	tests := []struct {
		name  string
		sends []send
		want  string
	}{
		{"a later send goes first", []send{{id: "a", delay: 15 * time.Second}, {id: "b"}}, "b@0s a@15s"},
		{"delayed sends go out as they come due", []send{{id: "a", delay: 10 * time.Second}, {id: "b", delay: 5 * time.Second}, {id: "c"}},
			"c@0s b@5s a@10s"},
		{"sends of one delay keep their order", []send{{id: "a", delay: 5 * time.Second}, {id: "b", delay: 5 * time.Second}, {id: "c", delay: 5 * time.Second}},
			"a@5s b@5s c@5s"},
		{"a send held in the line holds back those behind it", []send{{id: "a", inLine: 3 * time.Second}, {id: "b"}}, "a@3s b@3s"},
		{"a send being retried keeps its place", []send{{id: "a", fails: 2}, {id: "b", delay: 5 * time.Second}}, "a@20s b@20s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := memory.New(nil)
				d := &clocked{start: time.Now(), fail: map[string]int{}}
				for _, s := range tt.sends {
					d.fail[s.id] = s.fails
				}
				ob := runOutbox(t, st, d, outbox.Options{Backoff: func(int) time.Duration { return 10 * time.Second }})
				for _, s := range tt.sends {
					snd := &outbox.Send{ID: s.id, Kind: outbox.KindKefu, OrderKey: "U", Delay: s.delay}
					if s.inLine > 0 {
						snd.NotBefore = time.Now().Add(s.inLine)
					}
					if err := ob.Enqueue(context.Background(), snd); err != nil {
						t.Fatal(err)
					}
				}
				for deadline := time.Now().Add(time.Hour); len(d.delivered()) < len(tt.sends); time.Sleep(time.Second) {
					if time.Now().After(deadline) {
						t.Fatalf("delivered %v after an hour", d.delivered())
					}
				}
				if got := strings.Join(d.delivered(), " "); got != tt.want {
					t.Errorf("delivered %s, want %s", got, tt.want)
				}
				if n, _ := st.Pending(context.Background()); n != 0 {
					t.Errorf("%d sends still pending", n)
				}
			})
		})
	}
}

// TestDelayedSendIsDurable: a delayed send is in the queue from Enqueue on
// (a restart before it comes due keeps it), under its own ID, and joins its
// line with the ID it was given.
func TestDelayedSendIsDurable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := memory.New(nil)
		ctx := context.Background()
		first := outbox.New(st, outbox.Options{})
		first.Register(outbox.KindKefu, outbox.DelivererFunc(func(context.Context, *outbox.Send) error {
			t.Error("the first outbox, which never runs, delivered")
			return nil
		}))
		s := &outbox.Send{ID: "p/r/0/1", Kind: outbox.KindKefu, OrderKey: "U", Rule: "r", Delay: time.Minute}
		if err := first.Enqueue(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := first.Enqueue(ctx, s); err != nil { // a retried push
			t.Fatal(err)
		}
		if n, _ := st.Pending(ctx); n != 1 {
			t.Fatalf("pending %d, want the delayed send once", n)
		}
		// The next start runs another outbox on the same queue.
		d := &clocked{start: time.Now(), fail: map[string]int{}}
		runOutbox(t, st, d, outbox.Options{})
		for deadline := time.Now().Add(time.Hour); len(d.delivered()) == 0; time.Sleep(time.Second) {
			if time.Now().After(deadline) {
				t.Fatal("the delayed send was never delivered")
			}
		}
		if got := d.delivered(); fmt.Sprint(got) != "[p/r/0/1@60s]" {
			t.Errorf("delivered %v, want the send under its own ID after its delay", got)
		}
		if err := first.Enqueue(ctx, s); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Minute)
		if got := d.delivered(); len(got) != 1 {
			t.Errorf("delivered %v: the push retried after the delivery sent again", got)
		}
	})
}

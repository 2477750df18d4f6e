package engine

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestCallReplyBy: an action sees when its push's passive reply is due,
// Options.ReplyDeadline after the push was dispatched, so that it can
// answer in time (the ai action's apology); an offline run, or an engine
// given no deadline, has none.
func TestCallReplyBy(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want time.Duration // after the dispatch; 0: none
	}{
		{"deadline", Options{ReplyDeadline: 4 * time.Second}, 4 * time.Second},
		{"no deadline", Options{}, 0},
		{"offline", Options{ReplyDeadline: 4 * time.Second, DryRun: true}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := New(tt.opts)
				defer e.Close(context.Background())
				var by time.Time
				var ok bool
				r := rule("r", []string{"text"})
				r.Steps = []Step{{Name: "look", Action: ActionFunc(func(_ context.Context, c *Call) error {
					time.Sleep(time.Second) // the due time does not move with the action
					by, ok = c.ReplyBy()
					return nil
				})}}
				e.SetRules(NewRuleSet([]*Rule{r}, nil))
				start := time.Now()
				<-e.Dispatch(&Event{Type: "text", From: "oU"}).Done()
				if ok != (tt.want != 0) || (ok && !by.Equal(start.Add(tt.want))) {
					t.Errorf("ReplyBy %v, %v; want %v after the dispatch (%v)", by, ok, tt.want, tt.want != 0)
				}
			})
		})
	}
}

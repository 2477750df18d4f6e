package callback

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/store/memory"
)

// TestHeldPushOnWeChatSchedule plays WeChat's three attempts against an
// account without the kefu API, in virtual time: whichever attempt is
// connected when the slow reply is ready gets it; past the last attempt's
// reply deadline the pending text answers and the reply waits for the
// user's next push. A retry wait other than WeChat's 5 s moves the whole
// schedule (Config.RetryWait).
func TestHeldPushOnWeChatSchedule(t *testing.T) {
	for _, tt := range []struct {
		name            string
		wait, deadline  time.Duration
		delay           time.Duration
		attempt         int
		want            string
		heldForNextPush bool
	}{
		{"ready before the deadline", 0, 4 * time.Second, 3 * time.Second, 1, "answer", false},
		{"8 s answers the second attempt", 0, 4 * time.Second, 8 * time.Second, 2, "answer", false},
		{"12 s answers the third attempt", 0, 4 * time.Second, 12 * time.Second, 3, "answer", false},
		{"25 s: the pending text, then the next push", 0, 4 * time.Second, 25 * time.Second, 3, DefaultPendingText, true},
		{"a 2 s retry wait: 3 s answers the second attempt", 2 * time.Second, 1500 * time.Millisecond, 3 * time.Second, 2, "answer", false},
		{"a 2 s retry wait: 7 s is past the last attempt", 2 * time.Second, 1500 * time.Millisecond, 7 * time.Second, 3, DefaultPendingText, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := memory.New(nil)
				e := engine.New(engine.Options{Now: func() time.Time { return testNow }, State: st, HoldLate: true})
				slow := rule("slow", []string{"text"}, exact("slow"))
				slow.Steps = []engine.Step{{Name: "slow", Passive: true, Action: engine.ActionFunc(func(_ context.Context, c *engine.Call) error {
					time.Sleep(tt.delay)
					c.Reply(textReply("answer"))
					return nil
				})}}
				e.SetRules(engine.NewRuleSet([]*engine.Rule{slow}, nil))
				defer e.Close(context.Background())
				h := NewHandler(e, Config{Token: testToken, HoldLate: true, Held: st, RetryWait: tt.wait, ReplyDeadline: tt.deadline})
				wait := tt.wait
				if wait == 0 {
					wait = DefaultRetryWait
				}
				attempt, got := weChatAttempts(t, h, "slow", "9001", wait)
				if attempt != tt.attempt || got != tt.want {
					t.Errorf("attempt %d answered %q, want attempt %d answered %q", attempt, got, tt.attempt, tt.want)
				}
				if !tt.heldForNextPush {
					return
				}
				time.Sleep(tt.delay) // the reply is ready and held by now
				if attempt, got := weChatAttempts(t, h, "next", "9002", wait); attempt != 1 || got != "answer" {
					t.Errorf("the next push: attempt %d answered %q, want the held reply on the first", attempt, got)
				}
			})
		})
	}
}

// weChatAttempts sends a push as WeChat does: an attempt is given up after
// wait and sent again at once, three in all. It returns the attempt that
// got an answer and the answer's text.
func weChatAttempts(t *testing.T, h http.Handler, content, msgID string, wait time.Duration) (int, string) {
	t.Helper()
	for attempt := 1; attempt <= 3; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		w := serve(h, signedRequest(testToken, testNow, nil, textPush(content, msgID)).WithContext(ctx))
		cancel()
		if w.Code == http.StatusOK && w.Body.Len() > 0 {
			return attempt, replyContent(t, w.Body.Bytes())
		}
	}
	return 0, ""
}

// TestGhIDRefusesOtherAccounts: with a gh_id set, a push for another
// account (a valid signature, another ToUserName) is refused 403 and runs
// nothing; the account's own is answered.
func TestGhIDRefusesOtherAccounts(t *testing.T) {
	b := newTestBot(t, Config{GhID: "gh_test"})
	if w := serve(b.h, signedRequest(testToken, time.Now(), nil, textPush("echo 1", "7001"))); w.Code != http.StatusOK {
		t.Fatalf("the account's own push: %d %s", w.Code, w.Body)
	}
	other := textPush("echo 2", "7002")
	other.ToUserName = "gh_other"
	if w := serve(b.h, signedRequest(testToken, time.Now(), nil, other)); w.Code != http.StatusForbidden {
		t.Errorf("another account's push: %d, want 403", w.Code)
	}
	if n := b.runs.Load(); n != 1 {
		t.Errorf("%d actions ran, want the own push's 1", n)
	}
}

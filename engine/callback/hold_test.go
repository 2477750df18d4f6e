package callback

import (
	"testing"
	"testing/synctest"
	"time"
)

// The third attempt of a held push arriving here moves its pending answer
// to a reply deadline after it, whatever the schedule said. The hold's
// timers run on synctest's fake clock: "not fired on the second attempt"
// and "fired a deadline after the third" are exact, however busy the
// machine.
func TestHoldsLastAttemptMovesThePendingAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var hs holds
		hd := hs.start("push", time.Hour)
		hs.retried("push", 50*time.Millisecond) // the second attempt
		// Fake time moves on only once every goroutine is blocked: had the
		// second attempt rescheduled the answer, it would fire in these
		// 150 ms.
		select {
		case <-hd.fire:
			t.Fatal("the pending answer came on the second attempt")
		case <-time.After(150 * time.Millisecond):
		}
		third := time.Now()
		hs.retried("push", 50*time.Millisecond) // the third
		select {
		case <-hd.fire:
			if took := time.Since(third); took != 50*time.Millisecond {
				t.Errorf("the pending answer came %v after the third attempt, want its reply deadline, 50ms", took)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("the third attempt did not bring the pending answer forward")
		}
		hs.end("push")
		hs.retried("push", time.Millisecond)  // after its end: nothing to move
		hs.retried("other", time.Millisecond) // another replica's push
		hd.close()                            // closing twice is harmless
	})
}

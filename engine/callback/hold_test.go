package callback

import (
	"testing"
	"time"
)

// The third attempt of a held push arriving here moves its pending answer
// to a reply deadline after it, whatever the schedule said.
func TestHoldsLastAttemptMovesThePendingAnswer(t *testing.T) {
	var hs holds
	hd := hs.start("push", time.Hour)
	hs.retried("push", 50*time.Millisecond) // the second attempt
	select {
	case <-hd.fire:
		t.Fatal("the pending answer came on the second attempt")
	case <-time.After(150 * time.Millisecond):
	}
	hs.retried("push", 50*time.Millisecond) // the third
	select {
	case <-hd.fire:
	case <-time.After(2 * time.Second):
		t.Fatal("the third attempt did not bring the pending answer forward")
	}
	hs.end("push")
	hs.retried("push", time.Millisecond)  // after its end: nothing to move
	hs.retried("other", time.Millisecond) // another replica's push
	hd.close()                            // closing twice is harmless
}

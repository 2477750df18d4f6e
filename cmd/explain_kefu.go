package cmd

import (
	"fmt"
	"io"
	"time"

	"github.com/wxbot/wxbot/engine"
)

// limitWords says what a rule's limit allows, as explain shows it.
func limitWords(l *engine.Limit) string {
	if l == nil {
		return "limit"
	}
	who := "per user"
	if l.All {
		who = "for all users"
	}
	return fmt.Sprintf("limit of %d per %s %s", l.Count, l.Per, who)
}

// delayer is a kefu action that says its delay (actions/kefu.go).
type delayer interface{ Delay() time.Duration }

// printKefuWindow shows the kefu window the event opens and, for each kefu
// action that ran, whether it fits: WeChat refuses a send past the
// window's quota (45047) or after its time (45015), and a rule that only
// works inside a window is easy to write for an event that opens none.
// explain reads no live state, so earlier openings and sends of the
// user's are not counted: WeChat decides in the end (see README, Kefu).
func printKefuWindow(w io.Writer, ev *engine.Event, res *engine.Result, now time.Time) {
	quota, validity := engine.KefuWindowFor(ev)
	until, opens := engine.KefuWindowUntil(ev, now)
	if opens {
		fmt.Fprintf(w, "kefu window: opens %d sends within %s, until %s\n", quota, validity, until.Format("2006-01-02 15:04:05 MST"))
	} else {
		fmt.Fprintf(w, "kefu window: none (a %s event opens none: kefu sends need a window an earlier message opened)\n", ev.Type)
	}
	n := 0
	for _, st := range res.Steps {
		step := res.Rules[st.Rule].Steps[st.Step]
		if step.Name != "kefu" {
			continue
		}
		n++
		var delay time.Duration
		if d, ok := step.Action.(delayer); ok {
			delay = d.Delay()
		}
		fmt.Fprintf(w, "  kefu send %d (%s/kefu, %s:%d): %s\n", n, res.Rules[st.Rule].Name, step.Pos.File, step.Pos.Line,
			kefuFit(n, delay, quota, validity, opens))
	}
}

// kefuFit says whether the n-th kefu send of a push, delay after it, fits
// the window the push opens.
func kefuFit(n int, delay time.Duration, quota int, validity time.Duration, opens bool) string {
	switch {
	case !opens:
		return "does not fit: no window of this event (it may fit one an earlier message opened)"
	case n > quota:
		return fmt.Sprintf("does not fit: send %d of a window of %d (WeChat answers 45047)", n, quota)
	case delay >= validity:
		return fmt.Sprintf("does not fit: its delay %s outlasts the window's %s (WeChat answers 45015)", delay, validity)
	case delay > 0:
		return fmt.Sprintf("fits: send %d of %d, %s after the push, within the window's %s", n, quota, delay, validity)
	}
	return fmt.Sprintf("fits: send %d of %d", n, quota)
}

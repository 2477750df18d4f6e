package console

import (
	"context"
	"time"
)

// maxHandoffRows bounds the handoffs the Activity page lists: a spike of
// users waiting for agents must not make a page of thousands of rows.
const maxHandoffRows = 200

// handoffsView is the Activity page's open handoffs (客服): the engine's,
// the same that wxbot_handoff_sessions counts.
type handoffsView struct {
	Rows          []handoffRow
	Held, Waiting int
	More          int // beyond maxHandoffRows
	Err           string
}

type handoffRow struct {
	User    string // the OpenID shortened: enough to tell users apart
	Agent   string // empty while the user waits
	Waiting bool
	Since   time.Time
}

// handoffs reads the account's open handoffs, oldest first.
func (s *scope) handoffs(ctx context.Context) handoffsView {
	var v handoffsView
	if s.a.Engine == nil {
		return v
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	hs, err := s.a.Engine.Handoffs(ctx)
	if err != nil {
		v.Err = err.Error()
		return v
	}
	for i, h := range hs {
		if h.Waiting {
			v.Waiting++
		} else {
			v.Held++
		}
		if i >= maxHandoffRows {
			v.More++
			continue
		}
		v.Rows = append(v.Rows, handoffRow{User: shortOpenID(h.OpenID), Agent: h.Account, Waiting: h.Waiting, Since: h.Since})
	}
	return v
}

// shortOpenID keeps an OpenID's first and last characters: a marketer
// tells two users apart, and the page does not hand out whole OpenIDs,
// which the send API would take.
func shortOpenID(id string) string {
	r := []rune(id)
	if len(r) <= 10 {
		return id
	}
	return string(r[:5]) + "…" + string(r[len(r)-4:])
}

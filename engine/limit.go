package engine

import (
	"context"
	"time"
)

// GateLimit is a rule's `limit:` refusing: the rule fired count times in
// the current window of per.
const GateLimit Gate = "limit"

// Limit caps how often a rule fires: Count times in each window of Per
// (windows aligned to the Unix epoch, see store.LimitWindow), for each user
// or, with All, for everyone together.
type Limit struct {
	Count int
	Per   time.Duration
	All   bool
}

// limitKey is what the rule's firings are counted under for ev.
func (r *Rule) limitKey(ev *Event) string {
	if r.Limit.All {
		return "limit\x00" + r.Name
	}
	return "limit\x00" + r.Name + "\x00" + ev.From
}

// checkLimit counts a firing of r against its limit; it runs last, after the
// cooldown, so that a push stopped by an earlier gate uses none of it.
func (r *Rule) checkLimit(ctx context.Context, ev *Event, cooldowns Cooldowns) (Gate, error) {
	ok, err := cooldowns.TakeLimit(ctx, r.limitKey(ev), r.Limit.Count, r.Limit.Per)
	if err != nil || !ok {
		return GateLimit, err
	}
	return "", nil
}

package engine

import "time"

// Observer hears what the engine and the handler do, for metrics. Calls
// come from many goroutines; implementations must be safe for that and
// cheap. Labels they get are bounded: event types, rule and action names,
// outcomes, never OpenIDs.
type Observer interface {
	// Push is one push answered: its event type, how (replied, success,
	// deadline, retry; pending and held for an account without the kefu
	// API, see callback.Config.HoldLate) and how long it took.
	Push(eventType, outcome string, took time.Duration)
	// Refused is a push refused before any rule ran (bad_signature,
	// stale_timestamp, bad_body, too_large, plaintext_refused, decrypt).
	Refused(reason string)
	// RuleMatched and RuleError count per rule.
	RuleMatched(rule string)
	RuleError(rule string)
	// ActionDone is one action run, failed when err is not nil.
	ActionDone(action string, took time.Duration, err error)
	// DeadlinePassed is a push answered "success" because its reply was
	// not ready by the deadline.
	DeadlinePassed()
}

// NopObserver observes nothing.
type NopObserver struct{}

func (NopObserver) Push(string, string, time.Duration)      {}
func (NopObserver) Refused(string)                          {}
func (NopObserver) RuleMatched(string)                      {}
func (NopObserver) RuleError(string)                        {}
func (NopObserver) ActionDone(string, time.Duration, error) {}
func (NopObserver) DeadlinePassed()                         {}

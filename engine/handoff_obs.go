package engine

// Handoff results, for HandoffObserver.
const (
	// HandoffTransferred is a transfer reply given: the user waits for an
	// agent.
	HandoffTransferred = "transferred"
	// HandoffOffline is a transfer that found no agent online and ran its
	// if_offline actions instead.
	HandoffOffline = "offline"
	// HandoffAI is the ai action handing the user to a person (its
	// handoff keywords or marker).
	HandoffAI = "ai"
)

// HandoffObserver is an Observer that also counts handoffs by result
// (wxbot_handoffs_total).
type HandoffObserver interface {
	Handoff(result string)
}

// Handoff counts a handoff of the push by result (HandoffTransferred,
// HandoffOffline, HandoffAI) when the engine's observer keeps the count.
// A dry run (the console's Try it, tests, explain) counts nothing: no user
// was handed to anyone.
func (c *Call) Handoff(result string) {
	if c.progress == nil || c.progress.dryRun || c.progress.e == nil {
		return
	}
	if t := c.progress.e.tally; t != nil {
		t.count(c.progress.e.now(), TallyHandoff, result, 1)
	}
	if o, ok := c.progress.e.obs.(HandoffObserver); ok {
		o.Handoff(result)
	}
}

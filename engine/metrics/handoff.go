package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// buildHandoffs makes wxbot_handoffs_total, every result's series from the
// start (a rate over a series that appears with its first count misses
// that count).
func (m *Metrics) buildHandoffs(b builder) {
	m.handoffs = b.counterVec(prometheus.CounterOpts{Name: "wxbot_handoffs_total",
		Help: "Users handed to a person (客服), by result: transferred (a transfer reply), offline (no agent online: the transfer's if_offline actions ran instead), ai (the ai action's handoff)."},
		[]string{"result"})
	for _, r := range []string{"transferred", "offline", "ai"} {
		m.handoffs.WithLabelValues(r)
	}
}

// Handoff implements engine.HandoffObserver.
func (m *Metrics) Handoff(result string) { m.handoffs.WithLabelValues(result).Inc() }

// CountHandoffSessions registers wxbot_handoff_sessions, read from count
// at each scrape (-1 when the store does not answer).
func (m *Metrics) CountHandoffSessions(count func(context.Context) (int, error)) {
	m.reg.MustRegister(countGauge("wxbot_handoff_sessions",
		"Users an agent (客服) holds now, from the store's index of open handoffs: the same for every replica on one store.", count))
}

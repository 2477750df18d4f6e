package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// aiMetrics are the ai action's: answers by outcome, their latency, and
// the tokens they cost.
type aiMetrics struct {
	answers *prometheus.CounterVec
	latency *prometheus.HistogramVec
	tokens  *prometheus.CounterVec
}

func (m *Metrics) buildAI(b builder) {
	m.ai.answers = b.counterVec(prometheus.CounterOpts{Name: "wxbot_ai_answers_total",
		Help: "Questions the ai action handled, by outcome: passive (the reply), kefu (late, by kefu), pending (late, held for the user's next push), error (an apology), over_limit, handoff (transferred to a person instead of answered)."},
		[]string{"outcome"})
	m.ai.latency = b.histogramVec(prometheus.HistogramOpts{Name: "wxbot_ai_answer_duration_seconds",
		Help:    "Time from a question to its answer (or apology), waiting for a free slot included, by outcome.",
		Buckets: []float64{.25, .5, 1, 2, 3, 4, 5, 8, 12, 15, 20, 30, 60, 120}}, []string{"outcome"})
	m.ai.tokens = b.counterVec(prometheus.CounterOpts{Name: "wxbot_ai_tokens_total",
		Help: "Tokens the model counted (usage), by direction: in (prompt) and out (completion)."}, []string{"direction"})
	for _, o := range []string{"passive", "kefu", "pending", "error", "over_limit", "handoff"} { // every series from the start
		m.ai.answers.WithLabelValues(o)
	}
}

// AIAnswer implements actions.AIObserver.
func (m *Metrics) AIAnswer(outcome string, took time.Duration) {
	m.ai.answers.WithLabelValues(outcome).Inc()
	m.ai.latency.WithLabelValues(outcome).Observe(took.Seconds())
}

// AITokens implements actions.AIObserver.
func (m *Metrics) AITokens(in, out int) {
	m.ai.tokens.WithLabelValues("in").Add(float64(max(in, 0)))
	m.ai.tokens.WithLabelValues("out").Add(float64(max(out, 0)))
}

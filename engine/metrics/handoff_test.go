package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/metrics"
)

var _ engine.HandoffObserver = (*metrics.Metrics)(nil)

// TestHandoffMetrics: under --accounts the handoffs' series carry the
// account label like the others, every result from the start; the gauge
// is read from the account's count at each scrape, -1 when it fails.
func TestHandoffMetrics(t *testing.T) {
	f := metrics.NewFleet("v1")
	shop := f.Account("shop", nil, nil)
	news := f.Account("news", nil, nil)
	shop.CountHandoffSessions(func(context.Context) (int, error) { return 2, nil })
	news.CountHandoffSessions(func(context.Context) (int, error) { return 0, errors.New("down") })
	shop.Publish()
	news.Publish()
	shop.Handoff(engine.HandoffTransferred)
	shop.Handoff(engine.HandoffTransferred)
	news.Handoff(engine.HandoffOffline)
	out := gatherFleet(t, f)
	for _, want := range []string{
		`wxbot_handoffs_total{account="shop",result="transferred"} 2`,
		`wxbot_handoffs_total{account="shop",result="offline"} 0`,
		`wxbot_handoffs_total{account="shop",result="ai"} 0`,
		`wxbot_handoffs_total{account="news",result="offline"} 1`,
		`wxbot_handoff_sessions{account="shop"} 2`,
		`wxbot_handoff_sessions{account="news"} -1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
}

// TestHandoffMetricsOwn: a bot's own registry has them without a label.
func TestHandoffMetricsOwn(t *testing.T) {
	m := metrics.New("v1", nil, nil)
	m.CountHandoffSessions(func(context.Context) (int, error) { return 1, nil })
	m.Handoff(engine.HandoffAI)
	out := gather(t, m.Registry)
	for _, want := range []string{`wxbot_handoffs_total{result="ai"} 1`, `wxbot_handoff_sessions 1`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
}

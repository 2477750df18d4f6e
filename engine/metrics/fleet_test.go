package metrics_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/metrics"
)

// TestFleet: accounts' series share one registry under an account label;
// an account asked for again (its bot rebuilt) keeps its counts and
// replaces its scrape-time collectors; a removed account's series go.
func TestFleet(t *testing.T) {
	f := metrics.NewFleet("v1")
	status := func() metrics.ReloadStatus { return metrics.ReloadStatus{OK: true, Rules: 3, Hash: "h"} }
	pending := func(context.Context) (int, error) { return 2, nil }
	shop := f.Account("shop", status, pending)
	news := f.Account("news", status, pending)
	shop.Publish()
	news.Publish()
	shop.Push("text", "replied", time.Millisecond)
	shop.Push("text", "replied", time.Millisecond)
	news.Push("text", "replied", time.Millisecond)
	news.DeadlinePassed()
	shop = f.Account("shop", status, pending) // rebuilt: no duplicate registration
	shop.Publish()
	shop.Push("text", "replied", time.Millisecond)
	for _, want := range []string{
		`wxbot_pushes_total{account="shop",outcome="replied",type="text"} 3`,
		`wxbot_pushes_total{account="news",outcome="replied",type="text"} 1`,
		`wxbot_reply_deadline_exceeded_total{account="news"} 1`,
		`wxbot_outbox_depth{account="shop"} 2`,
		`wxbot_rules{account="news"} 3`,
		`wxbot_build_info{`,
		`go_goroutines `,
	} {
		if !strings.Contains(gatherFleet(t, f), want) {
			t.Errorf("no %s in\n%s", want, gatherFleet(t, f))
		}
	}
	f.Remove("news")
	if out := gatherFleet(t, f); strings.Contains(out, `account="news"`) {
		t.Errorf("news's series after its removal:\n%s", out)
	}
	if n := strings.Count(gatherFleet(t, f), "wxbot_build_info{"); n != 1 {
		t.Errorf("wxbot_build_info: %d series, want 1", n)
	}
}

func gatherFleet(t *testing.T, f *metrics.Fleet) string {
	t.Helper()
	mfs, err := f.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			fmt.Fprintf(&b, "%s{%s} %g\n", mf.GetName(), strings.Join(labels, ","), m.GetCounter().GetValue()+m.GetGauge().GetValue())
		}
	}
	return strings.ReplaceAll(b.String(), "{} ", " ")
}

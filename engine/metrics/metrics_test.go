package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/metrics"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/wechat"
)

// The engine and outbox call the metrics through these.
var (
	_ engine.Observer = (*metrics.Metrics)(nil)
	_ outbox.Observer = (*metrics.Metrics)(nil)
)

// Durations whose seconds are exact in binary, so that histogram sums
// compare exactly.
const (
	d1953us = 1953125 * time.Nanosecond // 1/512 s
	d15ms   = 15625 * time.Microsecond  // 1/64 s
	d62ms   = 62500 * time.Microsecond  // 1/16 s
	d250ms  = 250 * time.Millisecond
)

// The OpenIDs of the sends: none may show in a label.
var openIDs = []string{"oKefuUser1", "oKefuUser2", "oTemplateUser", "webhook:push-key"}

// wxbotSeries are the metrics wxbot defines (the Go and process
// collectors' are left out: their values vary).
var wxbotSeries = []string{
	"wxbot_pushes_total", "wxbot_push_duration_seconds", "wxbot_pushes_refused_total",
	"wxbot_reply_deadline_exceeded_total", "wxbot_retries_coalesced_total",
	"wxbot_rule_matches_total", "wxbot_rule_eval_errors_total",
	"wxbot_action_runs_total", "wxbot_action_failures_total", "wxbot_action_duration_seconds",
	"wxbot_outbox_deliveries_total", "wxbot_outbox_failures_total", "wxbot_outbox_dead_letters_total",
	"wxbot_kefu_window_exhausted_total", "wxbot_token_refreshes_total", "wxbot_dedup_fallbacks_total",
	"wxbot_build_info", "wxbot_rules_last_reload_successful", "wxbot_rules_last_reload_success_timestamp_seconds",
	"wxbot_rules", "wxbot_rules_info", "wxbot_rules_reloads_total", "wxbot_outbox_depth",
}

func TestMetricsScrape(t *testing.T) {
	status := metrics.ReloadStatus{OK: true, LastOK: time.Unix(1700000000, 500_000_000), Hash: "abc123",
		Rules: 7, Successes: 3, Failures: 1}
	m := metrics.New("v1.2.3", func() metrics.ReloadStatus { return status },
		func(context.Context) (int, error) { return 5, nil })

	// The engine's observer.
	m.Push("text", "replied", d1953us)
	m.Push("text", "replied", d62ms)
	m.Push("text", "retry", d250ms)
	m.Push("text", "deadline", time.Second)
	m.Push("event", "success", 2*time.Second)
	m.DeadlinePassed()
	m.Refused("bad_signature")
	m.Refused("bad_signature")
	m.Refused("too_large")
	m.RuleMatched("faq")
	m.RuleMatched("faq")
	m.RuleMatched("welcome")
	m.RuleError("faq")
	m.ActionDone("reply", d1953us, nil)
	m.ActionDone("webhook", d15ms, nil)
	m.ActionDone("webhook", d250ms, errors.New("webhook POST https://crm/hook: HTTP 500"))
	m.DedupFallback()
	m.DedupFallback()

	// The outbox's observer and the API client's counters.
	kefu1 := &outbox.Send{ID: "k1", Kind: outbox.KindKefu, OrderKey: "oKefuUser1", Rule: "faq"}
	kefu2 := &outbox.Send{ID: "k2", Kind: outbox.KindKefu, OrderKey: "oKefuUser2", Rule: "faq"}
	tmpl := &outbox.Send{ID: "t1", Kind: "template", OrderKey: "oTemplateUser", Rule: "order"}
	hook := &outbox.Send{ID: "w1", Kind: "webhook", OrderKey: "webhook:push-key", Rule: "crm"}
	m.Delivered(kefu1, time.Second)
	m.Delivered(kefu2, time.Second)
	m.Delivered(tmpl, time.Second)
	m.Failed(kefu1, &wechat.APIError{Code: 45015, Msg: "response out of time limit"}, false)
	m.Failed(kefu2, fmt.Errorf("kefu: %w", &wechat.APIError{Code: -1, Msg: "system busy"}), true)
	m.Failed(tmpl, &wechat.HTTPError{Status: 503}, true)
	m.Failed(hook, fmt.Errorf("webhook: %w", context.DeadlineExceeded), true)
	m.Failed(hook, errors.New("webhook send w1: bad payload"), false)
	m.DeadLettered(kefu1, "gave up after 3 attempts")
	m.WindowClosed(kefu2)
	m.TokenRefreshed(nil)
	m.TokenRefreshed(nil)
	m.TokenRefreshed(errors.New("wechat api /cgi-bin/token: errcode 40013"))

	want := `
# TYPE wxbot_pushes_total counter
wxbot_pushes_total{outcome="replied",type="text"} 2
wxbot_pushes_total{outcome="retry",type="text"} 1
wxbot_pushes_total{outcome="deadline",type="text"} 1
wxbot_pushes_total{outcome="success",type="event"} 1
# TYPE wxbot_push_duration_seconds histogram
wxbot_push_duration_seconds_bucket{type="text",le="0.0005"} 0
wxbot_push_duration_seconds_bucket{type="text",le="0.001"} 0
wxbot_push_duration_seconds_bucket{type="text",le="0.0025"} 1
wxbot_push_duration_seconds_bucket{type="text",le="0.005"} 1
wxbot_push_duration_seconds_bucket{type="text",le="0.01"} 1
wxbot_push_duration_seconds_bucket{type="text",le="0.025"} 1
wxbot_push_duration_seconds_bucket{type="text",le="0.05"} 1
wxbot_push_duration_seconds_bucket{type="text",le="0.1"} 2
wxbot_push_duration_seconds_bucket{type="text",le="0.25"} 3
wxbot_push_duration_seconds_bucket{type="text",le="0.5"} 3
wxbot_push_duration_seconds_bucket{type="text",le="1"} 4
wxbot_push_duration_seconds_bucket{type="text",le="2"} 4
wxbot_push_duration_seconds_bucket{type="text",le="4"} 4
wxbot_push_duration_seconds_bucket{type="text",le="5"} 4
wxbot_push_duration_seconds_bucket{type="text",le="+Inf"} 4
wxbot_push_duration_seconds_sum{type="text"} 1.314453125
wxbot_push_duration_seconds_count{type="text"} 4
wxbot_push_duration_seconds_bucket{type="event",le="0.0005"} 0
wxbot_push_duration_seconds_bucket{type="event",le="0.001"} 0
wxbot_push_duration_seconds_bucket{type="event",le="0.0025"} 0
wxbot_push_duration_seconds_bucket{type="event",le="0.005"} 0
wxbot_push_duration_seconds_bucket{type="event",le="0.01"} 0
wxbot_push_duration_seconds_bucket{type="event",le="0.025"} 0
wxbot_push_duration_seconds_bucket{type="event",le="0.05"} 0
wxbot_push_duration_seconds_bucket{type="event",le="0.1"} 0
wxbot_push_duration_seconds_bucket{type="event",le="0.25"} 0
wxbot_push_duration_seconds_bucket{type="event",le="0.5"} 0
wxbot_push_duration_seconds_bucket{type="event",le="1"} 0
wxbot_push_duration_seconds_bucket{type="event",le="2"} 1
wxbot_push_duration_seconds_bucket{type="event",le="4"} 1
wxbot_push_duration_seconds_bucket{type="event",le="5"} 1
wxbot_push_duration_seconds_bucket{type="event",le="+Inf"} 1
wxbot_push_duration_seconds_sum{type="event"} 2
wxbot_push_duration_seconds_count{type="event"} 1
# TYPE wxbot_pushes_refused_total counter
wxbot_pushes_refused_total{reason="bad_signature"} 2
wxbot_pushes_refused_total{reason="too_large"} 1
# TYPE wxbot_reply_deadline_exceeded_total counter
wxbot_reply_deadline_exceeded_total 1
# TYPE wxbot_retries_coalesced_total counter
wxbot_retries_coalesced_total 1
# TYPE wxbot_rule_matches_total counter
wxbot_rule_matches_total{rule="faq"} 2
wxbot_rule_matches_total{rule="welcome"} 1
# TYPE wxbot_rule_eval_errors_total counter
wxbot_rule_eval_errors_total{rule="faq"} 1
# TYPE wxbot_action_runs_total counter
wxbot_action_runs_total{action="reply"} 1
wxbot_action_runs_total{action="webhook"} 2
# TYPE wxbot_action_failures_total counter
wxbot_action_failures_total{action="webhook"} 1
# TYPE wxbot_action_duration_seconds histogram
wxbot_action_duration_seconds_bucket{action="reply",le="0.0001"} 0
wxbot_action_duration_seconds_bucket{action="reply",le="0.0004"} 0
wxbot_action_duration_seconds_bucket{action="reply",le="0.0016"} 0
wxbot_action_duration_seconds_bucket{action="reply",le="0.0064"} 1
wxbot_action_duration_seconds_bucket{action="reply",le="0.0256"} 1
wxbot_action_duration_seconds_bucket{action="reply",le="0.1024"} 1
wxbot_action_duration_seconds_bucket{action="reply",le="0.4096"} 1
wxbot_action_duration_seconds_bucket{action="reply",le="1.6384"} 1
wxbot_action_duration_seconds_bucket{action="reply",le="6.5536"} 1
wxbot_action_duration_seconds_bucket{action="reply",le="+Inf"} 1
wxbot_action_duration_seconds_sum{action="reply"} 0.001953125
wxbot_action_duration_seconds_count{action="reply"} 1
wxbot_action_duration_seconds_bucket{action="webhook",le="0.0001"} 0
wxbot_action_duration_seconds_bucket{action="webhook",le="0.0004"} 0
wxbot_action_duration_seconds_bucket{action="webhook",le="0.0016"} 0
wxbot_action_duration_seconds_bucket{action="webhook",le="0.0064"} 0
wxbot_action_duration_seconds_bucket{action="webhook",le="0.0256"} 1
wxbot_action_duration_seconds_bucket{action="webhook",le="0.1024"} 1
wxbot_action_duration_seconds_bucket{action="webhook",le="0.4096"} 2
wxbot_action_duration_seconds_bucket{action="webhook",le="1.6384"} 2
wxbot_action_duration_seconds_bucket{action="webhook",le="6.5536"} 2
wxbot_action_duration_seconds_bucket{action="webhook",le="+Inf"} 2
wxbot_action_duration_seconds_sum{action="webhook"} 0.265625
wxbot_action_duration_seconds_count{action="webhook"} 2
# TYPE wxbot_outbox_deliveries_total counter
wxbot_outbox_deliveries_total{kind="kefu"} 2
wxbot_outbox_deliveries_total{kind="template"} 1
# TYPE wxbot_outbox_failures_total counter
wxbot_outbox_failures_total{errcode="45015",kind="kefu"} 1
wxbot_outbox_failures_total{errcode="-1",kind="kefu"} 1
wxbot_outbox_failures_total{errcode="network",kind="template"} 1
wxbot_outbox_failures_total{errcode="network",kind="webhook"} 1
wxbot_outbox_failures_total{errcode="other",kind="webhook"} 1
# TYPE wxbot_outbox_dead_letters_total counter
wxbot_outbox_dead_letters_total{kind="kefu"} 1
# TYPE wxbot_kefu_window_exhausted_total counter
wxbot_kefu_window_exhausted_total 1
# TYPE wxbot_token_refreshes_total counter
wxbot_token_refreshes_total{result="success"} 2
wxbot_token_refreshes_total{result="failure"} 1
# TYPE wxbot_dedup_fallbacks_total counter
wxbot_dedup_fallbacks_total 2
# TYPE wxbot_build_info gauge
wxbot_build_info{goversion="` + runtime.Version() + `",version="v1.2.3"} 1
# TYPE wxbot_rules_last_reload_successful gauge
wxbot_rules_last_reload_successful 1
# TYPE wxbot_rules_last_reload_success_timestamp_seconds gauge
wxbot_rules_last_reload_success_timestamp_seconds 1700000000.5
# TYPE wxbot_rules gauge
wxbot_rules 7
# TYPE wxbot_rules_info gauge
wxbot_rules_info{hash="abc123"} 1
# TYPE wxbot_rules_reloads_total counter
wxbot_rules_reloads_total{result="success"} 3
wxbot_rules_reloads_total{result="failure"} 1
# TYPE wxbot_outbox_depth gauge
wxbot_outbox_depth 5
`
	// Scraped as Prometheus does, through the handler wxbot serves.
	srv := httptest.NewServer(promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	defer srv.Close()
	scraped := scrape(t, srv.URL)
	compare(t, scraped, want, wxbotSeries...)

	// Every wxbot family is there, and every label value is one the test
	// passed as an event type, outcome, reason, rule, action, kind,
	// errcode or result: never an OpenID, a send's rule or an error text.
	fams := parse(t, strings.NewReader(scraped))
	bounded := strings.Fields("text event replied retry deadline success bad_signature too_large faq welcome " +
		"reply webhook kefu template 45015 -1 network other failure v1.2.3 abc123 " + runtime.Version())
	for _, name := range wxbotSeries {
		mf, ok := fams[name]
		if !ok {
			t.Errorf("%s is not scraped", name)
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if v := lp.GetValue(); lp.GetName() != "le" && !slices.Contains(bounded, v) {
					t.Errorf("%s: label %s=%q is none of the values the test passed", name, lp.GetName(), v)
				}
				for _, id := range openIDs {
					if strings.Contains(lp.GetValue(), id) {
						t.Errorf("%s: label %s=%q holds the OpenID %s", name, lp.GetName(), lp.GetValue(), id)
					}
				}
			}
		}
	}
	// Series are resolved once per label set: counting them shows repeated
	// observations reuse them.
	if n := count(t, m.Registry, "wxbot_pushes_total"); n != 4 {
		t.Errorf("%d wxbot_pushes_total series, want 4", n)
	}
	if n := count(t, m.Registry, "wxbot_rule_matches_total"); n != 2 {
		t.Errorf("%d wxbot_rule_matches_total series, want 2", n)
	}
	// The Go and process collectors are registered too.
	names := []string{"go_goroutines"}
	if runtime.GOOS == "linux" {
		names = append(names, "process_start_time_seconds")
	}
	for _, name := range names {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s is not scraped", name)
		}
	}
}

func TestMetricsReadAtScrape(t *testing.T) {
	var mu sync.Mutex
	status := metrics.ReloadStatus{OK: true, Hash: "h1", Rules: 1, Successes: 1}
	depth, depthErr := 0, error(nil)
	m := metrics.New("dev", func() metrics.ReloadStatus { mu.Lock(); defer mu.Unlock(); return status },
		func(context.Context) (int, error) { mu.Lock(); defer mu.Unlock(); return depth, depthErr })
	want := func(s string) {
		t.Helper()
		compare(t, gather(t, m.Registry), s, "wxbot_rules_last_reload_successful", "wxbot_rules_info",
			"wxbot_rules_reloads_total", "wxbot_outbox_depth")
	}
	want(`
# TYPE wxbot_rules_last_reload_successful gauge
wxbot_rules_last_reload_successful 1
# TYPE wxbot_rules_info gauge
wxbot_rules_info{hash="h1"} 1
# TYPE wxbot_rules_reloads_total counter
wxbot_rules_reloads_total{result="success"} 1
wxbot_rules_reloads_total{result="failure"} 0
# TYPE wxbot_outbox_depth gauge
wxbot_outbox_depth 0
`)
	// A refused reload and a store that cannot count show at the next scrape.
	mu.Lock()
	status.OK, status.Failures = false, 1
	depth, depthErr = 3, errors.New("redis: connection refused")
	mu.Unlock()
	want(`
# TYPE wxbot_rules_last_reload_successful gauge
wxbot_rules_last_reload_successful 0
# TYPE wxbot_rules_info gauge
wxbot_rules_info{hash="h1"} 1
# TYPE wxbot_rules_reloads_total counter
wxbot_rules_reloads_total{result="success"} 1
wxbot_rules_reloads_total{result="failure"} 1
# TYPE wxbot_outbox_depth gauge
wxbot_outbox_depth -1
`)
}

func TestMetricsWithoutStatusOrOutbox(t *testing.T) {
	m := metrics.New("dev", nil, nil)
	for _, name := range []string{"wxbot_rules", "wxbot_rules_reloads_total", "wxbot_outbox_depth"} {
		if n := count(t, m.Registry, name); n != 0 {
			t.Errorf("%s has %d series without its source, want none", name, n)
		}
	}
	if n := count(t, m.Registry, "wxbot_build_info"); n != 1 {
		t.Errorf("wxbot_build_info has %d series", n)
	}
}

// TestMetricsConcurrent observes from many goroutines at once, as pushes
// do: the cached series must neither race nor lose counts.
func TestMetricsConcurrent(t *testing.T) {
	m := metrics.New("dev", nil, nil)
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m.Push("text", []string{"replied", "retry"}[i%2], time.Millisecond)
				m.RuleMatched(fmt.Sprintf("rule%d", w%2))
				m.ActionDone("reply", time.Millisecond, nil)
			}
		})
	}
	wg.Wait()
	compare(t, gather(t, m.Registry), fmt.Sprintf(`
# TYPE wxbot_pushes_total counter
wxbot_pushes_total{outcome="replied",type="text"} %[1]d
wxbot_pushes_total{outcome="retry",type="text"} %[1]d
# TYPE wxbot_retries_coalesced_total counter
wxbot_retries_coalesced_total %[1]d
# TYPE wxbot_rule_matches_total counter
wxbot_rule_matches_total{rule="rule0"} %[1]d
wxbot_rule_matches_total{rule="rule1"} %[1]d
# TYPE wxbot_action_runs_total counter
wxbot_action_runs_total{action="reply"} %[2]d
`, workers*each/2, workers*each), "wxbot_pushes_total", "wxbot_retries_coalesced_total",
		"wxbot_rule_matches_total", "wxbot_action_runs_total")
}

// What follows does what prometheus/testutil's ScrapeAndCompare,
// GatherAndCompare and GatherAndCount do: testutil imports
// github.com/kylelemons/godebug, which is not in go.mod.

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: HTTP %d, %v", resp.StatusCode, err)
	}
	return string(body)
}

// gather is the registry's metrics in the text format.
func gather(t *testing.T, g prometheus.Gatherer) string {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range fams {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func count(t *testing.T, g prometheus.Gatherer, name string) int {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range fams {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

func parse(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// compare checks that the families named hold exactly the samples (and
// types) of want, in any order.
func compare(t *testing.T, got, want string, names ...string) {
	t.Helper()
	g, w := samples(t, got, names), samples(t, want, names)
	var missing, extra []string
	for _, l := range w {
		if !slices.Contains(g, l) {
			missing = append(missing, l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			extra = append(extra, l)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("metrics differ\nmissing:\n  %s\nunexpected:\n  %s", strings.Join(missing, "\n  "), strings.Join(extra, "\n  "))
	}
}

// samples are the TYPE and sample lines of the families named, in the
// text format's canonical form (labels in name order, shortest floats).
func samples(t *testing.T, text string, names []string) []string {
	t.Helper()
	fams := parse(t, strings.NewReader(text))
	var b bytes.Buffer
	for _, name := range names {
		mf, ok := fams[name]
		if !ok {
			continue
		}
		mf.Help = nil
		for _, mt := range mf.GetMetric() {
			slices.SortFunc(mt.Label, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
		}
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	var out []string
	for l := range strings.Lines(b.String()) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "# HELP") {
			out = append(out, l)
		}
	}
	return out
}

// TestPushAllocs: counting a push, a rule's hit and an action's run
// allocates nothing once their series are resolved (they run for every
// push).
func TestPushAllocs(t *testing.T) {
	m := metrics.New("test", nil, nil)
	count := func() {
		m.Push("text", "reply", time.Millisecond)
		m.RuleMatched("price")
		m.ActionDone("reply", time.Microsecond, nil)
	}
	count()
	if n := testing.AllocsPerRun(100, count); n != 0 {
		t.Errorf("%v allocations per push", n)
	}
}

// Package metrics exports wxbot's Prometheus metrics: it implements
// engine.Observer and outbox.Observer and reads the store and the rules'
// reload status at scrape time. Every label is bounded (event types, rule
// and action names, outcomes, error codes), never an OpenID.
package metrics

import (
	"context"
	"maps"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/wechat"
)

// Metrics holds the collectors; create it with New.
type Metrics struct {
	// Registry gathers the bot's series; in a Fleet it is the fleet's,
	// shared by every account.
	Registry *prometheus.Registry
	reg      prometheus.Registerer // where the bot's own collectors go
	publish  func()                // a Fleet account's: see Publish

	pushes         *prometheus.CounterVec
	pushLatency    *prometheus.HistogramVec
	refused        *prometheus.CounterVec
	deadlines      prometheus.Counter
	retries        prometheus.Counter
	ruleMatches    *prometheus.CounterVec
	ruleErrors     *prometheus.CounterVec
	actionRuns     *prometheus.CounterVec
	actionFailures *prometheus.CounterVec
	actionLatency  *prometheus.HistogramVec
	deliveries     *prometheus.CounterVec
	deliveryFails  *prometheus.CounterVec
	deadLetters    *prometheus.CounterVec
	windowClosed   prometheus.Counter
	tokenRefreshes *prometheus.CounterVec
	dedupFallbacks prometheus.Counter
	storeDegraded  prometheus.Gauge
	stateWrites    *prometheus.CounterVec
	ai             aiMetrics
	handoffs       *prometheus.CounterVec

	series  resolved[seriesKey, *pushSeries] // see pushSeries
	actions resolved[string, *pushSeries]
	rules   sync.Map // rule name → its counter (thousands: not copied on write)
}

type seriesKey struct{ eventType, outcome string }

// resolved caches label lookups in a map copied on write: read without a
// lock or an allocation, for label sets that are few and settle after the
// first pushes.
type resolved[K comparable, V any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[K]V]
}

func (r *resolved[K, V]) get(k K, resolve func() V) V {
	if m := r.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	next := make(map[K]V)
	if old != nil {
		maps.Copy(next, *old)
	}
	v := resolve()
	next[k] = v
	r.m.Store(&next)
	return v
}

// RegisterProcess registers the Go runtime's and the process's collectors.
func RegisterProcess(r prometheus.Registerer) {
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// ReloadStatus is what the metrics read of the rules at scrape time.
type ReloadStatus struct {
	OK        bool
	LastOK    time.Time
	Hash      string
	Rules     int
	Successes uint64
	Failures  uint64
}

// New registers every collector. version is the build's version; status
// and pending are read at each scrape (nil skips them).
func New(version string, status func() ReloadStatus, pending func(context.Context) (int, error)) *Metrics {
	r := prometheus.NewRegistry()
	m := build(own{r}, status, pending)
	m.Registry = r
	RegisterProcess(r)
	r.MustRegister(buildInfo(version))
	return m
}

// builder makes the collectors of one bot: in a registry of its own
// (own), or as one account's series of a Fleet's shared ones.
type builder interface {
	counterVec(opts prometheus.CounterOpts, labels []string) *prometheus.CounterVec
	histogramVec(opts prometheus.HistogramOpts, labels []string) *prometheus.HistogramVec
	counter(opts prometheus.CounterOpts) prometheus.Counter
	gauge(opts prometheus.GaugeOpts) prometheus.Gauge
	registerer() prometheus.Registerer
}

// build makes a bot's collectors with b.
func build(b builder, status func() ReloadStatus, pending func(context.Context) (int, error)) *Metrics {
	m := &Metrics{reg: b.registerer()}
	m.pushes = b.counterVec(prometheus.CounterOpts{Name: "wxbot_pushes_total",
		Help: "Pushes answered, by event type and outcome (replied, success, deadline, retry; with --kefu=false also pending: the pending text, and held: a reply kept for the user)."}, []string{"type", "outcome"})
	m.pushLatency = b.histogramVec(prometheus.HistogramOpts{Name: "wxbot_push_duration_seconds",
		Help:    "Time from a push's arrival to its answer.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 4, 5}}, []string{"type"})
	m.refused = b.counterVec(prometheus.CounterOpts{Name: "wxbot_pushes_refused_total",
		Help: "Pushes refused before any rule ran, by reason."}, []string{"reason"})
	m.deadlines = b.counter(prometheus.CounterOpts{Name: "wxbot_reply_deadline_exceeded_total",
		Help: "Pushes answered \"success\" because the reply was not ready by --reply-deadline."})
	m.retries = b.counter(prometheus.CounterOpts{Name: "wxbot_retries_coalesced_total",
		Help: "WeChat retries answered with the first copy's reply instead of running the rules."})
	m.ruleMatches = b.counterVec(prometheus.CounterOpts{Name: "wxbot_rule_matches_total",
		Help: "Pushes each rule matched."}, []string{"rule"})
	m.ruleErrors = b.counterVec(prometheus.CounterOpts{Name: "wxbot_rule_eval_errors_total",
		Help: "Rule conditions that failed to evaluate."}, []string{"rule"})
	m.buildActions(b)
	m.buildOutbox(b)
	m.storeDegraded = b.gauge(prometheus.GaugeOpts{Name: "wxbot_store_degraded",
		Help: "1 while the shared store (Redis) fails and is skipped: memory and the local spool stand in."})
	m.stateWrites = b.counterVec(prometheus.CounterOpts{Name: "wxbot_state_writes_total",
		Help: "User state writes, by result: written, refused (over 64 keys or 8 KiB), error (the store failed), deleted (unsubscribed)."},
		[]string{"result"})
	m.buildAI(b)
	m.buildHandoffs(b)
	if status != nil {
		m.reg.MustRegister(&reloadCollector{status: status})
	}
	if pending != nil {
		m.reg.MustRegister(countGauge("wxbot_outbox_depth", "Sends waiting in the outbox.", pending))
	}
	return m
}

// buildActions makes the actions' collectors.
func (m *Metrics) buildActions(b builder) {
	m.actionRuns = b.counterVec(prometheus.CounterOpts{Name: "wxbot_action_runs_total",
		Help: "Actions run, by action."}, []string{"action"})
	m.actionFailures = b.counterVec(prometheus.CounterOpts{Name: "wxbot_action_failures_total",
		Help: "Actions that returned an error, by action."}, []string{"action"})
	m.actionLatency = b.histogramVec(prometheus.HistogramOpts{Name: "wxbot_action_duration_seconds",
		Help: "Time an action ran.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9)}, []string{"action"})
}

// buildOutbox makes the outbox's and the API client's collectors.
func (m *Metrics) buildOutbox(b builder) {
	m.deliveries = b.counterVec(prometheus.CounterOpts{Name: "wxbot_outbox_deliveries_total",
		Help: "Outbox sends delivered, by kind."}, []string{"kind"})
	m.deliveryFails = b.counterVec(prometheus.CounterOpts{Name: "wxbot_outbox_failures_total",
		Help: "Outbox delivery attempts that failed, by kind and WeChat errcode (\"network\" or \"other\" without one)."},
		[]string{"kind", "errcode"})
	m.deadLetters = b.counterVec(prometheus.CounterOpts{Name: "wxbot_outbox_dead_letters_total",
		Help: "Sends given up and kept as dead letters, by kind."}, []string{"kind"})
	m.windowClosed = b.counter(prometheus.CounterOpts{Name: "wxbot_kefu_window_exhausted_total",
		Help: "Kefu sends refused without an API call because the user's window was certainly closed (its time over, or WeChat refused since the last opening)."})
	m.tokenRefreshes = b.counterVec(prometheus.CounterOpts{Name: "wxbot_token_refreshes_total",
		Help: "access_token fetches, by result."}, []string{"result"})
	m.dedupFallbacks = b.counter(prometheus.CounterOpts{Name: "wxbot_dedup_fallbacks_total",
		Help: "Pushes deduplicated in process because the shared store (Redis) was unreachable."})
}

// buildInfo is wxbot_build_info, once a process.
func buildInfo(version string) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wxbot_build_info", Help: "Build information (always 1).",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()}}, func() float64 { return 1 })
}

// own makes a bot's collectors in its own registry.
type own struct{ r *prometheus.Registry }

func (o own) counterVec(opts prometheus.CounterOpts, labels []string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(opts, labels)
	o.r.MustRegister(v)
	return v
}

func (o own) histogramVec(opts prometheus.HistogramOpts, labels []string) *prometheus.HistogramVec {
	v := prometheus.NewHistogramVec(opts, labels)
	o.r.MustRegister(v)
	return v
}

func (o own) counter(opts prometheus.CounterOpts) prometheus.Counter {
	c := prometheus.NewCounter(opts)
	o.r.MustRegister(c)
	return c
}

func (o own) gauge(opts prometheus.GaugeOpts) prometheus.Gauge {
	g := prometheus.NewGauge(opts)
	o.r.MustRegister(g)
	return g
}

func (o own) registerer() prometheus.Registerer { return o.r }

// Publish makes a Fleet account's scrape-time series (the rules' status,
// the outbox's depth, the users) read this bot, in place of the bot it
// succeeds; the bot calls it when it starts. Metrics of their own (New)
// are published from the start.
func (m *Metrics) Publish() {
	if m.publish != nil {
		m.publish()
	}
}

// StateWrite implements engine.StateObserver.
func (m *Metrics) StateWrite(result string) { m.stateWrites.WithLabelValues(result).Inc() }

// CountUsers registers wxbot_state_users, read from count at each scrape
// (-1 when the store does not answer).
func (m *Metrics) CountUsers(count func(context.Context) (int, error)) {
	m.reg.MustRegister(countGauge("wxbot_state_users", "Followers with a state that has not expired (the bot's own states, such as the console's sessions, are not counted).", count))
}

// countGauge is a gauge read from the store at each scrape: -1 when it
// does not answer within 2 s.
func countGauge(name, help string, count func(context.Context) (int, error)) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := count(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
}

// reloadCollector reports the rules' reload state at scrape time.
type reloadCollector struct{ status func() ReloadStatus }

var (
	descOK      = prometheus.NewDesc("wxbot_rules_last_reload_successful", "Whether the last rules (re)load succeeded (1) or was refused (0).", nil, nil)
	descOKTime  = prometheus.NewDesc("wxbot_rules_last_reload_success_timestamp_seconds", "When rules last loaded successfully.", nil, nil)
	descRules   = prometheus.NewDesc("wxbot_rules", "Rules in the running set.", nil, nil)
	descHash    = prometheus.NewDesc("wxbot_rules_info", "The running rules' version hash (always 1).", []string{"hash"}, nil)
	descReloads = prometheus.NewDesc("wxbot_rules_reloads_total", "Rules reloads since the bot started (the start-up load is not one), by result; GET /rules shows the same counts.", []string{"result"}, nil)
)

func (c *reloadCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOK, descOKTime, descRules, descHash, descReloads} {
		ch <- d
	}
}

func (c *reloadCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.status()
	ok := 0.0
	if s.OK {
		ok = 1
	}
	ch <- prometheus.MustNewConstMetric(descOK, prometheus.GaugeValue, ok)
	ch <- prometheus.MustNewConstMetric(descOKTime, prometheus.GaugeValue, float64(s.LastOK.UnixNano())/1e9)
	ch <- prometheus.MustNewConstMetric(descRules, prometheus.GaugeValue, float64(s.Rules))
	ch <- prometheus.MustNewConstMetric(descHash, prometheus.GaugeValue, 1, s.Hash)
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(s.Successes), "success")
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(s.Failures), "failure")
}

// pushSeries are the resolved series of one (type, outcome): looking label
// values up hashes them, which is measurable at tens of thousands of pushes
// a second, and the label sets are few.
type pushSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// Push implements engine.Observer.
func (m *Metrics) Push(eventType, outcome string, took time.Duration) {
	ps := m.series.get(seriesKey{eventType, outcome}, func() *pushSeries {
		return &pushSeries{
			count:   m.pushes.WithLabelValues(eventType, outcome),
			latency: m.pushLatency.WithLabelValues(eventType),
		}
	})
	ps.count.Inc()
	ps.latency.Observe(took.Seconds())
	if outcome == "retry" {
		m.retries.Inc()
	}
}

// Refused implements engine.Observer.
func (m *Metrics) Refused(reason string) { m.refused.WithLabelValues(reason).Inc() }

// RuleMatched implements engine.Observer.
func (m *Metrics) RuleMatched(rule string) {
	v, ok := m.rules.Load(rule)
	if !ok {
		v, _ = m.rules.LoadOrStore(rule, m.ruleMatches.WithLabelValues(rule))
	}
	v.(prometheus.Counter).Inc()
}

// RuleError implements engine.Observer.
func (m *Metrics) RuleError(rule string) { m.ruleErrors.WithLabelValues(rule).Inc() }

// ActionDone implements engine.Observer.
func (m *Metrics) ActionDone(action string, took time.Duration, err error) {
	as := m.actions.get(action, func() *pushSeries {
		return &pushSeries{
			count:   m.actionRuns.WithLabelValues(action),
			latency: m.actionLatency.WithLabelValues(action),
		}
	})
	as.count.Inc()
	as.latency.Observe(took.Seconds())
	if err != nil {
		m.actionFailures.WithLabelValues(action).Inc()
	}
}

// DeadlinePassed implements engine.Observer.
func (m *Metrics) DeadlinePassed() { m.deadlines.Inc() }

// Delivered implements outbox.Observer.
func (m *Metrics) Delivered(s *outbox.Send, _ time.Duration) {
	m.deliveries.WithLabelValues(s.Kind).Inc()
}

// Failed implements outbox.Observer.
func (m *Metrics) Failed(s *outbox.Send, err error, _ bool) {
	code := "other"
	if c, ok := wechat.APICode(err); ok {
		code = strconv.Itoa(c)
	} else if wechat.IsRetryable(err) {
		code = "network"
	}
	m.deliveryFails.WithLabelValues(s.Kind, code).Inc()
}

// DeadLettered implements outbox.Observer.
func (m *Metrics) DeadLettered(s *outbox.Send, _ string) { m.deadLetters.WithLabelValues(s.Kind).Inc() }

// WindowClosed counts a kefu send refused for a closed window.
func (m *Metrics) WindowClosed(*outbox.Send) { m.windowClosed.Inc() }

// TokenRefreshed counts an access_token fetch.
func (m *Metrics) TokenRefreshed(err error) {
	r := "success"
	if err != nil {
		r = "failure"
	}
	m.tokenRefreshes.WithLabelValues(r).Inc()
}

// DedupFallback counts a push deduplicated in process for want of Redis.
func (m *Metrics) DedupFallback() { m.dedupFallbacks.Inc() }

// StoreDegraded sets wxbot_store_degraded.
func (m *Metrics) StoreDegraded(degraded bool) {
	v := 0.0
	if degraded {
		v = 1
	}
	m.storeDegraded.Set(v)
}

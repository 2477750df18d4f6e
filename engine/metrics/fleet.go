package metrics

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Fleet is the metrics of many bots in one process (--accounts): one
// registry whose series carry an account label, each bot's Metrics a view
// of its account's. A registry of collectors per account held a third of
// a thousand accounts' heap, which the collector marks at every cycle.
type Fleet struct {
	Registry *prometheus.Registry

	mu       sync.Mutex
	counters map[string]*prometheus.CounterVec   // by metric name, "account" first
	hists    map[string]*prometheus.HistogramVec // likewise
	gauges   map[string]*prometheus.GaugeVec     // likewise
	own      map[string][]prometheus.Collector   // by account: its scrape-time collectors
}

// NewFleet makes the fleet's registry, with the process's collectors and
// wxbot_build_info once.
func NewFleet(version string) *Fleet {
	r := prometheus.NewRegistry()
	RegisterProcess(r)
	r.MustRegister(buildInfo(version))
	return &Fleet{Registry: r, counters: map[string]*prometheus.CounterVec{},
		hists: map[string]*prometheus.HistogramVec{}, gauges: map[string]*prometheus.GaugeVec{},
		own: map[string][]prometheus.Collector{}}
}

// Account is the metrics of one account; status and pending are read at
// each scrape, once Publish has made them the account's. Asking again for
// an account (its bot rebuilt) keeps its counts; the new view's Publish
// replaces the old one's scrape-time collectors.
func (f *Fleet) Account(name string, status func() ReloadStatus, pending func(ctx context.Context) (int, error)) *Metrics {
	a := &fleetAccount{f: f, name: name}
	m := build(a, status, pending)
	m.Registry, m.publish = f.Registry, a.publish
	return m
}

// Remove drops an account's series (it left the accounts file).
func (f *Fleet) Remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unregister(name)
	match := prometheus.Labels{"account": name}
	for _, v := range f.counters {
		v.DeletePartialMatch(match)
	}
	for _, v := range f.hists {
		v.DeletePartialMatch(match)
	}
	for _, v := range f.gauges {
		v.DeletePartialMatch(match)
	}
}

// unregister drops an account's scrape-time collectors; f.mu is held.
func (f *Fleet) unregister(name string) {
	for _, c := range f.own[name] {
		f.Registry.Unregister(c)
	}
	delete(f.own, name)
}

// fleetAccount builds one account's view: the fleet's vectors curried
// with its name, its scrape-time collectors labelled with it.
type fleetAccount struct {
	f       *Fleet
	name    string
	pending []prometheus.Collector // scrape-time collectors, until publish
}

func (a *fleetAccount) labels() prometheus.Labels { return prometheus.Labels{"account": a.name} }

func (a *fleetAccount) counterVec(opts prometheus.CounterOpts, labels []string) *prometheus.CounterVec {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	v := a.f.counters[opts.Name]
	if v == nil {
		v = prometheus.NewCounterVec(opts, append([]string{"account"}, labels...))
		a.f.Registry.MustRegister(v)
		a.f.counters[opts.Name] = v
	}
	return v.MustCurryWith(a.labels())
}

func (a *fleetAccount) histogramVec(opts prometheus.HistogramOpts, labels []string) *prometheus.HistogramVec {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	v := a.f.hists[opts.Name]
	if v == nil {
		v = prometheus.NewHistogramVec(opts, append([]string{"account"}, labels...))
		a.f.Registry.MustRegister(v)
		a.f.hists[opts.Name] = v
	}
	return v.MustCurryWith(a.labels()).(*prometheus.HistogramVec)
}

func (a *fleetAccount) counter(opts prometheus.CounterOpts) prometheus.Counter {
	return a.counterVec(opts, nil).WithLabelValues()
}

func (a *fleetAccount) gauge(opts prometheus.GaugeOpts) prometheus.Gauge {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	v := a.f.gauges[opts.Name]
	if v == nil {
		v = prometheus.NewGaugeVec(opts, []string{"account"})
		a.f.Registry.MustRegister(v)
		a.f.gauges[opts.Name] = v
	}
	return v.WithLabelValues(a.name)
}

// registerer keeps the account's scrape-time collectors, labelled, for
// Publish: a bot built but never started (a reload that failed midway)
// never takes over its account's series.
func (a *fleetAccount) registerer() prometheus.Registerer { return a }

func (a *fleetAccount) Register(c prometheus.Collector) error {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	a.pending = append(a.pending, prometheus.WrapCollectorWith(a.labels(), c))
	return nil
}

func (a *fleetAccount) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		a.Register(c)
	}
}

func (a *fleetAccount) Unregister(prometheus.Collector) bool { return false }

// publish makes the view's scrape-time collectors the account's, in place
// of those of the bot it succeeds.
func (a *fleetAccount) publish() {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	a.f.unregister(a.name)
	for _, c := range a.pending {
		a.f.Registry.MustRegister(c)
	}
	a.f.own[a.name] = a.pending
}

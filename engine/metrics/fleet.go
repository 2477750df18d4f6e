package metrics

import (
	"context"
	"slices"
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
// each scrape. Asking again for an account (its bot rebuilt) replaces its
// scrape-time collectors and keeps its counts.
func (f *Fleet) Account(name string, status func() ReloadStatus, pending func(ctx context.Context) (int, error)) *Metrics {
	f.mu.Lock()
	f.unregister(name)
	f.mu.Unlock()
	m := build(&fleetAccount{f: f, name: name}, status, pending)
	m.Registry = f.Registry
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
	f    *Fleet
	name string
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

// registerer labels the account's scrape-time collectors and remembers
// them, so that a rebuilt or removed account's go.
func (a *fleetAccount) registerer() prometheus.Registerer { return accountRegisterer{a} }

type accountRegisterer struct{ a *fleetAccount }

func (r accountRegisterer) Register(c prometheus.Collector) error {
	w := prometheus.WrapCollectorWith(r.a.labels(), c)
	if err := r.a.f.Registry.Register(w); err != nil {
		return err
	}
	r.a.f.mu.Lock()
	r.a.f.own[r.a.name] = append(r.a.f.own[r.a.name], w)
	r.a.f.mu.Unlock()
	return nil
}

func (r accountRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r accountRegisterer) Unregister(c prometheus.Collector) bool {
	r.a.f.mu.Lock()
	defer r.a.f.mu.Unlock()
	own := r.a.f.own[r.a.name]
	for i, w := range own {
		if w == c {
			r.a.f.own[r.a.name] = slices.Delete(own, i, i+1)
			return r.a.f.Registry.Unregister(w)
		}
	}
	return false
}

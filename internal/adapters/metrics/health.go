package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"shipmate/internal/runbook"
)

// HealthSources are what the health metrics read at each scrape.
type HealthSources struct {
	// Components checks, by name, whether each part of the bot works
	// (store, slack, discord): nil is up.
	Components func() map[string]error
	// Active reads the unfinished runs.
	Active func(ctx context.Context) ([]*runbook.Run, error)
	Now    func() time.Time
}

// Health is what alerts watch, read when scraped: whether each part of the
// bot works, how long the oldest run in each state has been there, and
// store requests that failed.
type Health struct {
	src         HealthSources
	up          *prometheus.Desc
	age         *prometheus.Desc
	storeErrors *prometheus.CounterVec
}

// healthReadTimeout bounds the store read of a scrape.
const healthReadTimeout = 2 * time.Second

// RegisterHealth registers the health metrics with m's registry.
func (m *Metrics) RegisterHealth(src HealthSources) *Health {
	h := &Health{
		src: src,
		up: prometheus.NewDesc("shipmate_up",
			"1 when a part of the bot works (store: it answers; slack, discord: connected), else 0.",
			[]string{"component"}, nil),
		age: prometheus.NewDesc("shipmate_run_state_age_seconds",
			"How long the oldest unfinished run in each state has been in it, by environment.",
			[]string{"env", "state"}, nil),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shipmate_store_errors_total",
			Help: "Store requests that failed (not those refused by design: stale, locked, not found), by backend and operation.",
		}, []string{"backend", "op"}),
	}
	m.reg.MustRegister(h, h.storeErrors)
	return h
}

// StoreResult counts a store request that failed (fault). Every request
// makes its backend and operation's count exist, at 0 until one fails, so
// that a rate over it has data from the start.
func (h *Health) StoreResult(backend, op string, fault bool) {
	c := h.storeErrors.WithLabelValues(backend, op)
	if fault {
		c.Inc()
	}
}

// Describe implements prometheus.Collector.
func (h *Health) Describe(ch chan<- *prometheus.Desc) {
	ch <- h.up
	ch <- h.age
}

// Collect implements prometheus.Collector.
func (h *Health) Collect(ch chan<- prometheus.Metric) {
	if h.src.Components != nil {
		for name, err := range h.src.Components() {
			v := 1.0
			if err != nil {
				v = 0
			}
			ch <- prometheus.MustNewConstMetric(h.up, prometheus.GaugeValue, v, name)
		}
	}
	if h.src.Active == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), healthReadTimeout)
	defer cancel()
	runs, err := h.src.Active(ctx)
	if err != nil {
		// The store being down shows as shipmate_up{component="store"}
		// and in the store's error count; no ages rather than wrong ones.
		return
	}
	type key struct{ env, state string }
	oldest := map[key]time.Time{}
	for _, r := range runs {
		k := key{r.Env, string(r.State)}
		if t, ok := oldest[k]; !ok || r.InStateSince().Before(t) {
			oldest[k] = r.InStateSince()
		}
	}
	now := h.src.Now()
	for k, since := range oldest {
		ch <- prometheus.MustNewConstMetric(h.age, prometheus.GaugeValue, max(0, now.Sub(since).Seconds()), k.env, k.state)
	}
}

// Package metrics exposes what the runbook engine does as Prometheus
// metrics: runs by app, environment and state, step durations, approval
// waits, command errors, the DORA keys and the build.
package metrics

import (
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"shipmate/internal/runbook"
)

// Metrics implements runbook.Observer on a registry of its own.
type Metrics struct {
	reg         *prometheus.Registry
	transitions *prometheus.CounterVec
	active      *prometheus.GaugeVec
	steps       *prometheus.HistogramVec
	commands    *prometheus.CounterVec
	leader      prometheus.Gauge
	storeOps    *prometheus.HistogramVec
	approvals   *prometheus.HistogramVec
	dora        doraGauges
	// apps are the configured apps: the only values of the app label.
	apps []string
}

// OtherApp is the app label of a run of an app that is not configured (an
// app removed from the configuration, with runs still stored): the label's
// values stay bounded by the configuration.
const OtherApp = "other"

var _ runbook.Observer = (*Metrics)(nil)

// New returns Metrics registered with a fresh registry, which also carries
// the build's information and the Go runtime and process collectors. apps
// are the configured apps.
//
// The Go collector exports, besides its default metrics, the live heap
// (go_gc_heap_live_bytes): the heap the last collection marked as live,
// without the garbage the collector lets the heap grow by before the next.
func New(apps []string) *Metrics {
	m := &Metrics{
		reg:  prometheus.NewRegistry(),
		apps: slices.Clone(apps),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shipmate_run_transitions_total",
			Help: "Runs entering each state, by app and environment.",
		}, []string{"app", "env", "state"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shipmate_runs",
			Help: "Unfinished runs by app, environment and state.",
		}, []string{"app", "env", "state"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shipmate_step_duration_seconds",
			Help:    "Duration of executor steps (deploy, verify, rollback, health, analysis) by app, environment and outcome.",
			Buckets: []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
		}, []string{"app", "env", "step", "result"}),
		approvals: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shipmate_approval_wait_seconds",
			Help:    "How long runs waited from their request (checklist included) until approvals released them, by app and environment.",
			Buckets: []float64{60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800},
		}, []string{"app", "env"}),
		dora: newDORAGauges(),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shipmate_commands_total",
			Help: "Chat commands by kind and result (ok, or the error code).",
		}, []string{"kind", "result"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shipmate_leader",
			Help: "1 while this replica leads (runs steps and timers), else 0; a lone bot on bbolt always leads.",
		}),
		storeOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shipmate_store_request_duration_seconds",
			Help:    "Duration of store requests by backend (bbolt, etcd) and operation.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}, []string{"backend", "op"}),
	}
	m.reg.MustRegister(m.transitions, m.active, m.steps, m.commands, m.leader, m.storeOps, m.approvals,
		newBuildInfo(), newGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.dora.register(m.reg)
	return m
}

// liveHeap is the runtime/metrics name of the heap the last collection
// marked as live.
var liveHeap = regexp.MustCompile(`^/gc/heap/live:bytes$`)

// newGoCollector is the Go collector with its default metrics (the
// memstats ones dashboards read among them) and the live heap.
func newGoCollector() prometheus.Collector {
	return collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.GoRuntimeMetricsRule{Matcher: liveHeap}))
}

// app is the app label of app: itself when configured, else OtherApp.
func (m *Metrics) app(app string) string {
	if slices.Contains(m.apps, app) {
		return app
	}
	return OtherApp
}

// Registry returns the registry, for adapters that add their own metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Transition implements runbook.Observer. A from of "" is a run entering
// the engine (created, or found unfinished at start-up).
func (m *Metrics) Transition(app, env string, from, to runbook.State) {
	if from == to {
		return
	}
	app = m.app(app)
	m.transitions.WithLabelValues(app, env, string(to)).Inc()
	if from != "" && !from.Terminal() {
		m.active.WithLabelValues(app, env, string(from)).Dec()
	}
	if !to.Terminal() {
		m.active.WithLabelValues(app, env, string(to)).Inc()
	}
}

// Step implements runbook.Observer.
func (m *Metrics) Step(app, env, step string, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.steps.WithLabelValues(m.app(app), env, step, result).Observe(d.Seconds())
}

// ApprovalWait implements runbook.Observer.
func (m *Metrics) ApprovalWait(app, env string, d time.Duration) {
	m.approvals.WithLabelValues(m.app(app), env).Observe(d.Seconds())
}

// Command implements runbook.Observer.
func (m *Metrics) Command(kind, code string) {
	if code == "" {
		code = "ok"
	}
	m.commands.WithLabelValues(kind, code).Inc()
}

// SetLeader records whether this replica leads.
func (m *Metrics) SetLeader(leading bool) {
	v := 0.0
	if leading {
		v = 1
	}
	m.leader.Set(v)
}

// StoreRequest records how long one store request took.
func (m *Metrics) StoreRequest(backend, op string, d time.Duration) {
	m.storeOps.WithLabelValues(backend, op).Observe(d.Seconds())
}

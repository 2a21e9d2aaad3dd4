package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"shipmate/internal/runbook"
)

// doraGauges are the DORA keys of each app and environment, as the bot
// last computed them.
type doraGauges struct {
	perDay, leadTime, failureRate, restore *prometheus.GaugeVec
}

func newDORAGauges() doraGauges {
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"app", "env"})
	}
	return doraGauges{
		perDay: gauge("shipmate_dora_deploys_per_day",
			"Deployment frequency: successful deploys per day over the DORA window."),
		leadTime: gauge("shipmate_dora_lead_time_seconds",
			"Lead time: median seconds from a deploy's request to its success over the DORA window (absent without a success)."),
		failureRate: gauge("shipmate_dora_change_failure_rate",
			"Change failure rate: finished deploys that failed or were rolled back, over all finished deploys in the DORA window (absent without any)."),
		restore: gauge("shipmate_dora_time_to_restore_seconds",
			"Time to restore: median seconds from a failed or rolled-back deploy to the next success in the DORA window (absent without a restore)."),
	}
}

func (g doraGauges) register(reg *prometheus.Registry) {
	reg.MustRegister(g.perDay, g.leadTime, g.failureRate, g.restore)
}

// SetDORA publishes the DORA keys of d's app and environment; a key with
// nothing to measure (no success, no finished deploy, no restore) is
// withdrawn rather than shown as 0.
func (m *Metrics) SetDORA(d runbook.DORA) {
	app, g := m.app(d.App), m.dora
	g.perDay.WithLabelValues(app, d.Env).Set(d.PerDay)
	set := func(v *prometheus.GaugeVec, ok bool, x float64) {
		if ok {
			v.WithLabelValues(app, d.Env).Set(x)
		} else {
			v.DeleteLabelValues(app, d.Env)
		}
	}
	set(g.leadTime, d.Deploys > 0, d.LeadTime.Seconds())
	set(g.failureRate, d.Finished > 0, d.FailureRate)
	set(g.restore, d.Restores > 0, d.TimeToRestore.Seconds())
}

// ClearDORA withdraws every DORA key: a replica that does not lead does
// not compute them.
func (m *Metrics) ClearDORA() {
	for _, v := range []*prometheus.GaugeVec{m.dora.perDay, m.dora.leadTime, m.dora.failureRate, m.dora.restore} {
		v.Reset()
	}
}

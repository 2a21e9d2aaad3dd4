package main

import (
	"context"
	"time"

	"shipmate/internal/adaptercfg"
	"shipmate/internal/adapters/prometheus"
	"shipmate/internal/runbook"
)

// analyzer builds the Prometheus client of the post-deployment analysis;
// nil when no prometheus url is set, which leaves the analysis off. A
// client that cannot be built (a TLS file it cannot read) makes every
// measurement inconclusive with the reason, and /readyz says so, rather
// than keeping the other apps and the chats from starting.
func (m *Main) analyzer(s *adaptercfg.Settings) runbook.Analyzer {
	if s.Prometheus == nil {
		if analysisConfigured(&s.Policy) {
			m.log.Warn().Msg("prometheus: url is empty, so the post-deployment analysis is off and its validation items are ticked by hand")
		}
		return nil
	}
	c, err := prometheus.New(*s.Prometheus)
	if err != nil {
		m.log.Error().Err(err).Msg("prometheus: no client")
		m.problems = append(m.problems, "prometheus: "+err.Error())
		return noAnalyzer{err: err}
	}
	return c
}

// analysisConfigured reports whether an environment or an app lists
// analysis checks.
func analysisConfigured(p *runbook.Policy) bool {
	for _, env := range p.Envs {
		if len(env.Analysis.Checks) > 0 {
			return true
		}
	}
	for _, app := range p.Apps {
		if len(app.Analysis) > 0 {
			return true
		}
	}
	return false
}

// noAnalyzer stands in for a Prometheus client that could not be built:
// every query fails with the reason.
type noAnalyzer struct{ err error }

func (n noAnalyzer) Query(context.Context, string, time.Time) (float64, bool, error) {
	return 0, false, n.err
}

package prometheus

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"shipmate/internal/probe"
	"shipmate/internal/runbook"
)

// service names Prometheus in probe results.
const service = "prometheus"

// Probe tries Prometheus for `bot check --online` through the client c
// configures (its login and TLS included): the query vector(1), then
// every analysis query of every environment once, for one app it watches
// there. Only queries Prometheus refuses are reported one by one; no data
// is not a failure.
func Probe(ctx context.Context, c Config, policy *runbook.Policy) []probe.Result {
	client, err := New(c)
	if err != nil {
		return []probe.Result{probe.Fail(service, "client", err)}
	}
	const trivial = "vector(1)"
	v, ok, err := client.Query(ctx, trivial, time.Now())
	switch {
	case err != nil:
		return []probe.Result{probe.Fail(service, "query "+trivial, err)}
	case !ok || v != 1:
		return []probe.Result{probe.Fail(service, "query "+trivial, fmt.Errorf("answered %v, want 1", v))}
	}
	out := []probe.Result{probe.Pass(service, "query "+trivial, "answered by "+client.base)}
	queries := analysisQueries(policy)
	if len(queries) == 0 {
		return out
	}
	failed := make([]error, len(queries))
	var wg sync.WaitGroup
	for i, q := range queries {
		wg.Go(func() {
			expr, err := runbook.ExpandQuery(policy.Analysis[q.check].Query, q.app, q.env, "")
			if err == nil {
				_, _, err = client.Query(ctx, expr, time.Now())
			}
			failed[i] = err
		})
	}
	wg.Wait()
	bad := 0
	for i, q := range queries {
		if failed[i] != nil {
			bad++
			out = append(out, probe.Fail(service, fmt.Sprintf("analysis %s (%s, app %s)", q.check, q.env, q.app), failed[i]))
		}
	}
	if bad == 0 {
		out = append(out, probe.Pass(service, "analysis", fmt.Sprintf("%d queries answered", len(queries))))
	}
	return out
}

// analysisQuery is one analysis check of an environment, for an app it
// watches there.
type analysisQuery struct{ check, env, app string }

// analysisQueries lists each environment's analysis checks once, each for
// the first app (by name) it watches there: an app's own list replaces
// its environments'.
func analysisQueries(p *runbook.Policy) []analysisQuery {
	var out []analysisQuery
	apps := slices.Sorted(maps.Keys(p.Apps))
	for _, env := range p.Envs {
		seen := map[string]bool{}
		for _, app := range apps {
			keys := env.Analysis.Checks
			if a := p.Apps[app]; a.Analysis != nil {
				keys = a.Analysis
			}
			for _, k := range keys {
				if _, defined := p.Analysis[k]; defined && !seen[k] {
					seen[k] = true
					out = append(out, analysisQuery{check: k, env: env.Name, app: app})
				}
			}
		}
	}
	return out
}

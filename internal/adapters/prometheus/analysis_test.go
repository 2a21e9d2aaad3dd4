package prometheus_test

import (
	"strings"
	"testing"
	"time"

	"shipmate/internal/adapters/prometheus/promtest"
	"shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// The engine's post-deployment analysis on a real Prometheus scraping a
// service whose errors and latency the test sets. Staging monitors for 4
// seconds, measuring every second, 2 failures in a row rolling back. The
// engine's clock is set to the real time before each tick, since
// Prometheus answers for the time it is asked about.
func TestAnalysisOnPrometheus(t *testing.T) {
	t.Parallel()
	svc := promtest.NewService(t, "demo", "staging")
	prom := promtest.Start(t, svc)
	c := client(t, prom)

	h := runbooktest.New(t, runbooktest.NewExec(runbooktest.Resolve), func(cfg *runbook.Config) { cfg.Analyzer = c })
	max := 0.05
	h.Policy.Analysis = map[string]runbook.MetricCheck{
		"errors":  {Query: errorsQuery, Max: &max, MaxVsBaseline: 3, Format: runbook.FormatPercent},
		"latency": {Label: "p95", Query: latencyQuery, MaxVsBaseline: 2, Format: runbook.FormatMillis},
	}
	h.Policy.Validation = map[string]string{"errors": "No error spikes in logs", "latency": "Response times normal"}
	staging := &h.Policy.Envs[1]
	staging.Monitor = 4 * time.Second
	staging.Validation = []string{"errors", "latency"}
	staging.Analysis = runbook.AnalysisRule{Checks: []string{"errors", "latency"}, Every: time.Second, FailuresToRollback: 2}
	h.Clock.Set(time.Now())

	// tickUntil runs the engine's timers on the real time until run id
	// satisfies cond.
	tickUntil := func(what string, id uint64, cond func(*runbook.Run) bool) *runbook.Run {
		t.Helper()
		var r *runbook.Run
		prom.Eventually(what, 20*time.Second, func() bool {
			h.Clock.Set(time.Now())
			h.Tick()
			r = h.Run(id)
			return cond(r)
		})
		return r
	}
	deploy := func(v string) uint64 {
		t.Helper()
		h.Clock.Set(time.Now())
		id := h.DeployTo(v, "staging")
		h.Settle()
		h.WantState(id, runbook.StateMonitoring)
		return id
	}

	// A clean deploy: its checks confirm the validation.
	{
		id := deploy("v1")
		r := tickUntil("v1 succeeds", id, func(r *runbook.Run) bool { return r.State.Terminal() })
		if r.State != runbook.StateSucceeded || !strings.Contains(r.Note, "validated by Shipmate") {
			t.Fatalf("run is %s: %s", r.State, r.Note)
		}
		for _, it := range r.Validation {
			if !it.Done || it.By == nil || it.By.String() != "Shipmate" || !strings.HasPrefix(it.Link, prom.URL+"/graph?") {
				t.Errorf("item %s: %+v, want confirmed by Shipmate with a link to the graph", it.Key, it)
			}
		}
		if d := r.Validation[0].Detail; !strings.Contains(d, "errors 1% (baseline 1%); max 5%, at most 3× the baseline; the last 2 conclusive measurements passed") {
			t.Errorf("errors item detail %q", d)
		}
		if d := r.Validation[1].Detail; !strings.Contains(d, "p95 195 ms (baseline 195 ms)") {
			t.Errorf("latency item detail %q", d)
		}
	}

	// An error spike rolls the deployment back.
	{
		id := deploy("v2")
		svc.Set(0.5, 0.15)
		r := tickUntil("v2 is rolled back", id, func(r *runbook.Run) bool { return r.State.Terminal() })
		svc.Set(0.01, 0.15)
		if r.State != runbook.StateRolledBack || h.Exec.Rollbacks() != 1 {
			t.Fatalf("run is %s (%s), %d rollbacks", r.State, r.Note, h.Exec.Rollbacks())
		}
		failed := ""
		for _, ev := range h.Events(id) {
			if ev.To == runbook.StateFailed {
				failed = ev.Detail
			}
		}
		if !strings.Contains(failed, "monitoring failed: analysis: errors") || !strings.Contains(failed, "(baseline 1%), above its max of 5% in 2 conclusive measurements in a row") {
			t.Errorf("failure %q, want the figures", failed)
		}
	}

	// Prometheus gone: inconclusive, the run stays monitored, nothing is
	// confirmed and nothing rolls back.
	{
		id := deploy("v3")
		prom.Kill()
		r := tickUntil("the window ends with v3's analysis inconclusive", id, func(r *runbook.Run) bool {
			return r.AwaitingValidation && r.Analysis.Checks[0].Runs >= 3
		})
		if r.State != runbook.StateMonitoring || h.Exec.Rollbacks() != 1 {
			t.Fatalf("run is %s (%s), %d rollbacks", r.State, r.Note, h.Exec.Rollbacks())
		}
		for i, it := range r.Validation {
			st := r.Analysis.Checks[i]
			if it.Done || st.Verdict != runbook.VerdictInconclusive || st.Failing != 0 || !strings.Contains(it.Detail, "connection refused") {
				t.Errorf("item %s: %+v, check %+v; want open and inconclusive", it.Key, it, st)
			}
		}
		told := h.Chat.Notices()
		if len(told) == 0 || !strings.Contains(told[len(told)-1], "Shipmate's analysis has not confirmed “No error spikes in logs”: errors inconclusive (the query failed)") {
			t.Errorf("notices %q", told)
		}
	}
}

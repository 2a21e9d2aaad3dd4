package metrics_test

import (
	"io"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"shipmate/internal/adapters/metrics"
	"shipmate/internal/runbook"
)

// scrape returns what /metrics serves.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func TestMetricsPeopleCanChart(t *testing.T) {
	m := metrics.New([]string{"demo", "billing"})
	m.Transition("demo", "production", "", runbook.StateRequested)
	m.Transition("demo", "production", runbook.StateRequested, runbook.StateAwaitingApproval)
	m.Transition("removed", "staging", "", runbook.StateRequested) // an app no longer configured
	m.Step("demo", "production", "deploy", 3*time.Second, nil)
	m.ApprovalWait("demo", "production", 20*time.Minute)
	m.SetDORA(runbook.DORA{App: "demo", Env: "production", Deploys: 3, PerDay: 0.1, LeadTime: 90 * time.Minute,
		Finished: 4, Failures: 1, FailureRate: 0.25, Restores: 1, TimeToRestore: 3 * time.Hour})
	m.SetDORA(runbook.DORA{App: "billing", Env: "staging"}) // nothing measured: only the frequency, 0
	out := scrape(t, m)
	for _, want := range []string{
		`shipmate_runs{app="demo",env="production",state="awaiting_approval"} 1`,
		`shipmate_runs{app="demo",env="production",state="requested"} 0`,
		`shipmate_runs{app="other",env="staging",state="requested"} 1`,
		`shipmate_run_transitions_total{app="demo",env="production",state="awaiting_approval"} 1`,
		`shipmate_step_duration_seconds_count{app="demo",env="production",result="ok",step="deploy"} 1`,
		`shipmate_approval_wait_seconds_bucket{app="demo",env="production",le="1800"} 1`,
		`shipmate_approval_wait_seconds_bucket{app="demo",env="production",le="900"} 0`,
		`shipmate_approval_wait_seconds_sum{app="demo",env="production"} 1200`,
		`shipmate_dora_deploys_per_day{app="demo",env="production"} 0.1`,
		`shipmate_dora_lead_time_seconds{app="demo",env="production"} 5400`,
		`shipmate_dora_change_failure_rate{app="demo",env="production"} 0.25`,
		`shipmate_dora_time_to_restore_seconds{app="demo",env="production"} 10800`,
		`shipmate_dora_deploys_per_day{app="billing",env="staging"} 0`,
		`shipmate_build_info{goversion="go`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, unwanted := range []string{`app="removed"`, `shipmate_dora_lead_time_seconds{app="billing"`,
		`shipmate_dora_change_failure_rate{app="billing"`, `shipmate_dora_time_to_restore_seconds{app="billing"`} {
		if strings.Contains(out, unwanted) {
			t.Errorf("/metrics has %s", unwanted)
		}
	}
	m.ClearDORA()
	if out := scrape(t, m); strings.Contains(out, "shipmate_dora_deploys_per_day{") {
		t.Error("DORA keys still published after ClearDORA")
	}
}

// The live heap (runtime/metrics /gc/heap/live:bytes) is exported beside
// the memstats metrics dashboards read.
func TestMetricsLiveHeap(t *testing.T) {
	runtime.GC() // the live heap is what the last collection marked
	fams, err := metrics.New(nil).Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]float64{}
	for _, f := range fams {
		if ms := f.GetMetric(); len(ms) == 1 && ms[0].GetGauge() != nil {
			names[f.GetName()] = ms[0].GetGauge().GetValue()
		} else {
			names[f.GetName()] = -1
		}
	}
	live, ok := names["go_gc_heap_live_bytes"]
	if !ok {
		t.Fatal("no go_gc_heap_live_bytes family")
	}
	if live <= 0 {
		t.Errorf("go_gc_heap_live_bytes = %v, want > 0", live)
	}
	for _, want := range []string{"go_memstats_heap_alloc_bytes", "go_memstats_heap_inuse_bytes", "go_gc_duration_seconds", "go_goroutines"} {
		if _, ok := names[want]; !ok {
			t.Errorf("no %s family", want)
		}
	}
}

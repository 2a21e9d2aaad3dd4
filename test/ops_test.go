package test

import (
	"net/http"
	"strings"
	"testing"
)

// TestHealthReadinessAndMetrics checks what an operator's probes and
// Prometheus see of a bot that has run a deployment.
func TestHealthReadinessAndMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.start()
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body, err := b.get(path); err != nil || code != http.StatusOK {
			t.Fatalf("GET %s = %d %q %v, want 200", path, code, body, err)
		}
	}
	id := b.request("bob", "/deploy demo v1 dev")
	b.waitState(id, "succeeded")
	b.command("bob", "/deploy demo v2 nowhere") // a refused command

	code, body, err := b.get("/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics = %d %v", code, err)
	}
	for _, want := range []string{
		`shipmate_run_transitions_total{env="development",state="succeeded"} 1`,
		`shipmate_run_transitions_total{env="development",state="deploying"} 1`,
		`shipmate_runs{env="development",state="deploying"} 0`,
		`shipmate_commands_total{kind="deploy",result="ok"} 1`,
		`shipmate_commands_total{kind="invalid",result="invalid"} 1`,
		`shipmate_step_duration_seconds_count{env="development",result="ok",step="deploy"} 1`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

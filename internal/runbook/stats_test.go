package runbook_test

import (
	"fmt"
	"testing"
	"time"

	rb "shipmate/internal/runbook"
)

// /deploy stats answers, privately, with the four DORA keys computed from
// the runs the store holds.
func TestStatsCommand(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	h.DeployTo("v1", "staging") // 10:00
	h.DeployTo("v1", "production")
	h.Clock.Add(31 * time.Minute)
	h.Tick() // v1 succeeds in production at 10:31: lead time 31m
	h.DeployTo("v2", "staging")
	fx.Fail("v2")
	h.WantState(h.DeployTo("v2", "production"), rb.StateRolledBack) // fails at 10:31
	h.Clock.Add(time.Hour)
	h.DeployTo("v3", "staging")
	h.DeployTo("v3", "production") // requested 11:31
	h.Clock.Add(31 * time.Minute)
	h.Tick() // succeeds at 12:02: lead 31m, restored 1h31m after v2 failed

	rep, err := h.Do("bob", "/deploy stats demo prod")
	if err != nil {
		t.Fatal(err)
	}
	want := `demo in production, last 30 days:
• deployment frequency: 0.07 a day (2 successful deploys)
• lead time, request to success: median 31m, mean 31m
• change failure rate: 33% (1 of 3 finished deploys failed or was rolled back)
• time to restore: median 1h31m, mean 1h31m (1 restore)`
	if rep.Text != want || !rep.Private {
		t.Fatalf("stats reply (private %v):\n%s\nwant:\n%s", rep.Private, rep.Text, want)
	}
	rep, err = h.Do("rita", "/deploy stats demo --days 7")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, rep.Text, "demo in development, last 7 days:\n• no deploy finished\ndemo in staging, last 7 days:\n• deployment frequency: 0.43 a day (3 successful deploys)")
	contains(t, rep.Text, "demo in production, last 7 days:\n• deployment frequency: 0.29 a day (2 successful deploys)")
	if _, err := h.Do("mallory", "/deploy stats demo"); rb.ErrorCode(err) != rb.EForbidden {
		t.Fatalf("stats for someone without a role: %v", err)
	}
}

// The keys count every run of the window however many pages of history
// that takes, and nothing from before it.
func TestStatsReadTheWholeWindowOnly(t *testing.T) {
	h := newHarness(t, newExec())
	for i := range 40 {
		h.DeployTo(fmt.Sprintf("v0.%d", i), "development")
		h.Clock.Add(time.Minute)
	}
	h.Clock.Add(40 * 24 * time.Hour)
	for i := range 300 {
		h.DeployTo(fmt.Sprintf("v1.%d", i), "development")
		h.Clock.Add(time.Hour)
	}
	rep, err := h.Do("bob", "/deploy stats demo dev")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, rep.Text, "• deployment frequency: 10.00 a day (300 successful deploys)")
}

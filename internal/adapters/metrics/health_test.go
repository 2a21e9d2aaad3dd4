package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"shipmate/internal/adapters/metrics"
	"shipmate/internal/runbook"
)

// The health metrics are read when scraped: the parts that work, and the
// oldest run in each state, by how long it has been there.
func TestHealthReadsTheRunsAndPartsWhenScraped(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	runs := []*runbook.Run{
		{Env: "production", State: runbook.StateAwaitingApproval, StateSince: now.Add(-5 * time.Hour), UpdatedAt: now},
		{Env: "production", State: runbook.StateAwaitingApproval, StateSince: now.Add(-time.Hour), UpdatedAt: now},
		// Stored before runs kept when they entered their state: its last change.
		{Env: "staging", State: runbook.StateDeploying, UpdatedAt: now.Add(-90 * time.Second)},
	}
	var storeErr error
	m := metrics.New([]string{"demo"})
	h := m.RegisterHealth(metrics.HealthSources{
		Components: func() map[string]error {
			return map[string]error{"store": storeErr, "slack": errors.New("slack: not connected")}
		},
		Active: func(context.Context) ([]*runbook.Run, error) {
			if storeErr != nil {
				return nil, storeErr
			}
			return runs, nil
		},
		Now: func() time.Time { return now },
	})
	h.StoreResult("bbolt", "save_run", true)
	h.StoreResult("bbolt", "run", false)

	want := `
# HELP shipmate_run_state_age_seconds How long the oldest unfinished run in each state has been in it, by environment.
# TYPE shipmate_run_state_age_seconds gauge
shipmate_run_state_age_seconds{env="production",state="awaiting_approval"} 18000
shipmate_run_state_age_seconds{env="staging",state="deploying"} 90
# HELP shipmate_up 1 when a part of the bot works (store: it answers; slack, discord: connected), else 0.
# TYPE shipmate_up gauge
shipmate_up{component="slack"} 0
shipmate_up{component="store"} 1
# HELP shipmate_store_errors_total Store requests that failed (not those refused by design: stale, locked, not found), by backend and operation.
# TYPE shipmate_store_errors_total counter
shipmate_store_errors_total{backend="bbolt",op="run"} 0
shipmate_store_errors_total{backend="bbolt",op="save_run"} 1
`
	names := []string{"shipmate_run_state_age_seconds", "shipmate_up", "shipmate_store_errors_total"}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	// The store down: it says so, and no ages rather than stale ones.
	storeErr = errors.New("timeout")
	want = `
# HELP shipmate_up 1 when a part of the bot works (store: it answers; slack, discord: connected), else 0.
# TYPE shipmate_up gauge
shipmate_up{component="slack"} 0
shipmate_up{component="store"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "shipmate_run_state_age_seconds", "shipmate_up"); err != nil {
		t.Error(err)
	}
}

package runbook_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	rb "shipmate/internal/runbook"
)

// doraRun is a finished (or not) run of demo for the DORA tests.
func doraRun(id uint64, action rb.Action, env string, state rb.State, created, finished string) *rb.Run {
	at := func(s string) time.Time {
		if s == "" {
			return time.Time{}
		}
		t, err := time.Parse("01-02 15:04", s)
		if err != nil {
			panic(err)
		}
		return t.AddDate(2026, 0, 0)
	}
	return &rb.Run{ID: id, Action: action, App: "demo", Env: env, State: state, CreatedAt: at(created), FinishedAt: at(finished)}
}

func TestDORAOf(t *testing.T) {
	deploy, rollback := rb.ActionDeploy, rb.ActionRollback
	prod := "production"
	undo := doraRun(7, rollback, prod, rb.StateRolledBack, "11-12 14:00", "11-12 14:10")
	undo.RollbackOf = 6
	history := []*rb.Run{
		doraRun(1, deploy, prod, rb.StateSucceeded, "10-30 10:00", "10-30 11:00"),  // before the window
		doraRun(2, deploy, prod, rb.StateSucceeded, "11-02 09:00", "11-02 10:00"),  // lead 1h
		doraRun(3, deploy, prod, rb.StateRolledBack, "11-05 09:00", "11-05 09:30"), // failure at 09:30
		doraRun(4, deploy, prod, rb.StateSucceeded, "11-05 10:00", "11-05 12:30"),  // lead 2h30m; restores #3 in 3h
		doraRun(5, deploy, prod, rb.StateRejected, "11-10 09:00", "11-10 10:00"),   // deployed nothing
		doraRun(6, deploy, prod, rb.StateSucceeded, "11-12 09:00", "11-12 09:45"),  // lead 45m; undone by #7 at 11-12 14:00
		undo,
		doraRun(8, deploy, prod, rb.StateSucceeded, "11-13 08:00", "11-13 10:00"),  // lead 2h; restores #6 in 20h
		doraRun(9, deploy, prod, rb.StateFailed, "11-20 09:00", "11-20 09:20"),     // failure, not restored yet
		doraRun(10, deploy, prod, rb.StateCancelled, "11-21 09:00", "11-21 09:05"), // deployed nothing
		doraRun(11, deploy, "staging", rb.StateSucceeded, "11-22 09:00", "11-22 09:10"),
		doraRun(12, deploy, prod, rb.StateMonitoring, "11-30 09:00", ""), // not finished
	}
	from, to := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		runs     []*rb.Run
		from, to time.Time
		want     rb.DORA
	}{{
		name: "November",
		runs: history, from: from, to: to,
		want: rb.DORA{
			// #2, #4, #6, #8 succeeded: 4 in 30 days.
			Deploys: 4, PerDay: 4.0 / 30,
			// Leads 45m, 1h, 2h, 2h30m: median (1h+2h)/2, mean 375m/4.
			LeadTime: 90 * time.Minute, LeadTimeMean: 93*time.Minute + 45*time.Second,
			// #2, #3, #4, #6, #8, #9 finished; #3 rolled back, #6 undone, #9 failed.
			Finished: 6, Failures: 3, FailureRate: 0.5,
			// #3 restored in 3h by #4, #6 in 20h by #8; #9 not yet.
			Restores: 2, TimeToRestore: 11*time.Hour + 30*time.Minute, TimeToRestoreMean: 11*time.Hour + 30*time.Minute,
		},
	}, {
		// Up to 11-12 12:00: #6 has succeeded and its /rollback is still
		// to come; #3 is restored.
		name: "first 11 days and a half",
		runs: history, from: from, to: time.Date(2026, 11, 12, 12, 0, 0, 0, time.UTC),
		want: rb.DORA{
			Deploys: 3, PerDay: 3 / 11.5,
			// Leads 45m, 1h, 2h30m.
			LeadTime: time.Hour, LeadTimeMean: (45 + 60 + 150) * time.Minute / 3,
			Finished: 4, Failures: 1, FailureRate: 0.25,
			Restores: 1, TimeToRestore: 3 * time.Hour, TimeToRestoreMean: 3 * time.Hour,
		},
	}, {
		name: "no runs",
		from: from, to: to,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := rb.DORAOf(tc.runs, "demo", "production", tc.from, tc.to)
			tc.want.App, tc.want.Env, tc.want.From, tc.want.To = "demo", "production", tc.from, tc.to
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DORA (-want +got):\n%s", diff)
			}
		})
	}
}

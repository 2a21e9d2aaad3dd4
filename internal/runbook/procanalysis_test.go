package runbook_test

import (
	"context"
	"testing"

	rb "shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// analysedProcedure is analysed's harness with production following the
// rollback procedure, irene its incident commander and a drain step: v1
// then v2 deployed cleanly, v2's deploy having taken v1's figures (errors
// 0.2%, p95 170 ms) as its baselines.
func analysedProcedure(t *testing.T) (*harness, *metrics) {
	t.Helper()
	h, m, _ := analysed(t)
	h.Exec.DrainFunc = func(context.Context, rb.Job, rb.Progress) error { return nil }
	h.Policy.Envs[2].RollbackProcedure = true
	runbooktest.WithRole(rb.RoleIncidentCommander, "web", "irene")(h.Policy)
	m.set("v1", 0.002, 0.170)
	m.set("v2", 0.002, 0.175)
	cleanRun(h, "v1")
	cleanRun(h, "v2")
	return h, m
}

// rollBackAssessed starts the procedure rolling production back to v1 and
// has ivan assess it, so that Shipmate takes its steps up to validation.
func rollBackAssessed(h *harness) uint64 {
	h.T.Helper()
	rep, err := h.Do("ivan", `/rollback demo production --reason "errors"`)
	if err != nil {
		h.T.Fatal(err)
	}
	h.Settle()
	if err := h.Act("ivan", rep.RunID, rb.ButtonTick, rb.ProcAssess); err != nil {
		h.T.Fatal(err)
	}
	h.Settle()
	return rep.RunID
}

// "Validate rollback success" measures the analysis checks against the
// version rolled back to, judged against the baselines the rolled-back
// deploy took: back to normal, Shipmate ticks it with the figures.
func TestProcedureValidatesTheRollbackOnItsMetrics(t *testing.T) {
	h, m := analysedProcedure(t)
	m.set("v1", 0.003, 0.180)
	id := rollBackAssessed(h)

	h.WantState(id, rb.StateProcedure)
	it := procItems(h, id)[rb.ProcValidate]
	if !it.Done || it.By == nil || it.By.ID != "shipmate" {
		t.Fatalf("validation not done by Shipmate: %+v", it)
	}
	contains(t, it.Detail, "analysis of v1: errors 0.3% (baseline 0.2%): passes; p95 180 ms (baseline 170 ms): passes")
	if h.Exec.Rollbacks() != 1 {
		t.Fatalf("%d rollbacks, want 1", h.Exec.Rollbacks())
	}
}

// Still failing after the rollback, or without data: never a pass. The
// item waits for a rollback owner, with the figures; the procedure goes on
// once one ticks it.
func TestProcedureLeavesAnUnhealthyRollbackToItsOwners(t *testing.T) {
	h, m := analysedProcedure(t)
	m.set("v1", 0.05, 0.170)
	delete(m.latency, "v1")
	id := rollBackAssessed(h)

	r := h.WantState(id, rb.StateProcedure)
	it := procItems(h, id)[rb.ProcValidate]
	if it.Done || it.Auto {
		t.Fatalf("validation of a rollback with errors at 5%% is done or still Shipmate's: %+v", it)
	}
	contains(t, it.Detail, "errors and p95 are not back to normal after the rollback")
	contains(t, it.Detail, "errors 5% (baseline 0.2%): fails, above its max of 1%; p95 inconclusive (no data) (baseline 170 ms): no data")
	contains(t, r.Note, "Validate rollback success")
	if procItems(h, id)[rb.ProcRestore].Done {
		t.Fatal("the procedure went past validation")
	}

	if err := h.Act("rita", id, rb.ButtonTick, rb.ProcValidate); err != nil {
		t.Fatal(err)
	}
	if err := h.Act("rita", id, rb.ButtonTick, rb.ProcRestore); err != nil {
		t.Fatal(err)
	}
	h.Settle()
	h.WantState(id, rb.StateRolledBack)
	if it := procItems(h, id)[rb.ProcValidate]; !it.Done || it.By.ID != "rita" {
		t.Fatalf("validation after rita's tick: %+v", it)
	}
}

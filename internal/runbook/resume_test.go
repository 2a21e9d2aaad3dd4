package runbook_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	rb "shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// Each test stops the engine abruptly in one non-terminal state (work in
// flight is cut off unrecorded, as by kill -9), starts a new engine on the
// same file and checks that the run is neither lost nor run twice.

func (h *harness) locksHeld() int {
	h.T.Helper()
	locks, err := h.Store.Locks(context.Background())
	if err != nil {
		h.T.Fatal(err)
	}
	return len(locks)
}

func TestResumeRequested(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	// A run stored, but the process died before it moved on.
	r := &rb.Run{Action: rb.ActionDeploy, App: "demo", Env: "development", Version: "v1",
		Requester: user("bob"), Origin: rb.Origin{Platform: "web", Channel: "general"},
		State: rb.StateRequested, CreatedAt: runbooktest.Monday10}
	h.Stop()
	h.Start()
	if err := h.Store.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	h.Restart()
	h.Settle()
	h.WantState(r.ID, rb.StateSucceeded)
	if fx.Deploys() != 1 {
		t.Fatalf("deploys = %d", fx.Deploys())
	}
}

func TestResumeChecklistAndAwaitingApproval(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	a := h.Must("bob", "/deploy demo v1 staging")
	h.Must("bob", "/deploy demo v1 dev")
	if err := h.Act("bob", a, rb.ButtonTick, "merged"); err != nil {
		t.Fatal(err)
	}
	h.Restart()
	h.Settle()
	r := h.Run(a)
	if r.State != rb.StateChecklist || !r.Checklist[0].Done || r.Checklist[0].By.ID != "bob" {
		t.Fatalf("after restart: %s %+v", r.State, r.Checklist[0])
	}
	h.TickAll("alice", a)
	h.WantState(a, rb.StateAwaitingApproval)
	h.Restart()
	h.Settle()
	h.WantState(a, rb.StateAwaitingApproval)
	if err := h.Act("alice", a, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.WantState(a, rb.StateSucceeded)
	if fx.Deploys() != 2 {
		t.Fatalf("deploys = %d, want 2", fx.Deploys())
	}
	// The message posted before the restart is the one edited after it.
	if len(h.Chat.Posts()) != 2 {
		t.Fatalf("posts = %d, want one per run", len(h.Chat.Posts()))
	}
}

func TestResumeApproved(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	h.DeployTo("v1", "staging")
	// Approved on Thursday evening; Shipmate restarts before the window opens.
	h.Clock.Set(time.Date(2026, 12, 3, 15, 59, 0, 0, time.UTC))
	id := h.Must("bob", "/deploy demo v1 production")
	h.TickAll("bob", id)
	h.Clock.Set(time.Date(2026, 12, 3, 17, 0, 0, 0, time.UTC))
	if err := h.Act("rita", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.WantState(id, rb.StateApproved)
	h.Restart()
	h.Settle()
	h.WantState(id, rb.StateApproved)
	h.Clock.Set(time.Date(2026, 12, 7, 9, 1, 0, 0, time.UTC))
	h.Restart()
	h.Settle()
	h.WantState(id, rb.StateMonitoring)
	if fx.Deploys() != 2 {
		t.Fatalf("deploys = %d, want 2", fx.Deploys())
	}
}

func TestResumeDeployingEndsInterruptedWithoutRedeploy(t *testing.T) {
	fx := newExec()
	release := fx.Hold(runbooktest.StepDeploy, "", "")
	h := newHarness(t, fx)
	rep, err := h.Do("bob", "/deploy demo v1 dev")
	if err != nil {
		t.Fatal(err)
	}
	<-fx.Entered()
	h.WantState(rep.RunID, rb.StateDeploying)
	h.Restart()
	h.Settle()
	r := h.Run(rep.RunID)
	if r.State != rb.StateInterrupted {
		t.Fatalf("state %s", r.State)
	}
	contains(t, r.Note, "Shipmate stopped while deploying v1; the step's outcome is unknown")
	if n := fx.Deploys(); n != 1 {
		t.Fatalf("deploys = %d: a deploy ran twice", n)
	}
	if h.locksHeld() != 0 {
		t.Fatal("an interrupted run still holds its lock")
	}
	// The environment is free again.
	release()
	h.Must("bob", "/deploy demo v1 dev")
}

func TestResumeDeployingReattaches(t *testing.T) {
	fx := newExec(runbooktest.Reattach)
	fx.Hold(runbooktest.StepDeploy, "", "")
	h := newHarness(t, fx)
	rep, err := h.Do("bob", "/deploy demo v1 dev")
	if err != nil {
		t.Fatal(err)
	}
	<-fx.Entered()
	h.Restart()
	h.Settle()
	h.WantState(rep.RunID, rb.StateSucceeded)
	if fx.Deploys() != 1 || fx.Calls(runbooktest.StepReattach) != 1 {
		t.Fatalf("deploys = %d, reattaches = %d", fx.Deploys(), fx.Calls(runbooktest.StepReattach))
	}
}

// A step that ended with no result while the bot was down ends as
// interrupted, with the executor's finding: not failed, which would roll
// back a deploy that may have worked.
func TestResumeReattachOutcomeUnknownEndsInterrupted(t *testing.T) {
	fx := newExec()
	// It finds, after a restart, that its step ended with no result.
	fx.ReattachFunc = func(ctx context.Context, j rb.Job, p rb.Progress) error {
		return fmt.Errorf("the deploy command (pid 42) ended while Shipmate was down and left no exit status: %w", rb.ErrOutcomeUnknown)
	}
	h := newHarness(t, fx)
	h.DeployTo("v1", "development")
	fx.Hold(runbooktest.StepDeploy, "", "")
	rep, err := h.Do("bob", "/deploy demo v2 dev")
	if err != nil {
		t.Fatal(err)
	}
	if s := <-fx.Entered(); s != "deploy development v2" {
		t.Fatal(s)
	}
	h.Restart()
	h.Settle()
	h.WantState(rep.RunID, rb.StateInterrupted)
	r := h.Run(rep.RunID)
	contains(t, r.Note, "Shipmate stopped while deploying v2: the deploy command (pid 42) ended while Shipmate was down and left no exit status")
	contains(t, r.Note, "Check demo in development, then deploy again or roll back")
	if fx.Rollbacks() != 0 || fx.Calls(runbooktest.StepReattach) != 1 {
		t.Fatalf("rollbacks = %d, reattaches = %d; want no rollback after one re-attach", fx.Rollbacks(), fx.Calls(runbooktest.StepReattach))
	}
	if h.locksHeld() != 0 {
		t.Fatal("an interrupted run still holds its lock")
	}
}

func TestResumeVerifyingRunsVerificationAgain(t *testing.T) {
	fx := newExec(runbooktest.Verify, runbooktest.Health)
	release := fx.Hold(runbooktest.StepVerify, "", "")
	h := newHarness(t, fx)
	rep, err := h.Do("bob", "/deploy demo v1 dev")
	if err != nil {
		t.Fatal(err)
	}
	<-fx.Entered()
	h.WantState(rep.RunID, rb.StateVerifying)
	h.Stop()
	release()
	h.Start()
	h.Settle()
	h.WantState(rep.RunID, rb.StateSucceeded)
	if fx.Deploys() != 1 || fx.Calls(runbooktest.StepVerify) != 2 {
		t.Fatalf("deploys = %d, verifies = %d", fx.Deploys(), fx.Calls(runbooktest.StepVerify))
	}
}

func TestResumeMonitoring(t *testing.T) {
	fx := newExec(runbooktest.Verify, runbooktest.Health)
	h := newHarness(t, fx)
	h.DeployTo("v1", "staging")
	id := h.DeployTo("v1", "production")
	h.WantState(id, rb.StateMonitoring)
	h.Restart()
	h.Settle()
	h.WantState(id, rb.StateMonitoring)
	h.Clock.Add(5 * time.Minute)
	h.Tick()
	if fx.Calls(runbooktest.StepHealth) == 0 {
		t.Fatal("no health check after the restart")
	}
	h.Clock.Add(30 * time.Minute)
	h.Tick()
	h.WantState(id, rb.StateSucceeded)
	if fx.Deploys() != 2 {
		t.Fatalf("deploys = %d", fx.Deploys())
	}
}

func TestResumeRollingBackEndsInterrupted(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	h.Must("bob", "/deploy demo v1 dev")
	h.Must("bob", "/deploy demo v2 dev")
	fx.Hold(runbooktest.StepRollback, "", "")
	rep, err := h.Do("bob", "/rollback demo dev")
	if err != nil {
		t.Fatal(err)
	}
	<-fx.Entered()
	h.WantState(rep.RunID, rb.StateRollingBack)
	h.Restart()
	h.Settle()
	r := h.Run(rep.RunID)
	if r.State != rb.StateInterrupted {
		t.Fatalf("state %s", r.State)
	}
	contains(t, r.Note, "Shipmate stopped while rolling back to v1")
	if fx.Rollbacks() != 1 {
		t.Fatalf("rollbacks = %d", fx.Rollbacks())
	}
	if h.locksHeld() != 0 {
		t.Fatal("lock left held")
	}
}

func TestDrainParksApprovedRuns(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	id := h.Must("bob", "/deploy demo v1 staging")
	h.TickAll("alice", id)
	h.Engine.Drain()
	contains(t, h.Refused("bob", "/deploy demo v1 dev"), "Shipmate is restarting")
	if err := h.Act("alice", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.WantState(id, rb.StateApproved)
	if fx.Deploys() != 0 {
		t.Fatal("a draining engine started a deploy")
	}
	h.Restart()
	h.Settle()
	h.WantState(id, rb.StateSucceeded)
}

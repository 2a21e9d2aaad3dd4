package runbook_test

import (
	"context"
	"testing"
	"time"

	rb "shipmate/internal/runbook"
)

// Each test stops the engine abruptly in one non-terminal state (work in
// flight is cut off unrecorded, as by kill -9), starts a new engine on the
// same file and checks that the run is neither lost nor run twice.

func blockingExec(steps ...string) *fakeExec {
	fx := &fakeExec{block: map[string]chan struct{}{}, entered: make(chan string, 8)}
	for _, s := range steps {
		fx.block[s] = make(chan struct{})
	}
	return fx
}

func (h *harness) locksHeld() int {
	h.t.Helper()
	locks, err := h.st.Locks(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return len(locks)
}

func TestResumeRequested(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)
	// A run stored, but the process died before it moved on.
	r := &rb.Run{Action: rb.ActionDeploy, App: "demo", Env: "development", Version: "v1",
		Requester: user("bob"), Origin: rb.Origin{Platform: "web", Channel: "general"},
		State: rb.StateRequested, CreatedAt: monday10}
	h.stop()
	h.start()
	if err := h.st.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	h.restart()
	h.settle()
	h.wantState(r.ID, rb.StateSucceeded)
	if fx.deploys.Load() != 1 {
		t.Fatalf("deploys = %d", fx.deploys.Load())
	}
}

func TestResumeChecklistAndAwaitingApproval(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)
	a := h.must("bob", "/deploy demo v1 staging")
	h.must("bob", "/deploy demo v1 dev")
	if err := h.act("bob", a, rb.ButtonTick, "merged"); err != nil {
		t.Fatal(err)
	}
	h.restart()
	h.settle()
	r := h.run(a)
	if r.State != rb.StateChecklist || !r.Checklist[0].Done || r.Checklist[0].By.ID != "bob" {
		t.Fatalf("after restart: %s %+v", r.State, r.Checklist[0])
	}
	h.tickAll("alice", a)
	h.wantState(a, rb.StateAwaitingApproval)
	h.restart()
	h.settle()
	h.wantState(a, rb.StateAwaitingApproval)
	if err := h.act("alice", a, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.wantState(a, rb.StateSucceeded)
	if fx.deploys.Load() != 2 {
		t.Fatalf("deploys = %d, want 2", fx.deploys.Load())
	}
	// The message posted before the restart is the one edited after it.
	if len(h.chat.posts) != 2 {
		t.Fatalf("posts = %d, want one per run", len(h.chat.posts))
	}
}

func TestResumeApproved(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)
	h.deployTo("v1", "staging")
	// Approved on Thursday evening; Shipmate restarts before the window opens.
	h.clock.Set(time.Date(2026, 12, 3, 15, 59, 0, 0, time.UTC))
	id := h.must("bob", "/deploy demo v1 production")
	h.tickAll("bob", id)
	h.clock.Set(time.Date(2026, 12, 3, 17, 0, 0, 0, time.UTC))
	if err := h.act("rita", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.wantState(id, rb.StateApproved)
	h.restart()
	h.settle()
	h.wantState(id, rb.StateApproved)
	h.clock.Set(time.Date(2026, 12, 7, 9, 1, 0, 0, time.UTC))
	h.restart()
	h.settle()
	h.wantState(id, rb.StateMonitoring)
	if fx.deploys.Load() != 2 {
		t.Fatalf("deploys = %d, want 2", fx.deploys.Load())
	}
}

func TestResumeDeployingEndsInterruptedWithoutRedeploy(t *testing.T) {
	fx := blockingExec("deploy")
	h := newHarness(t, fx, fx)
	rep, err := h.do("bob", "/deploy demo v1 dev")
	if err != nil {
		t.Fatal(err)
	}
	<-fx.entered
	h.wantState(rep.RunID, rb.StateDeploying)
	h.restart()
	h.settle()
	r := h.run(rep.RunID)
	if r.State != rb.StateInterrupted {
		t.Fatalf("state %s", r.State)
	}
	contains(t, r.Note, "Shipmate stopped while deploying v1; the step's outcome is unknown")
	if n := fx.deploys.Load(); n != 1 {
		t.Fatalf("deploys = %d: a deploy ran twice", n)
	}
	if h.locksHeld() != 0 {
		t.Fatal("an interrupted run still holds its lock")
	}
	// The environment is free again.
	fx.mu.Lock()
	fx.block = nil
	fx.mu.Unlock()
	go func() {
		for range fx.entered {
		}
	}()
	h.must("bob", "/deploy demo v1 dev")
}

func TestResumeDeployingReattaches(t *testing.T) {
	fx := blockingExec("deploy")
	h := newHarness(t, reattachingExec{fx}, fx)
	rep, err := h.do("bob", "/deploy demo v1 dev")
	if err != nil {
		t.Fatal(err)
	}
	<-fx.entered
	h.restart()
	h.settle()
	h.wantState(rep.RunID, rb.StateSucceeded)
	if fx.deploys.Load() != 1 || fx.reattaches.Load() != 1 {
		t.Fatalf("deploys = %d, reattaches = %d", fx.deploys.Load(), fx.reattaches.Load())
	}
}

// A step that ended with no result while the bot was down ends as
// interrupted, with the executor's finding: not failed, which would roll
// back a deploy that may have worked.
func TestResumeReattachOutcomeUnknownEndsInterrupted(t *testing.T) {
	fx := &fakeExec{entered: make(chan string, 8)}
	h := newHarness(t, lostExec{fx}, fx)
	h.deployTo("v1", "development")
	fx.mu.Lock()
	fx.block = map[string]chan struct{}{"deploy": make(chan struct{})}
	fx.mu.Unlock()
	rep, err := h.do("bob", "/deploy demo v2 dev")
	if err != nil {
		t.Fatal(err)
	}
	for s := range fx.entered {
		if s == "deploy" && fx.deploys.Load() == 2 {
			break
		}
	}
	h.restart()
	h.settle()
	h.wantState(rep.RunID, rb.StateInterrupted)
	r := h.run(rep.RunID)
	contains(t, r.Note, "Shipmate stopped while deploying v2: the deploy command (pid 42) ended while Shipmate was down and left no exit status")
	contains(t, r.Note, "Check demo in development, then deploy again or roll back")
	if fx.rollbacks.Load() != 0 || fx.reattaches.Load() != 1 {
		t.Fatalf("rollbacks = %d, reattaches = %d; want no rollback after one re-attach", fx.rollbacks.Load(), fx.reattaches.Load())
	}
	if h.locksHeld() != 0 {
		t.Fatal("an interrupted run still holds its lock")
	}
}

func TestResumeVerifyingRunsVerificationAgain(t *testing.T) {
	fx := blockingExec("verify")
	h := newHarness(t, verifyingExec{fx}, fx)
	rep, err := h.do("bob", "/deploy demo v1 dev")
	if err != nil {
		t.Fatal(err)
	}
	for s := range fx.entered {
		if s == "verify" {
			break
		}
	}
	h.wantState(rep.RunID, rb.StateVerifying)
	h.stop()
	close(fx.block["verify"])
	h.start()
	h.settle()
	h.wantState(rep.RunID, rb.StateSucceeded)
	if fx.deploys.Load() != 1 || fx.verifies.Load() != 2 {
		t.Fatalf("deploys = %d, verifies = %d", fx.deploys.Load(), fx.verifies.Load())
	}
}

func TestResumeMonitoring(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, verifyingExec{fx}, fx)
	h.deployTo("v1", "staging")
	id := h.deployTo("v1", "production")
	h.wantState(id, rb.StateMonitoring)
	h.restart()
	h.settle()
	h.wantState(id, rb.StateMonitoring)
	h.clock.Add(5 * time.Minute)
	h.tick()
	if fx.healths.Load() == 0 {
		t.Fatal("no health check after the restart")
	}
	h.clock.Add(30 * time.Minute)
	h.tick()
	h.wantState(id, rb.StateSucceeded)
	if fx.deploys.Load() != 2 {
		t.Fatalf("deploys = %d", fx.deploys.Load())
	}
}

func TestResumeRollingBackEndsInterrupted(t *testing.T) {
	fx := blockingExec()
	h := newHarness(t, fx, fx)
	h.must("bob", "/deploy demo v1 dev")
	h.must("bob", "/deploy demo v2 dev")
	fx.mu.Lock()
	fx.block["rollback"] = make(chan struct{})
	fx.mu.Unlock()
	rep, err := h.do("bob", "/rollback demo dev")
	if err != nil {
		t.Fatal(err)
	}
	for s := range fx.entered {
		if s == "rollback" {
			break
		}
	}
	h.wantState(rep.RunID, rb.StateRollingBack)
	h.restart()
	h.settle()
	r := h.run(rep.RunID)
	if r.State != rb.StateInterrupted {
		t.Fatalf("state %s", r.State)
	}
	contains(t, r.Note, "Shipmate stopped while rolling back to v1")
	if fx.rollbacks.Load() != 1 {
		t.Fatalf("rollbacks = %d", fx.rollbacks.Load())
	}
	if h.locksHeld() != 0 {
		t.Fatal("lock left held")
	}
}

func TestDrainParksApprovedRuns(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)
	id := h.must("bob", "/deploy demo v1 staging")
	h.tickAll("alice", id)
	h.eng.Drain()
	contains(t, h.refused("bob", "/deploy demo v1 dev"), "Shipmate is restarting")
	if err := h.act("alice", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.wantState(id, rb.StateApproved)
	if fx.deploys.Load() != 0 {
		t.Fatal("a draining engine started a deploy")
	}
	h.restart()
	h.settle()
	h.wantState(id, rb.StateSucceeded)
}

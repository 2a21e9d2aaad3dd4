package runbook_test

import (
	"context"
	"errors"
	"testing"
	"time"

	rb "shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// lead makes e lead until the returned stop is called; stop waits for
// Lead to return.
func lead(t *testing.T, e *rb.Engine) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Lead(ctx) }()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("lead: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitState polls the store until run id is in state want. The bound only
// turns a hang into a failure.
func waitState(t *testing.T, h *harness, id uint64, want rb.State) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for h.State(id) != want {
		if time.Now().After(deadline) {
			t.Fatalf("run #%d stays %s, want %s", id, h.State(id), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestFollowerStoresIntentsAndTheLeaderActsOnThem(t *testing.T) {
	fx := newExec()
	h := newHarnessWith(t, fx, func(c *rb.Config) { c.Follow = true })
	if h.Engine.Leading() {
		t.Fatal("a following engine says it leads")
	}
	first := h.Must("bob", "/deploy demo v1 dev")
	h.Tick() // the clock is the leader's: a follower's tick does nothing
	h.WantState(first, rb.StateRequested)
	if fx.Deploys() != 0 {
		t.Fatal("a following engine deployed")
	}

	leader := h.Replica()
	lead(t, leader)
	// Taking the lead resumes what the followers stored.
	waitState(t, h, first, rb.StateSucceeded)

	// A run requested on the follower once the leader leads is picked up
	// when the leader hears of it (from the store's watch).
	second := h.Must("bob", "/deploy demo v2 dev")
	h.WantState(second, rb.StateRequested)
	leader.Changed(context.Background(), second)
	waitState(t, h, second, rb.StateSucceeded)
	if fx.Deploys() != 2 {
		t.Fatalf("%d deploys, want 2", fx.Deploys())
	}
	if err := leader.Lead(context.Background()); !errors.Is(err, rb.ErrLeading) {
		t.Fatalf("second Lead: %v", err)
	}
}

func TestStopAskedOnAFollowerStopsTheLeadersStep(t *testing.T) {
	fx := newExec()
	h := newHarnessWith(t, fx, func(c *rb.Config) { c.Follow = true })
	leader := h.Replica()
	lead(t, leader)
	id := h.Must("bob", "/deploy demo v1 dev")
	leader.Changed(context.Background(), id)
	waitState(t, h, id, rb.StateSucceeded)

	fx.Hold(runbooktest.StepDeploy, "", "v2")
	id = h.Must("bob", "/deploy demo v2 dev")
	leader.Changed(context.Background(), id)
	<-fx.Entered()
	rep, err := h.Do("bob", "/deploy cancel #2")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, rep.Text, "Stopping run #2")
	if by := h.Run(id).StopRequestedBy; by == nil || by.ID != "bob" {
		t.Fatalf("stop request stored as %+v", by)
	}
	leader.Changed(context.Background(), id)
	waitState(t, h, id, rb.StateRolledBack)
	var failure string
	for _, ev := range h.Events(id) {
		if ev.To == rb.StateFailed {
			failure = ev.Detail
		}
	}
	if failure != "deploying failed: cancelled by bob" {
		t.Fatalf("failure %q", failure)
	}
	if h.Run(id).StopRequestedBy != nil {
		t.Fatal("the stop request outlived the step it was for")
	}
}

func TestDeposedLeaderStopsAndTheNextOneTakesOver(t *testing.T) {
	fx := newExec()
	h := newHarnessWith(t, fx, func(c *rb.Config) { c.Follow = true })
	first := h.Replica()
	stop := lead(t, first)
	fx.Hold(runbooktest.StepDeploy, "", "v1")
	id := h.Must("bob", "/deploy demo v1 dev")
	first.Changed(context.Background(), id)
	<-fx.Entered()

	// The term ends (the lease was lost): the step is cut off unrecorded
	// and Lead returns only once it has stopped.
	stop()
	if first.Leading() {
		t.Fatal("a deposed engine says it leads")
	}
	h.WantState(id, rb.StateDeploying)

	lead(t, h.Engine)
	// The fake executor cannot re-attach: the run ends as interrupted and
	// the deploy is not started a second time.
	waitState(t, h, id, rb.StateInterrupted)
	if n := fx.Deploys(); n != 1 {
		t.Fatalf("the executor saw %d deploys, want 1", n)
	}
}

package runbook

import (
	"fmt"
	"slices"
	"time"
)

// transitions is the workflow: every edge a run may take, and no other. A
// waiting state may move to itself (its note changes as ticks and
// approvals come in). The engine refuses to store a run whose events name
// an edge that is not here (see checkTransitions).
var transitions = map[State][]State{
	StateRequested: {StateChecklist, StateAwaitingApproval, StateApproved, // a deploy waits for people
		StateRollingBack, // a rollback run goes straight to its step
		StateProcedure,   // or through the handbook's rollback procedure
		StateFailed,      // what the version deploys cannot be resolved
		StateCancelled},
	StateChecklist: {StateChecklist, StateAwaitingApproval, StateApproved,
		StateRejected, StateCancelled, StateExpired},
	StateAwaitingApproval: {StateAwaitingApproval, StateChecklist, StateApproved, // unticking reopens the checklist
		StateRejected, StateCancelled, StateExpired},
	StateApproved: {StateDeploying,
		StateChecklist, StateAwaitingApproval, // the artifact or a check changed: approvals void
		StateFailed, // staging first no longer holds, or resolving fails
		StateCancelled},
	StateDeploying:  {StateVerifying, StateMonitoring, StateSucceeded, StateFailed, StateInterrupted},
	StateVerifying:  {StateMonitoring, StateSucceeded, StateFailed},
	StateMonitoring: {StateSucceeded, StateFailed, StateRollingBack},
	StateFailed:     {StateRollingBack}, // in the same write as the failure
	StateRollingBack: {StateRolledBack, StateRollbackFailed, StateInterrupted,
		StateProcedure}, // the procedure's rollback step done: it goes on
	// A rollback procedure waits for people and runs its own steps; its
	// rollback step is rolling back, and it ends rolled back once the
	// incident is documented.
	StateProcedure: {StateProcedure, StateRollingBack, StateRolledBack, StateRollbackFailed, StateCancelled},
}

// allowed reports whether a run may move from one state to another.
func allowed(from, to State) bool { return slices.Contains(transitions[from], to) }

// checkTransitions refuses a set of events that moves a run along an edge
// the workflow does not have: a bug, caught before it is stored.
func checkTransitions(evs []Event) error {
	for _, ev := range evs {
		if ev.Type == EvTransition && !allowed(ev.From, ev.To) {
			return fmt.Errorf("the workflow has no step from %s to %s", ev.From, ev.To)
		}
	}
	return nil
}

// The decisions of the workflow, as pure functions of what they look at.

// pendingState is where a deploy waiting for people stands: the checklist
// while items are open, then approval until enough people approved.
func pendingState(openItems, approvals, needed int) State {
	switch {
	case openItems > 0:
		return StateChecklist
	case approvals < needed:
		return StateAwaitingApproval
	}
	return StateApproved
}

// stepDoneState is where a run goes when the step it ran while in state
// during succeeded: a deploy is verified when the executor can, then
// watched when the environment monitors (or waits for validation), else it
// has succeeded; a rollback has rolled back, unless it follows the rollback
// procedure, whose next items come after.
func stepDoneState(during State, verifies, watched, procedure bool) State {
	switch {
	case during == StateRollingBack && procedure:
		return StateProcedure
	case during == StateRollingBack:
		return StateRolledBack
	case during == StateDeploying && verifies:
		return StateVerifying
	case watched:
		return StateMonitoring
	}
	return StateSucceeded
}

// failure says what follows a failed step: a failed rollback is final; a
// failed deploy rolls back unless there is nothing to go back to or the
// app holds failures for a human. why says which, for the run's note.
type failure int

const (
	failRollBack failure = iota
	failFinal            // not a deploy (a rollback run's step)
	failFirst            // nothing ran before: nothing to go back to
	failHold             // on_failure: hold
)

func onFailure(during State, action Action, previous string, hold bool) failure {
	switch {
	case during == StateRollingBack || action != ActionDeploy:
		return failFinal
	case previous == "":
		return failFirst
	case hold:
		return failHold
	}
	return failRollBack
}

// expired reports whether a run waiting for people in state has passed its
// approval deadline (zero: none) at now.
func expired(state State, deadline, now time.Time) bool {
	waiting := state == StateChecklist || state == StateAwaitingApproval
	return waiting && !deadline.IsZero() && !now.Before(deadline)
}

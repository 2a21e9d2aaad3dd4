package runbook

import (
	"slices"
	"testing"
	"time"
)

// The table is the workflow: walk it from requested and check that every
// state is reached, that terminal states lead nowhere and that every other
// state has a way on.
func TestTransitionTable(t *testing.T) {
	seen := map[State]bool{StateRequested: true}
	queue := []State{StateRequested}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, to := range transitions[s] {
			if !slices.Contains(AllStates, to) {
				t.Errorf("%s → %s: no such state", s, to)
			}
			if !seen[to] {
				seen[to] = true
				queue = append(queue, to)
			}
		}
	}
	for _, s := range AllStates {
		if !seen[s] {
			t.Errorf("%s cannot be reached from requested", s)
		}
		edges := slices.DeleteFunc(slices.Clone(transitions[s]), func(to State) bool { return to == s })
		switch {
		case s == StateFailed:
			// Failed rests as terminal unless it rolls back in the same write.
			if !slices.Equal(edges, []State{StateRollingBack}) {
				t.Errorf("failed leads to %v, want rolling back only", edges)
			}
		case s.Terminal() && len(edges) > 0:
			t.Errorf("terminal %s leads to %v", s, edges)
		case !s.Terminal() && len(edges) == 0:
			t.Errorf("%s leads nowhere but is not terminal", s)
		}
	}
}

func TestCheckTransitionsRefusesEdgesNotInTheTable(t *testing.T) {
	for _, tc := range []struct {
		from, to State
		ok       bool
	}{
		{StateRequested, StateChecklist, true},
		{StateApproved, StateDeploying, true},
		{StateMonitoring, StateRollingBack, true},
		{StateChecklist, StateDeploying, false}, // skipping approval
		{StateSucceeded, StateDeploying, false}, // a finished run runs again
		{StateRejected, StateApproved, false},
		{StateDeploying, StateDeploying, false}, // a deploy started twice
		{StateMonitoring, StateMonitoring, false},
		{StateRolledBack, StateRollingBack, false},
	} {
		evs := []Event{{Type: EvNote}, {Type: EvTransition, From: tc.from, To: tc.to}}
		if err := checkTransitions(evs); (err == nil) != tc.ok {
			t.Errorf("%s → %s: %v, want ok %v", tc.from, tc.to, err, tc.ok)
		}
	}
}

func TestPendingState(t *testing.T) {
	for _, tc := range []struct {
		open, approvals, needed int
		want                    State
	}{
		{3, 0, 1, StateChecklist},
		{1, 1, 1, StateChecklist}, // an approval does not close the checklist
		{0, 0, 1, StateAwaitingApproval},
		{0, 1, 2, StateAwaitingApproval},
		{0, 2, 2, StateApproved},
		{0, 0, 0, StateApproved}, // approval: none
	} {
		if got := pendingState(tc.open, tc.approvals, tc.needed); got != tc.want {
			t.Errorf("pendingState(%d open, %d of %d) = %s, want %s", tc.open, tc.approvals, tc.needed, got, tc.want)
		}
	}
}

func TestStepDoneState(t *testing.T) {
	for _, tc := range []struct {
		during                       State
		verifies, watched, procedure bool
		want                         State
	}{
		{StateDeploying, true, true, false, StateVerifying},
		{StateDeploying, false, true, false, StateMonitoring},
		{StateDeploying, false, false, false, StateSucceeded},
		{StateVerifying, true, true, false, StateMonitoring},
		{StateVerifying, true, false, false, StateSucceeded},
		{StateRollingBack, true, true, false, StateRolledBack},
		{StateRollingBack, true, false, true, StateProcedure}, // the procedure goes on after its rollback
	} {
		if got := stepDoneState(tc.during, tc.verifies, tc.watched, tc.procedure); got != tc.want {
			t.Errorf("after %s (verifies %v, watched %v) = %s, want %s", tc.during, tc.verifies, tc.watched, got, tc.want)
		}
		if !allowed(tc.during, tc.want) {
			t.Errorf("%s → %s is not in the table", tc.during, tc.want)
		}
	}
}

func TestOnFailure(t *testing.T) {
	for _, tc := range []struct {
		during   State
		action   Action
		previous string
		hold     bool
		want     failure
	}{
		{StateDeploying, ActionDeploy, "v1", false, failRollBack},
		{StateVerifying, ActionDeploy, "v1", false, failRollBack},
		{StateMonitoring, ActionDeploy, "v1", false, failRollBack},
		{StateDeploying, ActionDeploy, "", false, failFirst},
		{StateDeploying, ActionDeploy, "v1", true, failHold},
		{StateRollingBack, ActionDeploy, "v1", false, failFinal},
		{StateRollingBack, ActionRollback, "v2", false, failFinal},
	} {
		if got := onFailure(tc.during, tc.action, tc.previous, tc.hold); got != tc.want {
			t.Errorf("onFailure(%s, %s, %q, hold %v) = %d, want %d", tc.during, tc.action, tc.previous, tc.hold, got, tc.want)
		}
	}
}

func TestExpired(t *testing.T) {
	deadline := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		state    State
		deadline time.Time
		now      time.Time
		want     bool
	}{
		{StateChecklist, deadline, deadline.Add(-time.Second), false},
		{StateChecklist, deadline, deadline, true},
		{StateAwaitingApproval, deadline, deadline.Add(time.Hour), true},
		{StateApproved, deadline, deadline.Add(time.Hour), false}, // approved in time: it waits for its window
		{StateMonitoring, deadline, deadline.Add(time.Hour), false},
		{StateChecklist, time.Time{}, deadline, false}, // no deadline
	} {
		if got := expired(tc.state, tc.deadline, tc.now); got != tc.want {
			t.Errorf("expired(%s, %v, %v) = %v, want %v", tc.state, tc.deadline, tc.now, got, tc.want)
		}
	}
}

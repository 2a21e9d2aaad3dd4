package slack

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// The ways around the deployment policy, tried over signed HTTP: each is
// refused, only to its user, and leaves the store and Slack as they were.
func TestFlowTrustBoundary(t *testing.T) {
	f := newFlow(t, flowOptions{})
	f.fake.SetGroup("S0RELEASE", "U0RMB")
	// refusedClick clicks and wants a refusal containing want, with
	// nothing changed.
	refusedClick := func(t *testing.T, user string, id uint64, act flowAction, want string) {
		t.Helper()
		f := f.as(t)
		f.settle()
		before, calls := f.snapshot(), f.chatCalls()
		if got := f.refusal(f.click(user, id, act)); !strings.Contains(got, want) {
			t.Errorf("%s by %s: %q, want %q", act.ActionID, user, got, want)
		}
		if f.snapshot() != before || f.chatCalls() != calls {
			t.Error("the refused click changed something")
		}
	}
	refusedCommand := func(t *testing.T, user, text, want string) {
		t.Helper()
		f := f.as(t)
		f.settle()
		before, calls := f.snapshot(), f.chatCalls()
		if got := f.slash(user, flowRelease, "/deploy", text); !strings.Contains(got, want) {
			t.Errorf("/deploy %s by %s: %q, want %q", text, user, got, want)
		}
		if f.snapshot() != before || f.chatCalls() != calls {
			t.Error("the refused command changed something")
		}
	}

	f.deployStaging("v1.2.0")
	// rita asks on the console (the request reaches the engine as her web
	// identity); the run's message is in the release channel.
	rep, _, err := f.engine.Command(context.Background(), runbook.User{Platform: "web", ID: "rita"},
		runbook.Origin{Platform: Platform, Channel: flowRelease}, "/deploy", "demo v1.2.0 production")
	if err != nil {
		t.Fatal(err)
	}
	id := rep.RunID
	f.settle()
	f.accepted(f.click("U0RM", id, ticks(id, f.checklistOf("production")...)))
	f.wantState(id, runbook.StateAwaitingApproval)

	t.Run("self-approval from another chat", func(t *testing.T) {
		refusedClick(t, "U0RM", id, button(runbook.ButtonApprove, id),
			fmt.Sprintf("you requested run #%d: in production someone else with the release-manager role must approve it", id))
	})
	if _, err := f.engine.Act(context.Background(), runbook.User{Platform: "web", ID: "rita"}, id, runbook.ButtonCancel, ""); err != nil {
		t.Fatal(err)
	}
	f.settle()

	t.Run("one person twice towards count 2", func(t *testing.T) {
		stg, _ := f.cfg.Policy.Env("staging")
		stg.Approval.Count = 2
		defer func() { stg.Approval.Count = 1 }()
		run := f.request("U0DEV", flowRelease, "demo v1.2.1 staging")
		f.settle()
		f.accepted(f.click("U0LEAD", run, ticks(run, f.checklistOf("staging")...)))
		// alice approves on the console, then as U0LEAD on Slack: one person.
		if _, err := f.engine.Act(context.Background(), runbook.User{Platform: "web", ID: "alice"}, run, runbook.ButtonApprove, ""); err != nil {
			t.Fatal(err)
		}
		refusedClick(t, "U0LEAD", run, button(runbook.ButtonApprove, run), fmt.Sprintf("you already approved run #%d", run))
		f.wantState(run, runbook.StateAwaitingApproval)
		f.accepted(f.click("U0DEV", run, button(runbook.ButtonCancel, run)))
	})

	t.Run("requester ends their own production monitoring", func(t *testing.T) {
		mon := f.request("U0RM", flowRelease, "demo v1.2.0 production")
		f.settle()
		f.accepted(f.click("U0RM", mon, ticks(mon, f.checklistOf("production")...)))
		f.accepted(f.click("U0RMB", mon, button(runbook.ButtonApprove, mon)))
		f.wantState(mon, runbook.StateMonitoring)
		refusedClick(t, "U0RM", mon, button(runbook.ButtonCancel, mon),
			fmt.Sprintf("you requested run #%d: in production someone else (release-manager, or a rollback owner) must end its monitoring", mon))
		f.accepted(f.click("U0INC", mon, button(runbook.ButtonCancel, mon)))
		f.wantState(mon, runbook.StateSucceeded)
	})

	t.Run("stale Roll back", func(t *testing.T) {
		f := f.as(t)
		first := f.deployStaging("v1.3.0")
		f.deployStaging("v1.4.0")
		refusedClick(t, "U0OPS", first, button(runbook.ButtonRollback, first), "demo in staging now runs v1.4.0, from run #")
		if n := f.exec.Steps(runbooktest.StepRollback, "staging", "v1.2.0"); n != 0 {
			t.Errorf("rollbacks to v1.2.0: %d", n)
		}
	})

	t.Run("a deployer lifts the release manager's code freeze", func(t *testing.T) {
		f := f.as(t)
		if ack := f.slash("U0RM", flowRelease, "/deploy", `lock all production "code freeze"`); !strings.Contains(ack, "locked in production") {
			t.Fatalf("lock: %q", ack)
		}
		refusedCommand(t, "U0DEV", "unlock all production", "only rita (who locked it) or release-manager or incident-response may unlock all in production")
	})

	t.Run("reads by someone with no role", func(t *testing.T) {
		for _, text := range []string{"status", "history demo", "whereis demo"} {
			refusedCommand(t, "U0NOBODY", text, "you have no role in Shipmate")
		}
	})
}

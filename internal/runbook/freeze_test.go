package runbook_test

import (
	"strings"
	"testing"
	"time"

	rb "shipmate/internal/runbook"
)

// day is 2026-11-DD (or 2026-12-DD past 30) at hh:mm UTC.
func day(d, hh, mm int) time.Time { return time.Date(2026, 11, d, hh, mm, 0, 0, time.UTC) }

// freezeProduction gives production one calendar freeze.
func freezeProduction(h *harness, from, to time.Time, reason string) {
	h.Policy.Envs[2].Freezes = []rb.Freeze{{From: from, To: to, Reason: reason}}
}

func TestCalendarFreezeRefusesDeploysUntilItEnds(t *testing.T) {
	h := newHarness(t, newExec())
	h.DeployTo("v1", "staging")
	// From Monday 12:00 to the end of Tuesday; the clock is at Monday 10:00.
	freezeProduction(h, day(30, 12, 0), day(32, 0, 0), "end-of-month close")

	rep, err := h.Do("bob", "/deploy status")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, rep.Text, "• production will be frozen for deployments (end-of-month close) from Mon 2026-11-30 12:00 UTC until Wed 2026-12-02 00:00 UTC")

	h.Clock.Set(day(30, 12, 0))
	msg := h.Refused("bob", "/deploy demo v1 production")
	want := `production is frozen for deployments (end-of-month close) until Wed 2026-12-02 00:00 UTC. In an emergency: --emergency --reason "why" (break-glass role)`
	if msg != want {
		t.Fatalf("freeze refusal:\n got %q\nwant %q", msg, want)
	}
	rep, err = h.Do("bob", "/deploy status demo")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, rep.Text, "• production is frozen for deployments (end-of-month close) until Wed 2026-12-02 00:00 UTC")
	// Other environments are not frozen.
	h.Must("bob", "/deploy demo v2 staging")

	h.Clock.Set(day(32, 0, 0).Add(9 * time.Hour)) // Wednesday 09:00, the window open
	id := h.Must("bob", "/deploy demo v1 production")
	h.WantState(id, rb.StateChecklist)
	rep, _ = h.Do("bob", "/deploy status")
	if got := rep.Text; strings.Contains(got, "frozen") {
		t.Fatalf("status after the freeze still speaks of it: %q", got)
	}
}

// A run approved before a freeze, or waiting for its window when a freeze
// begins, does not start until the freeze is over: the rule is checked when
// the run would start, not only when it was requested.
func TestApprovedRunWaitsOutAFreeze(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	h.DeployTo("v1", "staging")
	freezeProduction(h, day(30, 12, 0), day(31, 12, 0), "pen test")

	id := h.Must("bob", "/deploy demo v1 production")
	h.TickAll("bob", id)
	h.Clock.Set(day(30, 12, 30)) // the freeze began while it awaited approval
	if err := h.Act("rita", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	r := h.WantState(id, rb.StateApproved)
	contains(t, r.Note, "approved; waiting for the end of the production freeze (pen test) on Tue 2026-12-01 12:00 UTC")
	h.Clock.Set(day(31, 11, 59))
	h.Tick()
	h.WantState(id, rb.StateApproved)
	if fx.Deploys() != 1 {
		t.Fatalf("deploys = %d during the freeze, want 1 (staging)", fx.Deploys())
	}
	h.Clock.Set(day(31, 12, 0))
	h.Tick()
	h.WantState(id, rb.StateMonitoring)
}

func TestRunWaitingForItsWindowWaitsOutAFreeze(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	h.DeployTo("v1", "staging")
	h.Clock.Set(time.Date(2026, 12, 3, 15, 50, 0, 0, time.UTC)) // Thursday, 10 minutes of window left
	id := h.Must("bob", "/deploy demo v1 production")
	h.TickAll("bob", id)
	h.Clock.Set(time.Date(2026, 12, 3, 16, 5, 0, 0, time.UTC))
	if err := h.Act("rita", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	contains(t, h.WantState(id, rb.StateApproved).Note, "waiting for the production deployment window")
	// A freeze is declared over the window's next opening.
	freezeProduction(h, time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC), "datacenter move")
	h.Clock.Set(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	h.Tick()
	contains(t, h.WantState(id, rb.StateApproved).Note, "waiting for the end of the production freeze (datacenter move) on Mon 2026-12-07 13:00 UTC")
	h.Clock.Set(time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC))
	h.Tick()
	h.WantState(id, rb.StateMonitoring)
	if fx.Deploys() != 2 {
		t.Fatalf("deploys = %d, want 2 (staging, production)", fx.Deploys())
	}
}

func TestEmergencyDuringAFreezeIsBreakGlassAndAudited(t *testing.T) {
	h := newHarness(t, newExec())
	h.DeployTo("v1", "staging")
	freezeProduction(h, day(30, 0, 0), day(32, 0, 0), "holidays")

	msg := h.Refused("bob", `/deploy demo v1 production --emergency --reason "checkout down"`)
	if msg != "an emergency deploy during the production freeze needs the break-glass role (roles.break-glass in Shipmate's configuration)" {
		t.Fatalf("emergency without break-glass: %q", msg)
	}
	id := h.Must("ivan", `/deploy demo v1 production --emergency --reason "payments outage INC-42"`)
	var audited bool
	for _, ev := range h.Events(id) {
		if ev.Type == rb.EvEmergency && ev.Actor.ID == "ivan" &&
			ev.Detail == `deploy during freeze "holidays" (until Wed 2026-12-02 00:00 UTC): payments outage INC-42` {
			audited = true
		}
	}
	if !audited {
		t.Fatalf("no audit event for the override: %+v", h.Events(id))
	}
	// The override holds for this freeze when the run starts: it still
	// needs its checklist and a release manager, then runs now.
	h.TickAll("ivan", id)
	if err := h.Act("rita", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.WantState(id, rb.StateMonitoring)
}

// An emergency that overrode a closed window says nothing about a freeze
// that begins later: the run waits for that freeze to end.
func TestWindowEmergencyDoesNotCarryIntoALaterFreeze(t *testing.T) {
	h := newHarness(t, newExec())
	h.DeployTo("v1", "staging")
	h.Clock.Set(time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)) // Friday evening, window closed
	id := h.Must("ivan", `/deploy demo v1 production --emergency --reason "fix INC-7"`)
	h.TickAll("ivan", id)
	freezeProduction(h, time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC), time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC), "network maintenance")
	h.Clock.Set(time.Date(2026, 12, 4, 19, 30, 0, 0, time.UTC))
	if err := h.Act("rita", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	contains(t, h.WantState(id, rb.StateApproved).Note, "waiting for the end of the production freeze (network maintenance)")
	h.Clock.Set(time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	h.Tick()
	h.WantState(id, rb.StateMonitoring)
}

func TestRollbacksAreNotFrozen(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	for _, v := range []string{"v1", "v2"} {
		h.DeployTo(v, "staging")
		id := h.DeployTo(v, "production")
		h.Clock.Add(31 * time.Minute)
		h.Tick()
		h.WantState(id, rb.StateSucceeded)
	}
	freezeProduction(h, h.Clock.Now().Add(-time.Hour), h.Clock.Now().Add(24*time.Hour), "holidays")
	id := h.Must("rita", "/rollback demo production")
	h.WantState(id, rb.StateRolledBack)
	if j := fx.LastJob(); j.Action != rb.ActionRollback || j.Version != "v1" {
		t.Fatalf("last job %+v, want the rollback to v1", j)
	}
}

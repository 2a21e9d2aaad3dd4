package runbook_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	rb "shipmate/internal/runbook"
)

// newShopHarness is a harness with a second app, "shop", deployed by the
// same fake executor.
func newShopHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, nil, func(c *rb.Config) {
		c.Policy.Apps["shop"] = rb.App{Name: "shop", Executor: "fake"}
		c.Executors["shop"] = c.Executors["demo"]
	})
}

// liveInProduction takes demo through staging and production at each
// version, each production run monitored to its end.
func liveInProduction(h *harness, versions ...string) {
	h.T.Helper()
	for _, v := range versions {
		h.DeployTo(v, "staging")
		id := h.DeployTo(v, "production")
		h.Clock.Add(31 * time.Minute)
		h.Tick()
		h.WantState(id, rb.StateSucceeded)
	}
}

// event returns the first event of run id of type typ, failing the test
// when there is none.
func (h *harness) event(id uint64, typ string) rb.Event {
	h.T.Helper()
	for _, ev := range h.Events(id) {
		if ev.Type == typ {
			return ev
		}
	}
	h.T.Fatalf("run #%d has no %s event: %+v", id, typ, h.Events(id))
	return rb.Event{}
}

func TestRollbackFromAnotherChannelFreezesThatAppThere(t *testing.T) {
	h := newShopHarness(t)
	liveInProduction(h, "v1", "v2")
	v2 := uint64(4) // staging v1, production v1, staging v2, production v2

	rep, err := h.DoIn("incident-42", "ivan", `/rollback demo production --reason "checkout errors"`)
	if err != nil {
		t.Fatal(err)
	}
	h.Settle()
	contains(t, rep.Text, "Deploys of demo to production are frozen until /deploy unfreeze demo production.")
	h.WantState(rep.RunID, rb.StateRolledBack)
	frozenAt := h.Clock.Now()

	want := fmt.Sprintf(`demo in production is frozen since %s, when ivan rolled it back in run #%d during an incident ("checkout errors"). /deploy unfreeze demo production lifts it`,
		frozenAt.Format("Mon 2006-01-02 15:04 UTC"), rep.RunID)
	h.DeployTo("v3", "staging")
	if msg := h.Refused("bob", "/deploy demo v3 production"); msg != want {
		t.Fatalf("deploy while frozen:\n got %q\nwant %q", msg, want)
	}
	status, err := h.Do("bob", "/deploy status")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, status.Text, "• "+want)
	ev := h.event(rep.RunID, rb.EvFreeze)
	if ev.Actor == nil || ev.Actor.ID != "ivan" || !ev.At.Equal(frozenAt) ||
		ev.Detail != fmt.Sprintf("deploys of demo to production frozen until /deploy unfreeze: the rollback was asked for in incident-42, not in general where run #%d was asked for", v2) {
		t.Fatalf("freeze audit: %+v", ev)
	}

	// Another app in production, and demo elsewhere, are not frozen.
	shop := h.Must("bob", "/deploy shop v1 staging")
	h.TickAll("alice", shop)
	if err := h.Act("alice", shop, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.WantState(h.Must("bob", "/deploy shop v1 production"), rb.StateChecklist)
	h.WantState(h.Must("bob", "/deploy demo v4 staging"), rb.StateChecklist)
}

// --incident freezes even from the deployment's own channel; here the run
// is rolled back in place while it is monitored.
func TestIncidentFlagFreezesFromTheSameChannel(t *testing.T) {
	h := newHarness(t, newExec())
	liveInProduction(h, "v1")
	h.DeployTo("v2", "staging")
	id := h.DeployTo("v2", "production")
	h.WantState(id, rb.StateMonitoring)

	rep, err := h.Do("rita", `/rollback demo production --incident --reason "latency"`)
	if err != nil {
		t.Fatal(err)
	}
	h.Settle()
	contains(t, rep.Text, "Deploys of demo to production are frozen until /deploy unfreeze demo production.")
	h.WantState(id, rb.StateRolledBack)
	contains(t, h.Refused("bob", "/deploy demo v2 production"),
		fmt.Sprintf(`when rita rolled it back in run #%d during an incident ("latency")`, id))
	if ev := h.event(id, rb.EvFreeze); !strings.HasSuffix(ev.Detail, "the rollback was asked for with --incident") {
		t.Fatalf("freeze audit: %+v", ev)
	}
}

// A rollback in the release channel, without --incident, freezes nothing.
func TestRollbackInTheDeploymentsChannelDoesNotFreeze(t *testing.T) {
	h := newHarness(t, newExec())
	liveInProduction(h, "v1", "v2")
	rep, err := h.Do("rita", "/rollback demo production")
	if err != nil {
		t.Fatal(err)
	}
	h.Settle()
	if strings.Contains(rep.Text, "frozen") {
		t.Fatalf("rollback reply %q", rep.Text)
	}
	h.DeployTo("v3", "staging")
	h.WantState(h.Must("bob", "/deploy demo v3 production"), rb.StateChecklist)
}

func TestUnfreezeIsForRollbackOwnersAndBreakGlass(t *testing.T) {
	h := newHarness(t, newExec())
	liveInProduction(h, "v1", "v2")
	rep, err := h.DoIn("incident-7", "ivan", "/rollback demo production")
	if err != nil {
		t.Fatal(err)
	}
	h.Settle()
	frozenSince := h.Clock.Now()
	h.Clock.Add(2 * time.Hour)

	msg := h.Refused("alice", "/deploy unfreeze demo production")
	if msg != "you may not unfreeze demo in production: that is for incident-response or release-manager or break-glass" {
		t.Fatalf("unfreeze by a tech lead: %q", msg)
	}
	// An approver may lift a lock, but a freeze is not a lock.
	contains(t, h.Refused("rick", "/deploy unlock demo production"),
		"demo in production is frozen after an incident, not locked: /deploy unfreeze demo production lifts it")
	contains(t, h.Refused("bob", "/deploy demo v2 production"), "is frozen since")

	got, err := h.Do("rita", "/deploy unfreeze demo production")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("demo is unfrozen in production by rita (frozen since %s, when ivan rolled it back in run #%d).",
		frozenSince.Format("Mon 2006-01-02 15:04 UTC"), rep.RunID)
	if got.Text != want {
		t.Fatalf("unfreeze reply:\n got %q\nwant %q", got.Text, want)
	}
	ev := h.event(rep.RunID, rb.EvUnfreeze)
	if ev.Actor == nil || ev.Actor.ID != "rita" || !ev.At.Equal(h.Clock.Now()) {
		t.Fatalf("unfreeze audit: %+v", ev)
	}
	contains(t, h.Refused("rita", "/deploy unfreeze demo production"), "demo is not frozen in production")
	h.WantState(h.Must("bob", "/deploy demo v2 production"), rb.StateChecklist)
}

// Rolling back further during an incident is not stopped by the freeze the
// first rollback placed, and the freeze stays as it was.
func TestRollbackGoesThroughAnIncidentFreeze(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	liveInProduction(h, "v1", "v2", "v3")
	first, err := h.DoIn("incident-9", "ivan", `/rollback demo production --reason "errors"`)
	if err != nil {
		t.Fatal(err)
	}
	h.Settle()
	h.Clock.Add(10 * time.Minute)
	second, err := h.DoIn("incident-9", "ivan", `/rollback demo production --reason "still errors"`)
	if err != nil {
		t.Fatal(err)
	}
	h.Settle()
	h.WantState(second.RunID, rb.StateRolledBack)
	if j := fx.LastJob(); j.Version != "v1" {
		t.Fatalf("second rollback went to %s, want v1", j.Version)
	}
	contains(t, h.Refused("bob", "/deploy demo v3 production"),
		fmt.Sprintf(`when ivan rolled it back in run #%d during an incident ("errors")`, first.RunID))
}

// A deploy approved and waiting when its app is frozen does not start
// until the freeze is lifted, as a freeze placed by another replica at
// the moment the run was approved would have it.
func TestApprovedRunWaitsForUnfreeze(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	h.DeployTo("v1", "staging")
	h.Clock.Set(time.Date(2026, 12, 3, 15, 50, 0, 0, time.UTC)) // Thursday, 10 minutes of window left
	id := h.Must("bob", "/deploy demo v1 production")
	h.TickAll("bob", id)
	h.Clock.Set(time.Date(2026, 12, 3, 16, 5, 0, 0, time.UTC)) // approved after: waits for Monday's window
	if err := h.Act("rita", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.WantState(id, rb.StateApproved)
	freeze := rb.Lock{App: "demo", Env: "production", Holder: user("ivan"), Since: h.Clock.Now(), IncidentRun: id}
	if err := h.Store.Hold(context.Background(), freeze); err != nil {
		t.Fatal(err)
	}
	h.Clock.Set(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	h.Tick()
	contains(t, h.WantState(id, rb.StateApproved).Note, "approved; waiting: demo in production is frozen since")
	if _, err := h.Do("ivan", "/deploy unfreeze demo production"); err != nil {
		t.Fatal(err)
	}
	h.Tick()
	h.WantState(id, rb.StateMonitoring)
}

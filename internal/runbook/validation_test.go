package runbook_test

import (
	"strings"
	"testing"
	"time"

	rb "shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// withValidation gives production the handbook's post-deployment
// validation list.
func withValidation(h *harness) {
	h.Policy.Validation = map[string]string{
		"health": "Health checks passing", "errors": "No error spikes in logs", "latency": "Response times normal",
	}
	for i := range h.Policy.Envs {
		if h.Policy.Envs[i].Name == "production" {
			h.Policy.Envs[i].Validation = []string{"health", "errors", "latency"}
		}
	}
}

// monitored takes v through staging to production and returns the
// production run, monitoring.
func monitored(h *harness, v string) uint64 {
	h.T.Helper()
	h.DeployTo(v, "staging")
	h.Settle()
	id := h.DeployTo(v, "production")
	h.Settle()
	h.WantState(id, rb.StateMonitoring)
	return id
}

// While monitored, the message shows the validation to tick; the window's
// end does not make the run a success while items are open: the channel
// is told once, health checks go on, and the last tick ends the run.
func TestValidationHoldsSuccessUntilConfirmed(t *testing.T) {
	fx := newExec(runbooktest.Verify, runbooktest.Health)
	h := newHarness(t, fx)
	withValidation(h)
	id := monitored(h, "v1")

	m := h.Chat.Message(h.Run(id).Origin.MessageRef)
	if m.ItemsTitle != "Post-deployment validation" || len(m.Items) != 3 || !m.Items[0].Editable || m.Items[0].Key != "health" {
		t.Fatalf("monitoring message lists %q %+v, want the 3 validation items to tick", m.ItemsTitle, m.Items)
	}
	if err := h.Act("bob", id, rb.ButtonTick, "health"); err != nil {
		t.Fatal(err)
	}
	if err := h.Act("rita", id, rb.ButtonTick, "errors"); err != nil {
		t.Fatal(err)
	}
	if err := h.Act("rita", id, rb.ButtonTick, "merged"); rb.ErrorCode(err) != rb.EInvalid {
		t.Fatalf("ticking a checklist item while monitoring: %v, want invalid", err)
	}

	h.Clock.Add(31 * time.Minute)
	h.Tick()
	h.Tick()
	h.WantState(id, rb.StateMonitoring)
	r := h.Run(id)
	if !r.AwaitingValidation {
		t.Fatal("the run does not say it waits for validation")
	}
	told := h.Chat.Notices()
	if len(told) != 1 || !containsAll(told[0], "monitoring showed no problem", "still has 1 open: Response times normal") {
		t.Fatalf("notices %q, want one saying what is open", told)
	}
	healths := fx.Calls(runbooktest.StepHealth)
	h.Clock.Add(5 * time.Minute)
	h.Tick()
	h.Settle()
	if fx.Calls(runbooktest.StepHealth) == healths {
		t.Error("no health check while waiting for the validation")
	}

	if err := h.Act("alice", id, rb.ButtonTick, "latency"); err != nil {
		t.Fatal(err)
	}
	h.WantState(id, rb.StateSucceeded)
	r = h.Run(id)
	if !containsAll(r.Note, "demo v1 is live in production; its post-deployment validation is complete; validated by bob, rita, alice") {
		t.Fatalf("note %q", r.Note)
	}
	for _, it := range r.Validation {
		if !it.Done || it.By == nil || it.At.IsZero() {
			t.Errorf("item %s: %+v, want ticked with who and when", it.Key, it)
		}
	}
	h.Settle()
	// The finished run's message shows the validation as it ended.
	m = h.Chat.Message(r.Origin.MessageRef)
	if m.ItemsTitle != "Post-deployment validation" || len(m.Items) != 3 || m.Items[2].Editable || !m.Items[2].Done || m.Items[2].By != "alice" {
		t.Errorf("final message lists %q %+v, want the confirmed validation, read-only", m.ItemsTitle, m.Items)
	}
}

// Items ticked during the window let it end as a success at once.
func TestValidationConfirmedWithinTheWindow(t *testing.T) {
	fx := newExec(runbooktest.Verify, runbooktest.Health)
	h := newHarness(t, fx)
	withValidation(h)
	id := monitored(h, "v1")
	for _, k := range []string{"health", "errors", "latency"} {
		if err := h.Act("bob", id, rb.ButtonTick, k); err != nil {
			t.Fatal(err)
		}
	}
	h.WantState(id, rb.StateMonitoring) // the window is not over
	h.Clock.Add(31 * time.Minute)
	h.Tick()
	h.WantState(id, rb.StateSucceeded)
	if len(h.Chat.Notices()) != 0 {
		t.Errorf("notices %q, want none", h.Chat.Notices())
	}
}

// End monitoring finishes the run with what is open named in its note;
// people outside the environment's roles cannot tick; a restart keeps the
// ticks and the wait.
func TestValidationEndMonitoringAndRestart(t *testing.T) {
	fx := newExec(runbooktest.Verify, runbooktest.Health)
	h := newHarness(t, fx)
	withValidation(h)
	id := monitored(h, "v1")
	if err := h.Act("carol", id, rb.ButtonTick, "health"); rb.ErrorCode(err) != rb.EForbidden ||
		!strings.Contains(err.Error(), "may tick the production post-deployment validation") {
		t.Fatalf("tick by a stranger: %v, want forbidden", err)
	}
	if err := h.Act("bob", id, rb.ButtonTick, "health"); err != nil {
		t.Fatal(err)
	}
	h.Clock.Add(31 * time.Minute)
	h.Tick()
	h.Restart()
	h.Settle()
	h.Tick()
	h.WantState(id, rb.StateMonitoring)
	if r := h.Run(id); !r.AwaitingValidation || !r.Validation[0].Done {
		t.Fatalf("after a restart: %+v", r)
	}
	if err := h.Act("rita", id, rb.ButtonCancel, ""); err != nil {
		t.Fatal(err)
	}
	h.WantState(id, rb.StateSucceeded)
	if r := h.Run(id); !containsAll(r.Note, "monitoring ended by rita", "post-deployment validation left open: No error spikes in logs; Response times normal") {
		t.Fatalf("note %q", r.Note)
	}
}

// An environment with validation but no monitoring window waits for the
// validation alone.
func TestValidationWithoutWindow(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	h.Policy.Validation = map[string]string{"smoke": "User-facing features working"}
	h.Policy.Envs[0].Validation = []string{"smoke"}
	id := h.DeployTo("v1", "development")
	h.Settle()
	h.WantState(id, rb.StateMonitoring)
	if r := h.Run(id); !containsAll(r.Note, "waiting for the post-deployment validation (User-facing features working)") {
		t.Fatalf("note %q", r.Note)
	}
	if err := h.Act("bob", id, rb.ButtonTick, "smoke"); err != nil {
		t.Fatal(err)
	}
	h.WantState(id, rb.StateSucceeded)
}

// containsAll reports whether s holds every one of parts.
func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

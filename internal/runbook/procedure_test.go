package runbook_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	rb "shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// newProcedureHarness follows the rollback procedure in production, with
// irene as incident commander and a drain step that records its job.
func newProcedureHarness(t *testing.T) (*harness, *[]rb.Job) {
	t.Helper()
	x := newExec(runbooktest.Verify)
	var drained []rb.Job
	x.DrainFunc = func(_ context.Context, j rb.Job, p rb.Progress) error {
		drained = append(drained, j)
		p("load balancer: demo drained")
		return nil
	}
	h := newHarnessWith(t, x, func(c *rb.Config) {
		runbooktest.WithEnv("production", func(e *rb.Environment) { e.RollbackProcedure = true })(c.Policy)
		runbooktest.WithRole(rb.RoleIncidentCommander, "web", "irene")(c.Policy)
	})
	return h, &drained
}

// procItems returns the procedure of run id by key.
func procItems(h *harness, id uint64) map[string]rb.CheckItem {
	out := map[string]rb.CheckItem{}
	for _, it := range h.Run(id).Procedure {
		out[it.Key] = it
	}
	return out
}

func TestRollbackProcedureInOrder(t *testing.T) {
	h, drained := newProcedureHarness(t)
	liveInProduction(h, "v1", "v2")
	verifies := h.Exec.Calls(runbooktest.StepVerify)

	rep, err := h.Do("ivan", `/rollback demo production --reason "checkout errors"`)
	if err != nil {
		t.Fatal(err)
	}
	h.Settle()
	id := rep.RunID
	contains(t, rep.Text, "rollback procedure")
	r := h.WantState(id, rb.StateProcedure)
	if h.Exec.Rollbacks() != 0 {
		t.Fatal("rolled back before the assessment")
	}
	var labels []string
	for _, it := range r.Procedure {
		labels = append(labels, it.Label)
	}
	want := "Assess whether rollback is safe|Notify incident commander|Stop incoming requests if possible|Trigger automated rollback|Validate rollback success|Restore from backup if needed|Document incident"
	if got := strings.Join(labels, "|"); got != want {
		t.Fatalf("procedure:\n got %s\nwant %s", got, want)
	}
	contains(t, r.Procedure[0].Detail, "rolls back v2 → v1; runs since v1: #4 deploy v2 (succeeded)")
	m := h.Chat.Message(r.Origin.MessageRef)
	if m.ItemsTitle != "Rollback procedure" || !m.Items[0].Editable || m.Items[5].Editable {
		t.Fatalf("message shows %q, editable: assess %v, restore %v", m.ItemsTitle, m.Items[0].Editable, m.Items[5].Editable)
	}

	// bob is no rollback owner of production: refused, nothing changes.
	before := h.Run(id)
	err = h.Act("bob", id, rb.ButtonTick, rb.ProcAssess)
	if rb.ErrorCode(err) != rb.EForbidden {
		t.Fatalf("bob's tick: %v, want forbidden", err)
	}
	contains(t, err.Error(), "only incident-response or release-manager or break-glass may take the steps of the rollback procedure")
	if after := h.Run(id); after.Rev != before.Rev || after.Procedure[0].Done {
		t.Fatal("a refused tick changed the run")
	}
	// The procedure goes in order.
	err = h.Act("rita", id, rb.ButtonTick, rb.ProcRestore)
	if rb.ErrorCode(err) != rb.EPolicy {
		t.Fatalf("restore before assessment: %v, want refused", err)
	}

	if err := h.Act("ivan", id, rb.ButtonTick, rb.ProcAssess); err != nil {
		t.Fatal(err)
	}
	r = h.WantState(id, rb.StateProcedure)
	items := procItems(h, id)
	if it := items[rb.ProcAssess]; !it.Done || it.By.ID != "ivan" || !it.At.Equal(h.Clock.Now()) {
		t.Fatalf("assessment: %+v", it)
	}
	for _, k := range []string{rb.ProcNotify, rb.ProcDrain, rb.ProcRollback, rb.ProcValidate} {
		if it := items[k]; !it.Done || it.By == nil || it.By.ID != "shipmate" {
			t.Fatalf("%s not done by Shipmate: %+v", k, it)
		}
	}
	if items[rb.ProcRestore].Done || items[rb.ProcDocument].Done {
		t.Fatal("the procedure went past restore without a rollback owner")
	}
	// irene is a member on the run's chat: mentioned, not written into
	// the text, where a chat would escape a mention.
	notice, ok := icNotice(h)
	if !ok {
		t.Fatalf("no notice to the incident commander among %q", h.Chat.Notices())
	}
	contains(t, notice.Text, "Incident commander: ivan is rolling demo in production back from v2 to v1")
	if want := []rb.Mention{{Platform: "web", ID: "irene", Name: "irene"}}; !reflect.DeepEqual(notice.Mentions, want) {
		t.Fatalf("notice mentions %+v, want %+v", notice.Mentions, want)
	}
	contains(t, items[rb.ProcNotify].Detail, "notified: irene")
	if len(*drained) != 1 || (*drained)[0].Version != "v1" || (*drained)[0].PreviousVersion != "v2" {
		t.Fatalf("drain jobs: %+v", *drained)
	}
	contains(t, items[rb.ProcDrain].Detail, "load balancer: demo drained")
	if h.Exec.Rollbacks() != 1 || h.Exec.Calls(runbooktest.StepVerify) != verifies+1 {
		t.Fatalf("rollbacks %d, verifies %d; want 1 each", h.Exec.Rollbacks(), h.Exec.Calls(runbooktest.StepVerify)-verifies)
	}

	// A restart mid-procedure resumes exactly there: nothing runs again.
	h.Restart()
	h.Settle()
	h.WantState(id, rb.StateProcedure)
	if h.Exec.Rollbacks() != 1 || h.Exec.Calls(runbooktest.StepVerify) != verifies+1 || len(*drained) != 1 {
		t.Fatal("a restart ran a step of the procedure again")
	}
	if err := h.Act("rita", id, rb.ButtonTick, rb.ProcRestore); err != nil {
		t.Fatal(err)
	}
	r = h.WantState(id, rb.StateRolledBack)
	if it := procItems(h, id)[rb.ProcDocument]; !it.Done {
		t.Fatalf("incident not documented: %+v", it)
	}
	var record string
	for _, rep := range h.Chat.Replies() {
		if rep.Ref == r.Origin.MessageRef {
			record = rep.M.Text
		}
	}
	for _, want := range []string{"# Incident record: rollback #5 of demo in production", "**Rolled back:** v2 → v1",
		"1. [x] Assess whether rollback is safe — ivan", "6. [x] Restore from backup if needed — rita",
		"## Timeline", "| #4 | bob | deploy demo v2 to production |", "| #5 | ivan | roll back demo in production from v2 to v1", "| #5 | rita | ticked \"Restore from backup if needed\" (rollback procedure) |"} {
		contains(t, record, want)
	}
	// The record is written once the procedure is recorded as complete:
	// the one posted shows its last item and the end, as export does.
	md, err := rb.IncidentRecord(context.Background(), h.Store, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{record, md} {
		contains(t, doc, "7. [x] Document incident — Shipmate")
		contains(t, doc, "rollback procedure → rolled back: rolled back to v1; rollback procedure complete")
	}
}

func TestRollbackWithoutProcedureIsOneStep(t *testing.T) {
	h, drained := newProcedureHarness(t)
	h.DeployTo("v1", "staging")
	h.DeployTo("v2", "staging")
	rep, err := h.Do("dan", "/rollback demo staging")
	if err != nil {
		t.Fatal(err)
	}
	h.Settle()
	r := h.WantState(rep.RunID, rb.StateRolledBack)
	if len(r.Procedure) != 0 || len(*drained) != 0 || h.Exec.Rollbacks() != 1 {
		t.Fatalf("staging rollback: procedure %v, drains %d, rollbacks %d", r.Procedure, len(*drained), h.Exec.Rollbacks())
	}
	if _, err := rb.IncidentRecord(context.Background(), h.Store, 1); rb.ErrorCode(err) != rb.EInvalid {
		t.Fatal("an incident record of a deployment")
	}
}

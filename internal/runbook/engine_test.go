package runbook_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	rb "shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

func TestDevelopmentDeploysAtOnce(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	id := h.Must("bob", "/deploy demo v1.0.0 to dev")
	h.WantState(id, rb.StateSucceeded)
	if n := fx.Deploys(); n != 1 {
		t.Fatalf("deploys = %d, want 1", n)
	}
	j := fx.LastJob()
	if j.App != "demo" || j.Version != "v1.0.0" || j.Env != "development" || j.Requester != "bob" {
		t.Fatalf("job = %+v", j)
	}
	// The run's message was posted and then edited in place to its result.
	m := h.Chat.Message(h.Run(id).Origin.MessageRef)
	if m.State != rb.StateSucceeded || m.Tone != rb.ToneSuccess {
		t.Fatalf("message shows %s/%s, want succeeded", m.State, m.Tone)
	}
	if len(h.Chat.Posts()) != 1 {
		t.Fatalf("posted %d messages for one run, want 1 edited in place", len(h.Chat.Posts()))
	}
	rep, err := h.Do("bob", "/deploy whereis demo")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, rep.Text, "development: v1.0.0")
	// The step output is in the audit trail.
	var sawOutput bool
	for _, ev := range h.Events(id) {
		if ev.Type == rb.EvOutput && ev.Detail == "deploy: demo v1.0.0 runs in development" {
			sawOutput = true
		}
	}
	if !sawOutput {
		t.Fatalf("step output missing from events: %+v", h.Events(id))
	}
}

func TestStagingNeedsChecklistThenTechLead(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	id := h.Must("bob", "/deploy demo v1 stg")
	h.WantState(id, rb.StateChecklist)

	// Approval before the checklist is complete is refused, by rule.
	err := h.Act("alice", id, rb.ButtonApprove, "")
	contains(t, rb.ErrorMessage(err), "can't be approved yet: 4 of 4 checklist items are open")

	// Only deployers and approvers may tick; ticks are recorded by name.
	err = h.Act("mallory", id, rb.ButtonTick, "merged")
	if rb.ErrorCode(err) != rb.EForbidden {
		t.Fatalf("stranger ticking: %v", err)
	}
	h.TickAll("alice", id)
	r := h.Run(id)
	if r.State != rb.StateAwaitingApproval {
		t.Fatalf("after ticking all items: %s", r.State)
	}
	for _, it := range r.Checklist {
		if !it.Done || it.By == nil || it.By.ID != "alice" || !it.At.Equal(runbooktest.Monday10) {
			t.Fatalf("item %s not recorded as ticked by alice now: %+v", it.Key, it)
		}
	}
	// bob is no tech lead.
	err = h.Act("bob", id, rb.ButtonApprove, "")
	contains(t, rb.ErrorMessage(err), "only tech-lead may approve staging deployments")
	if fx.Deploys() != 0 {
		t.Fatal("deployed before approval")
	}
	if err := h.Act("alice", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.WantState(id, rb.StateSucceeded)
	if n := fx.Deploys(); n != 1 {
		t.Fatalf("deploys = %d", n)
	}
	// A second approval of a finished run changes nothing.
	err = h.Act("alice", id, rb.ButtonApprove, "")
	contains(t, rb.ErrorMessage(err), "nothing to approve")
}

func TestUntickingVoidsApprovalsAndReopensChecklist(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	h.Policy.Envs[1].Approval.Count = 2
	h.Policy.Roles["tech-lead"].Members["web"] = []string{"alice", "dan"}
	id := h.Must("bob", "/deploy demo v1 staging")
	h.TickAll("bob", id)
	if err := h.Act("alice", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	if err := h.Act("alice", id, rb.ButtonApprove, ""); rb.ErrorMessage(err) != "you already approved run #1" {
		t.Fatalf("double approval: %v", err)
	}
	if err := h.Act("bob", id, rb.ButtonUntick, "tests"); err != nil {
		t.Fatal(err)
	}
	r := h.Run(id)
	if r.State != rb.StateChecklist || len(r.Approvals) != 0 {
		t.Fatalf("after untick: %s with %d approvals", r.State, len(r.Approvals))
	}
	h.TickAll("bob", id)
	for _, who := range []string{"alice", "dan"} {
		if err := h.Act(who, id, rb.ButtonApprove, ""); err != nil {
			t.Fatal(err)
		}
	}
	h.WantState(id, rb.StateSucceeded)
}

func TestProductionRules(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)

	// Staging first.
	msg := h.Refused("bob", "/deploy demo v2 prod")
	if msg != "demo v2 has not succeeded in staging yet: production deploys require it there first" {
		t.Fatalf("staging-first refusal: %q", msg)
	}
	h.DeployTo("v2", "staging")

	// Self-approval is refused in production.
	id := h.Must("rita", "/deploy demo v2 production")
	h.TickAll("rita", id)
	err := h.Act("rita", id, rb.ButtonApprove, "")
	contains(t, rb.ErrorMessage(err), "you requested run #2: in production someone else with the release-manager role must approve it")
	// Non release managers may not approve.
	err = h.Act("alice", id, rb.ButtonApprove, "")
	contains(t, rb.ErrorMessage(err), "only release-manager may approve production deployments")
	if err := h.Act("rick", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	r := h.Run(id)
	if r.State != rb.StateMonitoring {
		t.Fatalf("state %s (%s), want monitoring", r.State, r.Note)
	}
	if !r.MonitorUntil.Equal(runbooktest.Monday10.Add(30 * time.Minute)) {
		t.Fatalf("monitor until %s", r.MonitorUntil)
	}
	if a := r.Approvals; len(a) != 1 || a[0].By.ID != "rick" || a[0].Artifact != "v2" {
		t.Fatalf("approvals %+v", a)
	}
	// The lock is held while monitoring; the window ends monitoring.
	contains(t, h.Refused("bob", "/deploy demo v2 prod"), "demo in production is busy: run #2 by rita")
	h.Clock.Add(31 * time.Minute)
	h.Tick()
	h.WantState(id, rb.StateSucceeded)
}

func TestWindowRefusalAndAuditedEmergency(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	h.DeployTo("v1", "staging")
	h.Clock.Set(time.Date(2026, 12, 4, 18, 30, 0, 0, time.UTC)) // Friday evening

	msg := h.Refused("bob", "/deploy demo v1 production")
	want := "production is closed for deployments now; it allows Mon-Thu 09:00-16:00 UTC (next opens Mon 2026-12-07 09:00 UTC). In an emergency: --emergency --reason \"why\" (break-glass role)"
	if msg != want {
		t.Fatalf("window refusal:\n got %q\nwant %q", msg, want)
	}
	msg = h.Refused("bob", `/deploy demo v1 production --emergency --reason "checkout down"`)
	if msg != "an emergency deploy outside the production window needs the break-glass role (roles.break-glass in Shipmate's configuration)" {
		t.Fatalf("emergency without break-glass: %q", msg)
	}
	id := h.Must("ivan", `/deploy demo v1 production --emergency --reason "payments outage INC-42"`)
	r := h.Run(id)
	if !r.Emergency || r.State != rb.StateChecklist {
		t.Fatalf("emergency run: %+v", r)
	}
	var audited bool
	for _, ev := range h.Events(id) {
		if ev.Type == rb.EvEmergency && ev.Actor.ID == "ivan" && ev.Detail == "deploy outside window Mon-Thu 09:00-16:00 UTC: payments outage INC-42" {
			audited = true
		}
	}
	if !audited {
		t.Fatalf("no audit event for the override: %+v", h.Events(id))
	}
	// Still needs its checklist and a release manager; then it runs now.
	h.TickAll("ivan", id)
	if err := h.Act("rita", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.WantState(id, rb.StateMonitoring)
}

func TestApprovedRunWaitsForWindow(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	h.DeployTo("v1", "staging")
	h.Clock.Set(time.Date(2026, 12, 3, 15, 50, 0, 0, time.UTC)) // Thursday, 10 minutes left
	id := h.Must("bob", "/deploy demo v1 production")
	h.TickAll("bob", id)
	h.Clock.Set(time.Date(2026, 12, 3, 16, 5, 0, 0, time.UTC)) // window closed meanwhile
	if err := h.Act("rita", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	r := h.Run(id)
	if r.State != rb.StateApproved || fx.Deploys() != 1 {
		t.Fatalf("approved outside window: %s, %d deploys", r.State, fx.Deploys())
	}
	contains(t, r.Note, "waiting for the production deployment window (next opens Mon 2026-12-07 09:00 UTC)")
	h.Clock.Set(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	h.Tick()
	h.WantState(id, rb.StateMonitoring)
	if fx.Deploys() != 2 {
		t.Fatalf("deploys = %d, want 2 (staging, production)", fx.Deploys())
	}
}

func TestLocks(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	id := h.Must("bob", "/deploy demo v1 staging")

	// One active run per app and environment.
	msg := h.Refused("alice", "/deploy demo v2 staging")
	want := "demo in staging is busy: run #1 by bob since Mon 2026-11-30 10:00 UTC (run #1 is checklist). Wait for it, or /deploy cancel 1"
	if msg != want {
		t.Fatalf("lock conflict:\n got %q\nwant %q", msg, want)
	}
	// Other environments are free.
	h.Must("alice", "/deploy demo v2 dev")
	if _, err := h.Do("bob", "/deploy cancel 1"); err != nil {
		t.Fatal(err)
	}
	h.WantState(id, rb.StateCancelled)

	// Explicit locks, on one app or on all.
	if _, err := h.Do("rita", "/deploy lock demo staging release freeze"); err != nil {
		t.Fatal(err)
	}
	msg = h.Refused("bob", "/deploy demo v2 staging")
	if msg != `demo in staging is locked by rita since Mon 2026-11-30 10:00 UTC: "release freeze"` {
		t.Fatalf("explicit lock: %q", msg)
	}
	contains(t, h.Refused("alice", "/deploy lock demo staging"), "locked by rita")
	// A deployer cannot lift someone else's lock; staging's approver can.
	contains(t, h.Refused("bob", "/deploy unlock demo staging"), "only rita (who locked it) or tech-lead or devops may unlock demo in staging")
	if _, err := h.Do("alice", "/deploy unlock demo staging"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Do("dan", "/deploy lock all dev"); err != nil {
		t.Fatal(err)
	}
	contains(t, h.Refused("bob", "/deploy demo v3 dev"), "every app in development is locked by dan")
	rep, err := h.Do("bob", "/deploy status")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, rep.Text, "every app in development is locked by dan")
	if _, err := h.Do("dan", "/deploy unlock all dev"); err != nil {
		t.Fatal(err)
	}
	h.Must("bob", "/deploy demo v3 dev")
	contains(t, h.Refused("bob", "/deploy unlock demo dev"), "demo is not locked in development")
}

func TestPendingApprovalRemindsOnceThenExpires(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	id := h.Must("bob", "/deploy demo v1 staging")
	r := h.Run(id)
	if !r.ExpiresAt.Equal(runbooktest.Monday10.Add(24 * time.Hour)) {
		t.Fatalf("expires at %s", r.ExpiresAt)
	}
	h.Clock.Add(22 * time.Hour)
	h.Tick()
	if n := len(h.Chat.Notices()); n != 0 {
		t.Fatalf("reminder too early: %v", h.Chat.Notices())
	}
	h.Clock.Add(time.Hour + time.Minute)
	h.Tick()
	h.Tick()
	notes := h.Chat.Notices()
	if len(notes) != 1 {
		t.Fatalf("reminders = %v, want exactly one", notes)
	}
	contains(t, notes[0], "Reminder: run #1 (demo v1 → staging, requested by bob) still needs its checklist (4 open) and approval by tech-lead")
	h.Clock.Add(time.Hour)
	h.Tick()
	h.WantState(id, rb.StateExpired)
	// Expired runs release their lock.
	h.Must("bob", "/deploy demo v1 staging")
	if fx.Deploys() != 0 {
		t.Fatal("an expired run deployed")
	}
}

func TestApprovalIsCheckedAgainstExpiryAtClickTime(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	id := h.Must("bob", "/deploy demo v1 staging")
	h.TickAll("bob", id)
	h.Clock.Add(25 * time.Hour) // no Tick ran
	err := h.Act("alice", id, rb.ButtonApprove, "")
	contains(t, rb.ErrorMessage(err), "run #1 expired at")
	h.WantState(id, rb.StateExpired)
	if fx.Deploys() != 0 {
		t.Fatal("deployed an expired run")
	}
}

func TestApprovalVoidedWhenArtifactChanges(t *testing.T) {
	fx := newExec()
	fx.SetArtifact("sha256:aaa")
	h := newHarness(t, fx)
	id := h.Must("bob", "/deploy demo v1 staging")
	h.TickAll("bob", id)
	if a := h.Run(id).Artifact; a != "sha256:aaa" {
		t.Fatalf("artifact = %q", a)
	}
	// Someone re-pushes the tag before the deploy starts.
	fx.SetArtifact("sha256:bbb")
	if err := h.Act("alice", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	r := h.Run(id)
	if r.State != rb.StateAwaitingApproval || len(r.Approvals) != 0 || r.Artifact != "sha256:bbb" {
		t.Fatalf("after artifact change: %s, approvals %v, artifact %s", r.State, r.Approvals, r.Artifact)
	}
	contains(t, r.Note, "the artifact changed (sha256:aaa → sha256:bbb) after approval: approvals are void")
	if fx.Deploys() != 0 {
		t.Fatal("deployed an artifact nobody approved")
	}
	if err := h.Act("alice", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.WantState(id, rb.StateSucceeded)
	if j := fx.LastJob(); j.Artifact != "sha256:bbb" {
		t.Fatalf("deployed artifact %q", j.Artifact)
	}
}

func TestRollbackByOwners(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	h.Must("alice", "/deploy demo v1 dev")
	h.Must("bob", "/deploy demo v2 dev")

	// Development is self-service: only who deployed what runs now.
	msg := h.Refused("alice", "/rollback demo dev")
	if msg != "you may not roll back development: rollbacks there are for whoever requested the deployment" {
		t.Fatalf("non-owner rollback: %q", msg)
	}
	id := h.Must("bob", "/rollback demo dev --reason \"bad css\"")
	h.WantState(id, rb.StateRolledBack)
	j := fx.LastJob()
	if j.Action != rb.ActionRollback || j.Version != "v1" || j.PreviousVersion != "v2" {
		t.Fatalf("rollback job %+v", j)
	}
	rep, _ := h.Do("bob", "/deploy whereis demo")
	contains(t, rep.Text, "development: v1 (run #3")

	// Staging rollbacks belong to devops.
	h.DeployTo("v1", "staging")
	h.DeployTo("v2", "staging")
	contains(t, h.Refused("bob", "/rollback demo staging"), "rollbacks there are for devops")
	id = h.Must("dan", "/rollback demo staging")
	h.WantState(id, rb.StateRolledBack)
	if j := fx.LastJob(); j.Version != "v1" {
		t.Fatalf("rolled staging back to %s", j.Version)
	}
	// Going back further skips the version just rolled away from.
	contains(t, h.Refused("dan", "/rollback demo staging"), "there is no earlier good version than v1")
	contains(t, h.Refused("dan", "/rollback demo staging to v9"), "v9 never ran there successfully")
	contains(t, h.Refused("dan", "/rollback demo production"), "nothing of demo has been deployed to production")
}

func TestFailedDeployRollsBack(t *testing.T) {
	fx := newExec()
	fx.Fail("v2", "v0")
	h := newHarness(t, fx)

	// A first deploy that fails has nothing to go back to.
	id := h.Must("bob", "/deploy demo v0 dev")
	r := h.Run(id)
	if r.State != rb.StateFailed {
		t.Fatalf("state %s", r.State)
	}
	contains(t, r.Note, "deploying failed: health endpoint returned 503; nothing to roll back to")

	h.Must("bob", "/deploy demo v1 dev")
	id = h.Must("bob", "/deploy demo v2 dev")
	r = h.Run(id)
	if r.State != rb.StateRolledBack {
		t.Fatalf("state %s (%s)", r.State, r.Note)
	}
	var path []rb.State
	for _, ev := range h.Events(id) {
		if ev.Type == rb.EvTransition {
			path = append(path, ev.To)
		}
	}
	want := []rb.State{rb.StateApproved, rb.StateDeploying, rb.StateFailed, rb.StateRollingBack, rb.StateRolledBack}
	if len(path) != len(want) {
		t.Fatalf("path %v, want %v", path, want)
	}
	for i := range want {
		if path[i] != want[i] {
			t.Fatalf("path %v, want %v", path, want)
		}
	}
	if j := fx.LastJob(); j.Action != rb.ActionRollback || j.Version != "v1" || j.PreviousVersion != "v2" {
		t.Fatalf("rollback job %+v", j)
	}
	rep, _ := h.Do("bob", "/deploy whereis demo")
	contains(t, rep.Text, "development: v1 (run #3")
}

func TestMonitoringHealthFailureRollsBack(t *testing.T) {
	fx := newExec(runbooktest.Verify, runbooktest.Health)
	h := newHarness(t, fx)
	h.Policy.Envs[0].Monitor = 10 * time.Minute
	h.Policy.Envs[0].HealthEvery = time.Minute
	h.Must("bob", "/deploy demo v1 dev")
	h.Clock.Add(11 * time.Minute)
	h.Tick()
	id := h.Must("bob", "/deploy demo v2 dev")
	h.WantState(id, rb.StateMonitoring)
	if fx.Calls(runbooktest.StepVerify) != 2 {
		t.Fatalf("verifies = %d", fx.Calls(runbooktest.StepVerify))
	}
	h.Clock.Add(30 * time.Second)
	h.Tick()
	if fx.Calls(runbooktest.StepHealth) != 0 {
		t.Fatal("health checked before it was due")
	}
	fx.FailHealth(errors.New("p99 latency 2.3s over 500ms"))
	h.Clock.Add(time.Minute)
	h.Tick()
	r := h.Run(id)
	if r.State != rb.StateRolledBack {
		t.Fatalf("state %s (%s)", r.State, r.Note)
	}
	contains(t, r.Note, "rolled back to v1")
	var failure string
	for _, ev := range h.Events(id) {
		if ev.To == rb.StateFailed {
			failure = ev.Detail
		}
	}
	if failure != "monitoring failed: health check: p99 latency 2.3s over 500ms" {
		t.Fatalf("failure detail %q", failure)
	}
}

func TestCancelStopsRunningDeployAndRollsBack(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	h.Must("bob", "/deploy demo v1 dev")
	fx.Hold(runbooktest.StepDeploy, "", "")
	rollback := fx.Hold(runbooktest.StepRollback, "", "")
	rep, err := h.Do("bob", "/deploy demo v2 dev")
	if err != nil {
		t.Fatal(err)
	}
	if s := <-fx.Entered(); s != "deploy development v2" {
		t.Fatal(s)
	}
	h.WantState(rep.RunID, rb.StateDeploying)
	// Someone without a say cannot stop it.
	if _, err := h.Engine.Act(context.Background(), user("mallory"), rep.RunID, rb.ButtonCancel, ""); rb.ErrorCode(err) != rb.EForbidden {
		t.Fatalf("stranger cancel: %v", err)
	}
	if _, err := h.Do("bob", "/deploy cancel #2"); err != nil {
		t.Fatal(err)
	}
	if s := <-fx.Entered(); s != "rollback development v1" {
		t.Fatal(s)
	}
	rollback()
	h.Settle()
	r := h.Run(rep.RunID)
	if r.State != rb.StateRolledBack {
		t.Fatalf("state %s", r.State)
	}
	var failure string
	for _, ev := range h.Events(rep.RunID) {
		if ev.To == rb.StateFailed {
			failure = ev.Detail
		}
	}
	if failure != "deploying failed: cancelled by bob" {
		t.Fatalf("failure %q", failure)
	}
}

func TestMessageShowsChecklistAndButtons(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	id := h.Must("bob", "/deploy demo v1 staging")
	m := h.Chat.Message(h.Run(id).Origin.MessageRef)
	if m.Title != "#1 demo v1 → staging" || m.Status != "checklist" || len(m.Items) != 4 || !m.Items[0].Editable {
		t.Fatalf("message %+v", m)
	}
	if len(m.Buttons) != 3 || m.Buttons[0].Action != rb.ButtonApprove || m.Buttons[2].Action != rb.ButtonCancel {
		t.Fatalf("buttons while the checklist is open: %+v", m.Buttons)
	}
	h.TickAll("alice", id)
	m = h.Chat.Message(h.Run(id).Origin.MessageRef)
	if len(m.Buttons) != 3 || m.Buttons[0].Action != rb.ButtonApprove || m.Buttons[1].Confirm == "" {
		t.Fatalf("buttons awaiting approval: %+v", m.Buttons)
	}
	if !m.Items[0].Done || m.Items[0].By != "alice" {
		t.Fatalf("item %+v", m.Items[0])
	}
}

func TestRollbackFromIncidentChannelIsNotedInDeploymentThread(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	h.Must("bob", "/deploy demo v1 dev")
	v2 := h.Must("bob", "/deploy demo v2 dev")
	rep, err := h.DoIn("incident-42", "bob", `/rollback demo dev --reason "500s on checkout"`)
	if err != nil {
		t.Fatal(err)
	}
	h.Settle()
	h.WantState(rep.RunID, rb.StateRolledBack)
	rb3 := h.Run(rep.RunID)
	if rb3.Origin.Channel != "incident-42" || rb3.Origin.MessageRef == "" {
		t.Fatalf("the rollback's message is not in the incident channel: %+v", rb3.Origin)
	}
	replies := h.Chat.Replies()
	if len(replies) != 1 {
		t.Fatalf("thread notes = %+v, want one", replies)
	}
	note := replies[0]
	if note.Ref != h.Run(v2).Origin.MessageRef {
		t.Fatalf("note went under %s, want the v2 deployment's message", note.Ref)
	}
	contains(t, note.M.Text, "bob asked for rollback #3: demo in development back to v1: 500s on checkout")
	if note.M.Related == nil || note.M.Related.Channel != "incident-42" || note.M.Related.MessageRef != rb3.Origin.MessageRef {
		t.Fatalf("note points at %+v, want the rollback's message %+v", note.M.Related, rb3.Origin)
	}
}

// A role can be held through a group the request names (a Discord
// member's guild roles), with no resolver to ask.
func TestRoleThroughRequestGroups(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	h.Policy.Roles["tech-lead"] = rb.Role{Members: h.Policy.Roles["tech-lead"].Members,
		Groups: map[string][]string{"web": {"leads"}}}
	id := h.Must("bob", "/deploy demo v1 staging")
	h.TickAll("bob", id)
	carol := rb.User{Platform: "web", ID: "carol", Person: "carol"}
	if _, err := h.Engine.Act(context.Background(), carol, id, rb.ButtonApprove, ""); rb.ErrorCode(err) != rb.EForbidden {
		t.Fatalf("carol without the group: %v", err)
	}
	carol.Groups = []string{"qa", "leads"}
	if _, err := h.Engine.Act(context.Background(), carol, id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.Settle()
	h.WantState(id, rb.StateSucceeded)
}

// chatty prints many lines over time, so output reaches the chat in
// several flushes.
func chatty(ctx context.Context, j rb.Job, p rb.Progress) error {
	for i := range 60 {
		p(fmt.Sprintf("line %02d", i))
		if i%7 == 0 {
			time.Sleep(8 * time.Millisecond) // the harness flushes every 5ms
		}
	}
	return nil
}

// Chats that post output as it comes get each line exactly once, in order,
// however many updates carry it (and none from a message re-rendered from
// the stored run).
func TestStepOutputReachesChatOnce(t *testing.T) {
	fx := newExec()
	fx.DeployFunc = chatty
	h := newHarness(t, fx)
	id := h.Must("bob", "/deploy demo v1 dev")
	h.WantState(id, rb.StateSucceeded)
	got := h.Chat.NewLog()
	if len(got) != 60 {
		t.Fatalf("chat got %d new lines, want 60: %q", len(got), got)
	}
	for i, l := range got {
		if l != fmt.Sprintf("line %02d", i) {
			t.Fatalf("line %d is %q: out of order or repeated", i, l)
		}
	}
	if m := h.Chat.Message(h.Run(id).Origin.MessageRef); len(m.Log) != 12 || m.Log[11] != "line 59" {
		t.Fatalf("the message's tail = %q, want the last 12 lines", m.Log)
	}
}

package runbook_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	rb "shipmate/internal/runbook"
)

func TestDevelopmentDeploysAtOnce(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)
	id := h.must("bob", "/deploy demo v1.0.0 to dev")
	h.wantState(id, rb.StateSucceeded)
	if n := fx.deploys.Load(); n != 1 {
		t.Fatalf("deploys = %d, want 1", n)
	}
	j := fx.lastJob()
	if j.App != "demo" || j.Version != "v1.0.0" || j.Env != "development" || j.Requester != "bob" {
		t.Fatalf("job = %+v", j)
	}
	// The run's message was posted and then edited in place to its result.
	m := h.chat.message(h.run(id).Origin.MessageRef)
	if m.State != rb.StateSucceeded || m.Tone != rb.ToneSuccess {
		t.Fatalf("message shows %s/%s, want succeeded", m.State, m.Tone)
	}
	if len(h.chat.posts) != 1 {
		t.Fatalf("posted %d messages for one run, want 1 edited in place", len(h.chat.posts))
	}
	rep, err := h.do("bob", "/deploy whereis demo")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, rep.Text, "development: v1.0.0")
	// The step output is in the audit trail.
	var sawOutput bool
	for _, ev := range h.events(id) {
		if ev.Type == rb.EvOutput && ev.Detail == "deploy: deploy: done" {
			sawOutput = true
		}
	}
	if !sawOutput {
		t.Fatalf("step output missing from events: %+v", h.events(id))
	}
}

func TestStagingNeedsChecklistThenTechLead(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)
	id := h.must("bob", "/deploy demo v1 stg")
	h.wantState(id, rb.StateChecklist)

	// Approval before the checklist is complete is refused, by rule.
	err := h.act("alice", id, rb.ButtonApprove, "")
	contains(t, rb.ErrorMessage(err), "can't be approved yet: 4 of 4 checklist items are open")

	// Only deployers and approvers may tick; ticks are recorded by name.
	err = h.act("mallory", id, rb.ButtonTick, "merged")
	if rb.ErrorCode(err) != rb.EForbidden {
		t.Fatalf("stranger ticking: %v", err)
	}
	h.tickAll("alice", id)
	r := h.run(id)
	if r.State != rb.StateAwaitingApproval {
		t.Fatalf("after ticking all items: %s", r.State)
	}
	for _, it := range r.Checklist {
		if !it.Done || it.By == nil || it.By.ID != "alice" || !it.At.Equal(monday10) {
			t.Fatalf("item %s not recorded as ticked by alice now: %+v", it.Key, it)
		}
	}
	// bob is no tech lead.
	err = h.act("bob", id, rb.ButtonApprove, "")
	contains(t, rb.ErrorMessage(err), "only tech-lead may approve staging deployments")
	if fx.deploys.Load() != 0 {
		t.Fatal("deployed before approval")
	}
	if err := h.act("alice", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.wantState(id, rb.StateSucceeded)
	if n := fx.deploys.Load(); n != 1 {
		t.Fatalf("deploys = %d", n)
	}
	// A second approval of a finished run changes nothing.
	err = h.act("alice", id, rb.ButtonApprove, "")
	contains(t, rb.ErrorMessage(err), "nothing to approve")
}

func TestUntickingVoidsApprovalsAndReopensChecklist(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)
	h.policy.Envs[1].Approval.Count = 2
	h.policy.Roles["tech-lead"].Members["web"] = []string{"alice", "dan"}
	id := h.must("bob", "/deploy demo v1 staging")
	h.tickAll("bob", id)
	if err := h.act("alice", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	if err := h.act("alice", id, rb.ButtonApprove, ""); rb.ErrorMessage(err) != "you already approved run #1" {
		t.Fatalf("double approval: %v", err)
	}
	if err := h.act("bob", id, rb.ButtonUntick, "tests"); err != nil {
		t.Fatal(err)
	}
	r := h.run(id)
	if r.State != rb.StateChecklist || len(r.Approvals) != 0 {
		t.Fatalf("after untick: %s with %d approvals", r.State, len(r.Approvals))
	}
	h.tickAll("bob", id)
	for _, who := range []string{"alice", "dan"} {
		if err := h.act(who, id, rb.ButtonApprove, ""); err != nil {
			t.Fatal(err)
		}
	}
	h.wantState(id, rb.StateSucceeded)
}

func TestProductionRules(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)

	// Staging first.
	msg := h.refused("bob", "/deploy demo v2 prod")
	if msg != "demo v2 has not succeeded in staging yet: production deploys require it there first" {
		t.Fatalf("staging-first refusal: %q", msg)
	}
	h.deployTo("v2", "staging")

	// Self-approval is refused in production.
	id := h.must("rita", "/deploy demo v2 production")
	h.tickAll("rita", id)
	err := h.act("rita", id, rb.ButtonApprove, "")
	contains(t, rb.ErrorMessage(err), "you requested run #2: in production someone else with the release-manager role must approve it")
	// Non release managers may not approve.
	err = h.act("alice", id, rb.ButtonApprove, "")
	contains(t, rb.ErrorMessage(err), "only release-manager may approve production deployments")
	if err := h.act("rick", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	r := h.run(id)
	if r.State != rb.StateMonitoring {
		t.Fatalf("state %s (%s), want monitoring", r.State, r.Note)
	}
	if !r.MonitorUntil.Equal(monday10.Add(30 * time.Minute)) {
		t.Fatalf("monitor until %s", r.MonitorUntil)
	}
	if a := r.Approvals; len(a) != 1 || a[0].By.ID != "rick" || a[0].Artifact != "v2" {
		t.Fatalf("approvals %+v", a)
	}
	// The lock is held while monitoring; the window ends monitoring.
	contains(t, h.refused("bob", "/deploy demo v2 prod"), "demo in production is busy: run #2 by rita")
	h.clock.Add(31 * time.Minute)
	h.tick()
	h.wantState(id, rb.StateSucceeded)
}

func TestWindowRefusalAndAuditedEmergency(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)
	h.deployTo("v1", "staging")
	h.clock.Set(time.Date(2026, 12, 4, 18, 30, 0, 0, time.UTC)) // Friday evening

	msg := h.refused("bob", "/deploy demo v1 production")
	want := "production is closed for deployments now; it allows Mon-Thu 09:00-16:00 UTC (next opens Mon 2026-12-07 09:00 UTC). In an emergency: --emergency --reason \"why\" (break-glass role)"
	if msg != want {
		t.Fatalf("window refusal:\n got %q\nwant %q", msg, want)
	}
	msg = h.refused("bob", `/deploy demo v1 production --emergency --reason "checkout down"`)
	if msg != "an emergency deploy outside the production window needs the break-glass role" {
		t.Fatalf("emergency without break-glass: %q", msg)
	}
	id := h.must("ivan", `/deploy demo v1 production --emergency --reason "payments outage INC-42"`)
	r := h.run(id)
	if !r.Emergency || r.State != rb.StateChecklist {
		t.Fatalf("emergency run: %+v", r)
	}
	var audited bool
	for _, ev := range h.events(id) {
		if ev.Type == rb.EvEmergency && ev.Actor.ID == "ivan" && ev.Detail == "deploy outside window Mon-Thu 09:00-16:00 UTC: payments outage INC-42" {
			audited = true
		}
	}
	if !audited {
		t.Fatalf("no audit event for the override: %+v", h.events(id))
	}
	// Still needs its checklist and a release manager; then it runs now.
	h.tickAll("ivan", id)
	if err := h.act("rita", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.wantState(id, rb.StateMonitoring)
}

func TestApprovedRunWaitsForWindow(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)
	h.deployTo("v1", "staging")
	h.clock.Set(time.Date(2026, 12, 3, 15, 50, 0, 0, time.UTC)) // Thursday, 10 minutes left
	id := h.must("bob", "/deploy demo v1 production")
	h.tickAll("bob", id)
	h.clock.Set(time.Date(2026, 12, 3, 16, 5, 0, 0, time.UTC)) // window closed meanwhile
	if err := h.act("rita", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	r := h.run(id)
	if r.State != rb.StateApproved || fx.deploys.Load() != 1 {
		t.Fatalf("approved outside window: %s, %d deploys", r.State, fx.deploys.Load())
	}
	contains(t, r.Note, "waiting for the production deployment window (next opens Mon 2026-12-07 09:00 UTC)")
	h.clock.Set(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	h.tick()
	h.wantState(id, rb.StateMonitoring)
	if fx.deploys.Load() != 2 {
		t.Fatalf("deploys = %d, want 2 (staging, production)", fx.deploys.Load())
	}
}

func TestLocks(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)
	id := h.must("bob", "/deploy demo v1 staging")

	// One active run per app and environment.
	msg := h.refused("alice", "/deploy demo v2 staging")
	want := "demo in staging is busy: run #1 by bob since Mon 2026-11-30 10:00 UTC (run #1 is checklist). Wait for it, or /deploy cancel 1"
	if msg != want {
		t.Fatalf("lock conflict:\n got %q\nwant %q", msg, want)
	}
	// Other environments are free.
	h.must("alice", "/deploy demo v2 dev")
	if _, err := h.do("bob", "/deploy cancel 1"); err != nil {
		t.Fatal(err)
	}
	h.wantState(id, rb.StateCancelled)

	// Explicit locks, on one app or on all.
	if _, err := h.do("rita", "/deploy lock demo staging release freeze"); err != nil {
		t.Fatal(err)
	}
	msg = h.refused("bob", "/deploy demo v2 staging")
	if msg != `demo in staging is locked by rita since Mon 2026-11-30 10:00 UTC: "release freeze"` {
		t.Fatalf("explicit lock: %q", msg)
	}
	contains(t, h.refused("alice", "/deploy lock demo staging"), "locked by rita")
	// A deployer cannot lift someone else's lock; staging's approver can.
	contains(t, h.refused("bob", "/deploy unlock demo staging"), "only rita (who locked it) or tech-lead or devops may unlock demo in staging")
	if _, err := h.do("alice", "/deploy unlock demo staging"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.do("dan", "/deploy lock all dev"); err != nil {
		t.Fatal(err)
	}
	contains(t, h.refused("bob", "/deploy demo v3 dev"), "every app in development is locked by dan")
	rep, err := h.do("bob", "/deploy status")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, rep.Text, "every app in development is locked by dan")
	if _, err := h.do("dan", "/deploy unlock all dev"); err != nil {
		t.Fatal(err)
	}
	h.must("bob", "/deploy demo v3 dev")
	contains(t, h.refused("bob", "/deploy unlock demo dev"), "demo is not locked in development")
}

func TestPendingApprovalRemindsOnceThenExpires(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)
	id := h.must("bob", "/deploy demo v1 staging")
	r := h.run(id)
	if !r.ExpiresAt.Equal(monday10.Add(24 * time.Hour)) {
		t.Fatalf("expires at %s", r.ExpiresAt)
	}
	h.clock.Add(22 * time.Hour)
	h.tick()
	if n := len(h.chat.notices()); n != 0 {
		t.Fatalf("reminder too early: %v", h.chat.notices())
	}
	h.clock.Add(time.Hour + time.Minute)
	h.tick()
	h.tick()
	notes := h.chat.notices()
	if len(notes) != 1 {
		t.Fatalf("reminders = %v, want exactly one", notes)
	}
	contains(t, notes[0], "Reminder: run #1 (demo v1 → staging, requested by bob) still needs its checklist (4 open) and approval by tech-lead")
	h.clock.Add(time.Hour)
	h.tick()
	h.wantState(id, rb.StateExpired)
	// Expired runs release their lock.
	h.must("bob", "/deploy demo v1 staging")
	if fx.deploys.Load() != 0 {
		t.Fatal("an expired run deployed")
	}
}

func TestApprovalIsCheckedAgainstExpiryAtClickTime(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)
	id := h.must("bob", "/deploy demo v1 staging")
	h.tickAll("bob", id)
	h.clock.Add(25 * time.Hour) // no Tick ran
	err := h.act("alice", id, rb.ButtonApprove, "")
	contains(t, rb.ErrorMessage(err), "run #1 expired at")
	h.wantState(id, rb.StateExpired)
	if fx.deploys.Load() != 0 {
		t.Fatal("deployed an expired run")
	}
}

func TestApprovalVoidedWhenArtifactChanges(t *testing.T) {
	fx := &fakeExec{}
	fx.setArtifact("sha256:aaa")
	h := newHarness(t, fx, fx)
	id := h.must("bob", "/deploy demo v1 staging")
	h.tickAll("bob", id)
	if a := h.run(id).Artifact; a != "sha256:aaa" {
		t.Fatalf("artifact = %q", a)
	}
	// Someone re-pushes the tag before the deploy starts.
	fx.setArtifact("sha256:bbb")
	if err := h.act("alice", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	r := h.run(id)
	if r.State != rb.StateAwaitingApproval || len(r.Approvals) != 0 || r.Artifact != "sha256:bbb" {
		t.Fatalf("after artifact change: %s, approvals %v, artifact %s", r.State, r.Approvals, r.Artifact)
	}
	contains(t, r.Note, "the artifact changed (sha256:aaa → sha256:bbb) after approval: approvals are void")
	if fx.deploys.Load() != 0 {
		t.Fatal("deployed an artifact nobody approved")
	}
	if err := h.act("alice", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.wantState(id, rb.StateSucceeded)
	if j := fx.lastJob(); j.Artifact != "sha256:bbb" {
		t.Fatalf("deployed artifact %q", j.Artifact)
	}
}

func TestRollbackByOwners(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)
	h.must("alice", "/deploy demo v1 dev")
	h.must("bob", "/deploy demo v2 dev")

	// Development is self-service: only who deployed what runs now.
	msg := h.refused("alice", "/rollback demo dev")
	if msg != "you may not roll back development: rollbacks there are for whoever requested the deployment" {
		t.Fatalf("non-owner rollback: %q", msg)
	}
	id := h.must("bob", "/rollback demo dev --reason \"bad css\"")
	h.wantState(id, rb.StateRolledBack)
	j := fx.lastJob()
	if j.Action != rb.ActionRollback || j.Version != "v1" || j.PreviousVersion != "v2" {
		t.Fatalf("rollback job %+v", j)
	}
	rep, _ := h.do("bob", "/deploy whereis demo")
	contains(t, rep.Text, "development: v1 (run #3")

	// Staging rollbacks belong to devops.
	h.deployTo("v1", "staging")
	h.deployTo("v2", "staging")
	contains(t, h.refused("bob", "/rollback demo staging"), "rollbacks there are for devops")
	id = h.must("dan", "/rollback demo staging")
	h.wantState(id, rb.StateRolledBack)
	if j := fx.lastJob(); j.Version != "v1" {
		t.Fatalf("rolled staging back to %s", j.Version)
	}
	// Going back further skips the version just rolled away from.
	contains(t, h.refused("dan", "/rollback demo staging"), "there is no earlier good version than v1")
	contains(t, h.refused("dan", "/rollback demo staging to v9"), "v9 never ran there successfully")
	contains(t, h.refused("dan", "/rollback demo production"), "nothing of demo has been deployed to production")
}

func TestFailedDeployRollsBack(t *testing.T) {
	fx := &fakeExec{failVersions: map[string]bool{"v2": true, "v0": true}}
	h := newHarness(t, fx, fx)

	// A first deploy that fails has nothing to go back to.
	id := h.must("bob", "/deploy demo v0 dev")
	r := h.run(id)
	if r.State != rb.StateFailed {
		t.Fatalf("state %s", r.State)
	}
	contains(t, r.Note, "deploying failed: health endpoint returned 503; nothing to roll back to")

	h.must("bob", "/deploy demo v1 dev")
	id = h.must("bob", "/deploy demo v2 dev")
	r = h.run(id)
	if r.State != rb.StateRolledBack {
		t.Fatalf("state %s (%s)", r.State, r.Note)
	}
	var path []rb.State
	for _, ev := range h.events(id) {
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
	if j := fx.lastJob(); j.Action != rb.ActionRollback || j.Version != "v1" || j.PreviousVersion != "v2" {
		t.Fatalf("rollback job %+v", j)
	}
	rep, _ := h.do("bob", "/deploy whereis demo")
	contains(t, rep.Text, "development: v1 (run #3")
}

func TestMonitoringHealthFailureRollsBack(t *testing.T) {
	fx := &fakeExec{}
	x := verifyingExec{fx}
	h := newHarness(t, x, fx)
	h.policy.Envs[0].Monitor = 10 * time.Minute
	h.policy.Envs[0].HealthEvery = time.Minute
	h.must("bob", "/deploy demo v1 dev")
	h.clock.Add(11 * time.Minute)
	h.tick()
	id := h.must("bob", "/deploy demo v2 dev")
	h.wantState(id, rb.StateMonitoring)
	if fx.verifies.Load() != 2 {
		t.Fatalf("verifies = %d", fx.verifies.Load())
	}
	h.clock.Add(30 * time.Second)
	h.tick()
	if fx.healths.Load() != 0 {
		t.Fatal("health checked before it was due")
	}
	fx.mu.Lock()
	fx.healthErr = errors.New("p99 latency 2.3s over 500ms")
	fx.mu.Unlock()
	h.clock.Add(time.Minute)
	h.tick()
	r := h.run(id)
	if r.State != rb.StateRolledBack {
		t.Fatalf("state %s (%s)", r.State, r.Note)
	}
	contains(t, r.Note, "rolled back to v1")
	var failure string
	for _, ev := range h.events(id) {
		if ev.To == rb.StateFailed {
			failure = ev.Detail
		}
	}
	if failure != "monitoring failed: health check: p99 latency 2.3s over 500ms" {
		t.Fatalf("failure detail %q", failure)
	}
}

func TestCancelStopsRunningDeployAndRollsBack(t *testing.T) {
	fx := &fakeExec{block: map[string]chan struct{}{}, entered: make(chan string, 4)}
	h := newHarness(t, fx, fx)
	h.must("bob", "/deploy demo v1 dev")
	<-fx.entered
	fx.mu.Lock()
	fx.block["deploy"] = make(chan struct{})
	fx.mu.Unlock()
	rep, err := h.do("bob", "/deploy demo v2 dev")
	if err != nil {
		t.Fatal(err)
	}
	if s := <-fx.entered; s != "deploy" {
		t.Fatal(s)
	}
	h.wantState(rep.RunID, rb.StateDeploying)
	// Someone without a say cannot stop it.
	if _, err := h.eng.Act(context.Background(), user("mallory"), rep.RunID, rb.ButtonCancel, ""); rb.ErrorCode(err) != rb.EForbidden {
		t.Fatalf("stranger cancel: %v", err)
	}
	if _, err := h.do("bob", "/deploy cancel #2"); err != nil {
		t.Fatal(err)
	}
	<-fx.entered // the rollback
	h.settle()
	r := h.run(rep.RunID)
	if r.State != rb.StateRolledBack {
		t.Fatalf("state %s", r.State)
	}
	var failure string
	for _, ev := range h.events(rep.RunID) {
		if ev.To == rb.StateFailed {
			failure = ev.Detail
		}
	}
	if failure != "deploying failed: cancelled by bob" {
		t.Fatalf("failure %q", failure)
	}
}

func TestMessageShowsChecklistAndButtons(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)
	id := h.must("bob", "/deploy demo v1 staging")
	m := h.chat.message(h.run(id).Origin.MessageRef)
	if m.Title != "#1 demo v1 → staging" || m.Status != "checklist" || len(m.Items) != 4 || !m.Items[0].Editable {
		t.Fatalf("message %+v", m)
	}
	if len(m.Buttons) != 3 || m.Buttons[0].Action != rb.ButtonApprove || m.Buttons[2].Action != rb.ButtonCancel {
		t.Fatalf("buttons while the checklist is open: %+v", m.Buttons)
	}
	h.tickAll("alice", id)
	m = h.chat.message(h.run(id).Origin.MessageRef)
	if len(m.Buttons) != 3 || m.Buttons[0].Action != rb.ButtonApprove || m.Buttons[1].Confirm == "" {
		t.Fatalf("buttons awaiting approval: %+v", m.Buttons)
	}
	if !m.Items[0].Done || m.Items[0].By != "alice" {
		t.Fatalf("item %+v", m.Items[0])
	}
}

func TestRollbackFromIncidentChannelIsNotedInDeploymentThread(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)
	h.must("bob", "/deploy demo v1 dev")
	v2 := h.must("bob", "/deploy demo v2 dev")
	rep, err := h.doIn("incident-42", "bob", `/rollback demo dev --reason "500s on checkout"`)
	if err != nil {
		t.Fatal(err)
	}
	h.settle()
	h.wantState(rep.RunID, rb.StateRolledBack)
	rb3 := h.run(rep.RunID)
	if rb3.Origin.Channel != "incident-42" || rb3.Origin.MessageRef == "" {
		t.Fatalf("the rollback's message is not in the incident channel: %+v", rb3.Origin)
	}
	h.chat.mu.Lock()
	defer h.chat.mu.Unlock()
	if len(h.chat.replies) != 1 {
		t.Fatalf("thread notes = %+v, want one", h.chat.replies)
	}
	note := h.chat.replies[0]
	if note.ref != h.run(v2).Origin.MessageRef {
		t.Fatalf("note went under %s, want the v2 deployment's message", note.ref)
	}
	contains(t, note.m.Text, "bob asked for rollback #3: demo in development back to v1: 500s on checkout")
	if note.m.Related == nil || note.m.Related.Channel != "incident-42" || note.m.Related.MessageRef != rb3.Origin.MessageRef {
		t.Fatalf("note points at %+v, want the rollback's message %+v", note.m.Related, rb3.Origin)
	}
}

// A role can be held through a group the request names (a Discord
// member's guild roles), with no resolver to ask.
func TestRoleThroughRequestGroups(t *testing.T) {
	fx := &fakeExec{}
	h := newHarness(t, fx, fx)
	h.policy.Roles["tech-lead"] = rb.Role{Members: h.policy.Roles["tech-lead"].Members,
		Groups: map[string][]string{"web": {"leads"}}}
	id := h.must("bob", "/deploy demo v1 staging")
	h.tickAll("bob", id)
	carol := rb.User{Platform: "web", ID: "carol", Person: "carol"}
	if _, err := h.eng.Act(context.Background(), carol, id, rb.ButtonApprove, ""); rb.ErrorCode(err) != rb.EForbidden {
		t.Fatalf("carol without the group: %v", err)
	}
	carol.Groups = []string{"qa", "leads"}
	if _, err := h.eng.Act(context.Background(), carol, id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.settle()
	h.wantState(id, rb.StateSucceeded)
}

// chattyExec prints many lines over time, so output reaches the chat in
// several flushes.
type chattyExec struct{ *fakeExec }

func (x chattyExec) Deploy(ctx context.Context, j rb.Job, p rb.Progress) error {
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
	fx := &fakeExec{}
	h := newHarness(t, chattyExec{fx}, fx)
	id := h.must("bob", "/deploy demo v1 dev")
	h.wantState(id, rb.StateSucceeded)
	h.chat.mu.Lock()
	got := append([]string(nil), h.chat.newLog...)
	h.chat.mu.Unlock()
	if len(got) != 60 {
		t.Fatalf("chat got %d new lines, want 60: %q", len(got), got)
	}
	for i, l := range got {
		if l != fmt.Sprintf("line %02d", i) {
			t.Fatalf("line %d is %q: out of order or repeated", i, l)
		}
	}
	if m := h.chat.message(h.run(id).Origin.MessageRef); len(m.Log) != 12 || m.Log[11] != "line 59" {
		t.Fatalf("the message's tail = %q, want the last 12 lines", m.Log)
	}
}

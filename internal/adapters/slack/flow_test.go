package slack

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// TestFlowStaging walks a staging deployment of the example configuration
// through Slack: request, refusals, checklist ticks, approval, deploy.
func TestFlowStaging(t *testing.T) {
	f := newFlow(t, flowOptions{})
	items := f.checklistOf("staging") // merged, tests, artifact, plan

	ack := f.slash("U0DEV", flowRelease, "/deploy", "demo v1.2.0 staging")
	id := f.runOf(ack)
	if !strings.Contains(ack, "#1") || !strings.Contains(ack, "demo v1.2.0 → staging") {
		t.Errorf("ack %q, want it to name run #1 and what it deploys", ack)
	}
	f.settle()
	r := f.wantState(id, runbook.StateChecklist)
	if r.Origin.Channel != flowRelease || r.Origin.MessageRef == "" || r.Requester.ID != "U0DEV" || r.Requester.String() != "bob" {
		t.Fatalf("run #%d origin %+v requester %+v, want a message in %s requested by U0DEV, who is bob in people:", id, r.Origin, r.Requester, flowRelease)
	}
	ts := r.Origin.MessageRef
	posts := f.fake.ChannelPosts(flowRelease)
	if len(posts) != 1 || posts[0].TS != ts {
		t.Fatalf("messages in %s: %+v, want the run's one message %s", flowRelease, posts, ts)
	}
	// The post itself shows the run as requested (the engine posts before it
	// knows its checklist); the edit that follows makes the items checkboxes.
	if posted := f.fake.Posts()[0]; !strings.Contains(posted.Blocks, "Code merged to release branch") {
		t.Errorf("the posted message does not show the checklist: %s", posted.Blocks)
	}
	v := f.view(flowRelease, ts)
	if !slices.Equal(v.Options, items) || len(v.Ticked) != 0 {
		t.Fatalf("checkboxes %v ticked %v, want %v none ticked", v.Options, v.Ticked, items)
	}
	if !strings.Contains(v.Status, "*checklist*") || !slices.Equal(v.Buttons, []string{"approve", "reject", "cancel"}) {
		t.Fatalf("status %q buttons %v, want checklist with approve, reject and cancel", v.Status, v.Buttons)
	}
	for _, val := range v.Values {
		if run, _, _ := strings.Cut(val, ":"); run != strconv.FormatUint(id, 10) {
			t.Errorf("button value %q, want the run id %d first", val, id)
		}
	}

	// Approve before the checklist is done.
	got := f.refusal(f.click("U0DEV", id, button(runbook.ButtonApprove, id)))
	if !strings.Contains(got, "can't be approved yet: 4 of 4 checklist items are open") {
		t.Errorf("early approve: %q", got)
	}

	// Tick the items one by one: Slack sends every selected option each time.
	for n := 1; n <= len(items); n++ {
		updates := f.fake.Calls("chat.update")
		f.accepted(f.click("U0LEAD", id, ticks(id, items[:n]...)))
		if f.fake.Calls("chat.update") == updates {
			t.Fatalf("tick %d: the message was not updated", n)
		}
		v := f.view(flowRelease, ts)
		if len(v.Ticked) != n {
			t.Fatalf("after tick %d the message shows %d ticked: %v", n, len(v.Ticked), v.Ticked)
		}
		for _, k := range items[:n] {
			if d, ok := v.Ticked[k]; !ok || !strings.Contains(d, "by alice at 10:00 UTC") {
				t.Fatalf("after tick %d item %s shows %q (ticked %v), want it ticked by alice (U0LEAD)", n, k, d, ok)
			}
		}
	}
	r = f.wantState(id, runbook.StateAwaitingApproval)
	for _, it := range r.Checklist {
		if !it.Done || it.By == nil || it.By.ID != "U0LEAD" {
			t.Errorf("stored item %+v, want ticked by U0LEAD", it)
		}
	}
	if v := f.view(flowRelease, ts); !strings.Contains(v.Status, "*awaiting approval*") {
		t.Errorf("status %q, want awaiting approval", v.Status)
	}

	// The requester may not approve staging: only tech-lead may.
	got = f.refusal(f.click("U0DEV", id, button(runbook.ButtonApprove, id)))
	if !strings.Contains(got, "only tech-lead may approve staging deployments") {
		t.Errorf("approve by U0DEV: %q", got)
	}
	if n := len(f.events(id, runbook.EvApproval)); n != 0 {
		t.Fatalf("%d approvals after refusals, want 0", n)
	}

	f.accepted(f.click("U0LEAD", id, button(runbook.ButtonApprove, id)))
	r = f.wantState(id, runbook.StateSucceeded)
	if n := f.exec.Steps(runbooktest.StepDeploy, "staging", "v1.2.0"); n != 1 || f.exec.Deploys()+f.exec.Rollbacks() != 1 {
		t.Errorf("deploys of v1.2.0 to staging: %d (steps %d), want 1", n, f.exec.Deploys()+f.exec.Rollbacks())
	}
	if len(r.Approvals) != 1 || r.Approvals[0].By.ID != "U0LEAD" {
		t.Errorf("approvals %+v, want one by U0LEAD", r.Approvals)
	}
	v = f.view(flowRelease, ts)
	// The first deployment there: no Roll back, nothing ran before.
	if !strings.Contains(v.Status, ":white_check_mark: *succeeded*") || len(v.Buttons) != 0 {
		t.Errorf("final message: status %q buttons %v, want succeeded with no buttons", v.Status, v.Buttons)
	}
	if v.Options != nil || !strings.Contains(v.List, "☑ Code merged to release branch — by alice") {
		t.Errorf("final checklist: checkboxes %v list %q, want a read-only list ticked by alice", v.Options, v.List)
	}
	replies := f.fake.ThreadReplies(ts)
	var out strings.Builder
	for _, rep := range replies {
		out.WriteString(rep.Text + "\n")
	}
	if !strings.Contains(out.String(), "deploying demo v1.2.0 in staging") || !strings.Contains(out.String(), "demo v1.2.0 runs in staging") {
		t.Errorf("thread of the run's message: %q, want the deploy's output", out.String())
	}
	if n := strings.Count(out.String(), "deploying demo v1.2.0 in staging"); n != 1 {
		t.Errorf("the deploy's output is in the thread %d times, want once", n)
	}
	if ch := f.fake.ChannelPosts(flowRelease); len(ch) != 1 {
		t.Errorf("%d messages in the channel, want the run's one (output goes to its thread)", len(ch))
	}
}

// TestFlowProduction walks production's rules: staging first, the
// checklist, no self-approval, an approver by user group, monitoring, and
// the summary in the announce channel.
func TestFlowProduction(t *testing.T) {
	f := newFlow(t, flowOptions{announce: flowAnnounce})
	f.fake.SetGroup("S0RELEASE", "U0RMB")

	got := f.slash("U0RM", flowRelease, "/deploy", "demo v1.2.0 production")
	if !strings.Contains(got, "demo v1.2.0 has not succeeded in staging yet") {
		t.Errorf("production before staging: %q", got)
	}
	f.settle()
	if rs := f.runs(); len(rs) != 0 {
		t.Fatalf("a refused request left %d runs", len(rs))
	}
	if n := f.fake.Calls("chat.postMessage"); n != 0 {
		t.Fatalf("a refused request posted %d messages", n)
	}

	f.deployStaging("v1.2.0")
	if n := len(f.fake.ChannelPosts(flowAnnounce)); n != 0 {
		t.Fatalf("staging runs are not announced, but %s has %d messages", flowAnnounce, n)
	}

	id := f.request("U0RM", flowRelease, "demo v1.2.0 prod")
	f.settle()
	f.wantState(id, runbook.StateChecklist)
	summaries := f.fake.ChannelPosts(flowAnnounce)
	if len(summaries) != 1 || !strings.Contains(summaries[0].Text, fmt.Sprintf("#%d demo v1.2.0 → production", id)) ||
		!strings.Contains(summaries[0].Text, "requested by rita") {
		t.Fatalf("announce channel: %+v, want one summary of run #%d", summaries, id)
	}
	summary := summaries[0].TS

	items := f.checklistOf("production")
	if v := f.viewOf(id); !slices.Equal(v.Options, items) {
		t.Fatalf("production checkboxes %v, want %v", v.Options, items)
	}
	f.accepted(f.click("U0RM", id, ticks(id, items...)))
	f.wantState(id, runbook.StateAwaitingApproval)

	got = f.refusal(f.click("U0RM", id, button(runbook.ButtonApprove, id)))
	if want := fmt.Sprintf("you requested run #%d: in production someone else with the release-manager role must approve it", id); !strings.Contains(got, want) {
		t.Errorf("self-approval: %q, want %q", got, want)
	}
	got = f.refusal(f.click("U0LEAD", id, button(runbook.ButtonApprove, id)))
	if !strings.Contains(got, "only release-manager may approve production deployments") {
		t.Errorf("approval by tech-lead: %q", got)
	}
	f.wantState(id, runbook.StateAwaitingApproval)
	if n := f.exec.Steps(runbooktest.StepDeploy, "production", "v1.2.0"); n != 0 {
		t.Fatalf("deployed to production %d times before approval", n)
	}

	// U0RMB is a release manager only through the user group S0RELEASE.
	f.accepted(f.click("U0RMB", id, button(runbook.ButtonApprove, id)))
	r := f.wantState(id, runbook.StateMonitoring)
	if len(r.Approvals) != 1 || r.Approvals[0].By.ID != "U0RMB" {
		t.Errorf("approvals %+v, want one by U0RMB (rob.rm)", r.Approvals)
	}
	if n := f.fake.Calls("usergroups.users.list"); n == 0 {
		t.Error("usergroups.users.list was never called")
	}
	if n := f.exec.Steps(runbooktest.StepDeploy, "production", "v1.2.0"); n != 1 {
		t.Errorf("deploys to production: %d, want 1", n)
	}
	v := f.viewOf(id)
	// The first deployment to production: nothing ran there before to
	// roll back to, so no Roll back.
	if !strings.Contains(v.Status, ":eyes: *monitoring*") || !slices.Equal(v.Buttons, []string{"cancel"}) {
		t.Errorf("message: status %q buttons %v, want monitoring with End monitoring alone", v.Status, v.Buttons)
	}
	if !slices.Equal(v.Options, f.validationOf("production")) || len(v.Ticked) != 0 {
		t.Errorf("checkboxes while monitoring %v (ticked %v), want the post-deployment validation, unticked", v.Options, v.Ticked)
	}

	// The summary was edited as the run moved, in place.
	if n := len(f.fake.ChannelPosts(flowAnnounce)); n != 1 {
		t.Errorf("%d summaries in the announce channel, want 1", n)
	}
	edits := 0
	for _, u := range f.fake.Updates() {
		if u.Channel == flowAnnounce && u.TS == summary {
			edits++
		}
	}
	if text := f.fake.LatestText(flowAnnounce, summary); edits == 0 || !strings.Contains(text, "monitoring") {
		t.Errorf("summary edited %d times, now %q; want it edited to monitoring", edits, text)
	}

	f.endMonitoring()
	f.wantState(id, runbook.StateSucceeded)
	if text := f.fake.LatestText(flowAnnounce, summary); !strings.HasPrefix(text, ":rocket:") || !strings.Contains(text, "succeeded") {
		t.Errorf("summary %q, want it to say the run succeeded", text)
	}
}

// TestFlowRefusals checks that every refused command is answered only to
// its user, with the reason, and changes nothing.
func TestFlowRefusals(t *testing.T) {
	f := newFlow(t, flowOptions{})

	refused := func(t *testing.T, user, channel, command, text, want string) {
		t.Helper()
		f := f.as(t)
		f.settle()
		before, calls := f.snapshot(), f.chatCalls()
		got := f.slash(user, channel, command, text)
		if !strings.Contains(got, want) {
			t.Errorf("%s %s by %s: %q, want %q", command, text, user, got, want)
		}
		f.settle()
		if after := f.snapshot(); after != before {
			t.Errorf("the refusal changed the store:\nbefore %s\nafter  %s", before, after)
		}
		if after := f.chatCalls(); after != calls {
			t.Errorf("the refusal changed Slack: %s, then %s", calls, after)
		}
	}

	t.Run("unknown environment", func(t *testing.T) {
		refused(t, "U0DEV", flowRelease, "/deploy", "demo v1.2.0 moon", `unknown environment "moon"`)
	})
	t.Run("not a deployer", func(t *testing.T) {
		refused(t, "U0NOBODY", flowRelease, "/deploy", "demo v1.2.0 staging", "you may not deploy to staging: that needs the deployer role (roles.deployer in Shipmate's configuration)")
	})

	staged := f.deployStaging("v1.2.0")

	t.Run("rollback by a non-owner", func(t *testing.T) {
		refused(t, "U0DEV", flowRelease, "/rollback", "demo staging", "you may not roll back staging: rollbacks there are for devops")
	})
	t.Run("Roll back button by a non-owner", func(t *testing.T) {
		f := f.as(t)
		f.settle()
		before, calls := f.snapshot(), f.chatCalls()
		got := f.refusal(f.click("U0DEV", staged, button(runbook.ButtonRollback, staged)))
		if !strings.Contains(got, "you may not roll back staging") {
			t.Errorf("Roll back by U0DEV: %q", got)
		}
		if f.snapshot() != before || f.chatCalls() != calls {
			t.Error("the refused click changed something")
		}
	})
	t.Run("outside the window", func(t *testing.T) {
		f.clock.Set(flowSaturday)
		defer f.clock.Set(flowMonday)
		refused(t, "U0DEV", flowRelease, "/deploy", "demo v1.2.0 production", "production is closed for deployments now")
	})

	busy := f.request("U0DEV", flowRelease, "demo v1.3.0 staging")
	t.Run("lock conflict", func(t *testing.T) {
		refused(t, "U0OPS", flowRelease, "/deploy", "demo v1.4.0 staging", fmt.Sprintf("demo in staging is busy: run #%d", busy))
	})
	t.Run("explicit lock", func(t *testing.T) {
		f := f.as(t)
		ack := f.slash("U0OPS", flowRelease, "/deploy", "lock demo production freeze")
		if !strings.Contains(ack, "demo is locked in production") {
			t.Fatalf("lock: %q", ack)
		}
		refused(t, "U0DEV", flowRelease, "/deploy", "demo v1.2.0 production", "demo in production is locked by dan")
	})
	f.wantState(busy, runbook.StateChecklist)
	if n := f.exec.Deploys() + f.exec.Rollbacks(); n != 1 {
		t.Errorf("executor steps: %d, want the one staging deploy", n)
	}
}

// TestFlowRateLimited checks that a rate-limited chat.update delays the
// message's edits without losing any.
func TestFlowRateLimited(t *testing.T) {
	f := newFlow(t, flowOptions{})
	f.fake.RateLimitNext("chat.update", 2, 1)

	id := f.request("U0DEV", flowRelease, "demo v1.2.0 staging")
	f.settle() // the run's message is posted and its checklist open
	items := f.checklistOf("staging")
	for n := 1; n <= len(items); n++ {
		// Clicks come faster than the edits may go.
		f.click("U0LEAD", id, ticks(id, items[:n]...))
	}
	f.click("U0LEAD", id, button(runbook.ButtonApprove, id))
	f.settle() // Flush: every edit is sent
	r := f.wantState(id, runbook.StateSucceeded)

	if limited := f.fake.Calls("chat.update") - len(f.fake.Updates()); limited != 2 {
		t.Errorf("%d chat.update calls were rate limited, want 2", limited)
	}
	ts := r.Origin.MessageRef
	want := chatTestBlocks(t, f.engine.Message(r))
	if got := f.fake.LatestBlocks(flowRelease, ts); got != want {
		t.Errorf("the message shows\n%s\nwant the run's final state\n%s", got, want)
	}
	if got, want := f.fake.LatestText(flowRelease, ts), renderText(f.engine.Message(r)); got != want {
		t.Errorf("text %q, want %q", got, want)
	}
	v := f.viewOf(id)
	if !strings.Contains(v.Status, "*succeeded*") || strings.Count(v.List, "— by alice") != len(items) {
		t.Errorf("status %q checklist %q, want succeeded with every item ticked by alice (U0LEAD in people:)", v.Status, v.List)
	}
	var out strings.Builder
	for _, rep := range f.fake.ThreadReplies(ts) {
		out.WriteString(rep.Text)
	}
	if !strings.Contains(out.String(), "demo v1.2.0 runs in staging") {
		t.Errorf("thread %q, want the deploy's output", out.String())
	}
}

// TestFlowIncidentRollback rolls production back from an incident channel.
func TestFlowIncidentRollback(t *testing.T) {
	f := newFlow(t, flowOptions{})
	f.deployProduction("v1")
	f.endMonitoring()
	v2 := f.deployProduction("v2")
	f.endMonitoring()
	orig := f.wantState(v2, runbook.StateSucceeded)

	ack := f.slash("U0INC", flowIncident, "/rollback", "demo production")
	id := f.runOf(ack)
	if !strings.Contains(ack, "the rollback procedure for demo in production (v2 → v1)") {
		t.Errorf("ack %q", ack)
	}
	f.settle()
	// Production follows the rollback procedure: its rollback owner takes
	// the steps that are people's.
	f.wantState(id, runbook.StateProcedure)
	ivan := runbook.User{Platform: "slack", ID: "U0INC"}
	for _, key := range []string{runbook.ProcAssess, runbook.ProcDrain, runbook.ProcRestore} {
		if _, err := f.engine.Act(context.Background(), ivan, id, runbook.ButtonTick, key); err != nil {
			t.Fatalf("tick %s: %v", key, err)
		}
		f.settle()
	}
	r := f.wantState(id, runbook.StateRolledBack)
	if r.Action != runbook.ActionRollback || r.RollbackOf != v2 || r.Origin.Channel != flowIncident {
		t.Errorf("rollback run %+v, want a rollback of #%d asked for in %s", r, v2, flowIncident)
	}
	if n := f.exec.Steps(runbooktest.StepRollback, "production", "v1"); n != 1 {
		t.Errorf("rollbacks of production to v1: %d, want 1", n)
	}
	if d, ok, err := f.store.Deployed(context.Background(), "demo", "production"); err != nil || !ok || d.Version != "v1" {
		t.Errorf("production runs %+v (%v, %v), want v1", d, ok, err)
	}

	posts := f.fake.ChannelPosts(flowIncident)
	if len(posts) != 2 || posts[0].TS != r.Origin.MessageRef || !strings.Contains(posts[1].Text, "Incident commander: ivan is rolling demo") {
		t.Fatalf("messages in %s: %+v, want the rollback's and the notice to the incident commander", flowIncident, posts)
	}
	// ivan, the incident commander, is called on by a real mention, which
	// Slack's JSON carries as <@U0INC> (encoded \u003c…\u003e).
	if !strings.HasPrefix(posts[1].Text, "<@U0INC> ") || !strings.Contains(posts[1].Blocks, `"\u003c@U0INC\u003e Incident commander: ivan is rolling demo`) {
		t.Errorf("notice %q, blocks %s: want it to mention <@U0INC>", posts[1].Text, posts[1].Blocks)
	}
	if v := f.view(flowIncident, posts[0].TS); !strings.Contains(v.Status, "*rolled back*") {
		t.Errorf("rollback message status %q, want rolled back", v.Status)
	}

	var note *fakeMessage
	for _, rep := range f.fake.ThreadReplies(orig.Origin.MessageRef) {
		if strings.Contains(rep.Text, "asked for rollback") {
			note = &rep
		}
	}
	if note == nil || note.Channel != flowRelease {
		t.Fatalf("the v2 deployment's thread has no note of the rollback: %+v", f.fake.ThreadReplies(orig.Origin.MessageRef))
	}
	if !strings.Contains(note.Text, "<#"+flowIncident+">") || !strings.Contains(note.Text, fmt.Sprintf("rollback #%d", id)) ||
		!strings.Contains(note.Text, "ivan asked") {
		t.Errorf("note %q, want it to name ivan, rollback #%d and link <#%s>", note.Text, id, flowIncident)
	}
	if !strings.Contains(note.Blocks, "\\u003c#"+flowIncident+"\\u003e") && !strings.Contains(note.Blocks, "<#"+flowIncident+">") {
		t.Errorf("note blocks %s, want the channel link", note.Blocks)
	}
}

// TestFlowStopWhileDeploying stops a deployment from its message: the step
// is cancelled and the environment rolled back to what ran before.
func TestFlowStopWhileDeploying(t *testing.T) {
	f := newFlow(t, flowOptions{})
	f.deployStaging("v1")
	release := f.exec.Hold(runbooktest.StepDeploy, "staging", "v2")
	defer release()

	id := f.request("U0DEV", flowRelease, "demo v2 staging")
	f.settle()
	f.accepted(f.click("U0LEAD", id, ticks(id, f.checklistOf("staging")...)))
	f.click("U0LEAD", id, button(runbook.ButtonApprove, id))
	select {
	case <-f.exec.Entered():
	case <-time.After(5 * time.Second):
		t.Fatal("the deploy did not start")
	}
	if err := f.chat.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := f.viewOf(id)
	if !strings.Contains(v.Status, "*deploying*") || !slices.Equal(v.Buttons, []string{"cancel"}) {
		t.Fatalf("while deploying: status %q buttons %v, want deploying with Stop", v.Status, v.Buttons)
	}

	f.accepted(f.click("U0DEV", id, button(runbook.ButtonCancel, id)))
	r := f.wantState(id, runbook.StateRolledBack)
	if !strings.Contains(r.Note, "rolled back to v1") {
		t.Errorf("note %q", r.Note)
	}
	if n := f.exec.Steps(runbooktest.StepRollback, "staging", "v1"); n != 1 {
		t.Errorf("rollbacks to v1: %d, want 1", n)
	}
	failed := false
	for _, ev := range f.events(id, runbook.EvTransition) {
		failed = failed || ev.To == runbook.StateFailed && strings.Contains(ev.Detail, "cancelled by bob")
	}
	if !failed {
		t.Errorf("no failed transition naming who stopped the deploy: %+v", f.events(id, runbook.EvTransition))
	}
	if v := f.viewOf(id); !strings.Contains(v.Status, "*rolled back*") {
		t.Errorf("final status %q, want rolled back", v.Status)
	}
}

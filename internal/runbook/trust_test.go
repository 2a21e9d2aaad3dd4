package runbook_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"shipmate/internal/runbook"
)

// slackUser is an identity on Slack, as the Slack adapter hands it over.
func slackUser(id string) runbook.User { return runbook.User{Platform: "slack", ID: id} }

// refusal returns err's message for the user, failing on no error or an
// internal one.
func refusal(t *testing.T, err error) string {
	t.Helper()
	var e *runbook.Error
	if !errors.As(err, &e) {
		t.Fatalf("want a refusal, got %v", err)
	}
	return e.Message
}

// One person is one person on every chat: rita asks on the console and
// cannot approve as herself on Slack, nor count twice towards count: 2.
func TestOnePersonAcrossPlatforms(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	h.DeployTo("v1", "staging")
	id := h.Must("rita", "/deploy demo v1 production")
	h.TickAll("rita", id)
	before := h.Run(id)
	_, err := h.Engine.Act(context.Background(), slackUser("U0RM"), id, runbook.ButtonApprove, "")
	contains(t, refusal(t, err), "you requested run #2: in production someone else with the release-manager role must approve it")
	if r := h.Run(id); r.Rev != before.Rev || len(r.Approvals) != 0 {
		t.Fatalf("the refused approval changed the run: %+v", r)
	}

	// With two approvals needed, rita's two identities are one approver.
	h.Policy.Envs[2].Approval.Count = 2
	h.cancelled(t, id)
	id = h.Must("bob", "/deploy demo v1 production")
	h.TickAll("bob", id)
	if err := h.Act("rita", id, runbook.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	_, err = h.Engine.Act(context.Background(), slackUser("U0RM"), id, runbook.ButtonApprove, "")
	contains(t, refusal(t, err), "you already approved run")
	if r := h.Run(id); len(r.Approvals) != 1 || r.State != runbook.StateAwaitingApproval {
		t.Fatalf("run after rita's second identity approved: %s with %d approvals", r.State, len(r.Approvals))
	}
	if err := h.Act("rick", id, runbook.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	// The texts name the person, whatever the platform.
	if r := h.WantState(id, runbook.StateMonitoring); r.Approvals[0].By.String() != "rita" {
		t.Errorf("first approval by %+v, want rita", r.Approvals[0].By)
	}
}

// cancelled cancels run id as its requester, if it is still waiting.
func (h *harness) cancelled(t *testing.T, id uint64) {
	t.Helper()
	if r := h.Run(id); r.State.Terminal() {
		return
	}
	if _, err := h.Engine.Act(context.Background(), h.Run(id).Requester, id, runbook.ButtonCancel, ""); err != nil {
		t.Fatal(err)
	}
}

// Executors and jobs get the person's name from people:, or the platform
// id; never a name the user chose.
func TestJobsNameThePerson(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	res := h.Engine.Parser().ParseLine("/deploy demo v1 dev")
	u := slackUser("U0BOB")
	if _, err := h.Engine.Do(context.Background(), runbook.Request{User: u, Origin: runbook.Origin{Platform: "web", Channel: "c"}, Intent: *res.Intent}); err != nil {
		t.Fatal(err)
	}
	h.Settle()
	if got := fx.LastJob().Requester; got != "bob" {
		t.Errorf("job requester %q, want bob (people: names U0BOB bob)", got)
	}
	r := h.Run(1)
	if r.Requester.Person != "bob" || h.Engine.Message(r).Fields[0].Value != "bob" {
		t.Errorf("requester %+v, message %+v; want bob", r.Requester, h.Engine.Message(r).Fields[0])
	}
}

func TestUnlockIsForHolderApproversAndOwners(t *testing.T) {
	for _, tc := range []struct {
		name, locker, line, who string
		ok                      bool
	}{
		{"holder", "bob", "demo staging", "bob", true},
		{"holder on another chat", "bob", "demo staging", "slack:U0BOB", true},
		{"approver", "bob", "demo staging", "alice", true},
		{"rollback owner", "bob", "demo staging", "dan", true},
		{"another deployer", "bob", "demo staging", "ivan", false},
		{"someone else's release manager", "bob", "demo staging", "rita", false},
		{"code freeze: a deployer", "rita", "all production", "bob", false},
		{"code freeze: the tech lead", "rita", "all production", "alice", false},
		{"code freeze: incident response", "rita", "all production", "ivan", true},
		{"code freeze: another release manager", "rita", "all production", "rick", true},
		{"stranger", "bob", "demo staging", "nora", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newExec()
			h := newHarness(t, fx)
			if _, err := h.Do(tc.locker, "/deploy lock "+tc.line+" code freeze"); err != nil {
				t.Fatal(err)
			}
			u := user(tc.who)
			if id, ok := strings.CutPrefix(tc.who, "slack:"); ok {
				u = slackUser(id)
			}
			res := h.Engine.Parser().ParseLine("/deploy unlock " + tc.line)
			_, err := h.Engine.Do(context.Background(), runbook.Request{User: u, Origin: runbook.Origin{Platform: "web", Channel: "c"}, Intent: *res.Intent})
			locks, lerr := h.Store.Locks(context.Background())
			if lerr != nil {
				t.Fatal(lerr)
			}
			if tc.ok {
				if err != nil || len(locks) != 0 {
					t.Fatalf("unlock by %s: %v, locks left %v", tc.who, err, locks)
				}
				return
			}
			contains(t, refusal(t, err), "may unlock")
			if len(locks) != 1 {
				t.Fatalf("a refused unlock left locks %v", locks)
			}
		})
	}
}

// Ending monitoring makes a run succeed at once, skipping the window and
// the validation: approvers or rollback owners, never the requester alone
// where they may not approve their own deployment.
func TestEndMonitoringIsForApproversAndOwners(t *testing.T) {
	for _, tc := range []struct {
		name, requester, env, who string
		ok                        bool
	}{
		{"production: the requester, a release manager", "rick", "production", "rick", false},
		{"production: another release manager", "rick", "production", "rita", true},
		{"production: incident response", "rick", "production", "ivan", true},
		{"production: a deployer", "rick", "production", "bob", false},
		{"production: the tech lead", "rick", "production", "alice", false},
		{"development: the requester (rollback owner)", "bob", "development", "bob", true},
		{"development: someone else", "bob", "development", "alice", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newExec()
			h := newHarness(t, fx)
			h.Policy.Envs[0].Monitor = 30 * time.Minute
			var id uint64
			if tc.env == "production" {
				h.DeployTo("v1", "staging")
				id = h.Must(tc.requester, "/deploy demo v1 production")
				h.TickAll(tc.requester, id)
				if err := h.Act("rita", id, runbook.ButtonApprove, ""); err != nil && tc.requester != "rita" {
					if err := h.Act("rick", id, runbook.ButtonApprove, ""); err != nil {
						t.Fatal(err)
					}
				}
			} else {
				id = h.Must(tc.requester, "/deploy demo v1 dev")
			}
			h.WantState(id, runbook.StateMonitoring)
			err := h.Act(tc.who, id, runbook.ButtonCancel, "")
			if tc.ok {
				if err != nil {
					t.Fatalf("end monitoring by %s: %v", tc.who, err)
				}
				h.WantState(id, runbook.StateSucceeded)
				return
			}
			contains(t, refusal(t, err), "monitoring")
			h.WantState(id, runbook.StateMonitoring)
		})
	}
}

func TestReadsNeedARole(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	h.DeployTo("v1", "development")
	for _, tc := range []struct {
		who runbook.User
		ok  bool
	}{
		{user("bob"), true},
		{slackUser("U0RM"), true}, // rita on Slack: her roles are hers everywhere
		{user("nora"), false},
		{slackUser("U0NOBODY"), false},
	} {
		for _, line := range []string{"/deploy status", "/deploy history demo", "/deploy whereis demo"} {
			res := h.Engine.Parser().ParseLine(line)
			rep, err := h.Engine.Do(context.Background(), runbook.Request{User: tc.who, Origin: runbook.Origin{Platform: "web", Channel: "c"}, Intent: *res.Intent})
			if tc.ok {
				if err != nil || rep.Text == "" {
					t.Errorf("%s by %s: %q, %v", line, tc.who, rep.Text, err)
				}
				continue
			}
			if msg := refusal(t, err); !strings.HasPrefix(msg, "you have no role in Shipmate") || rep.Text != "" {
				t.Errorf("%s by %s: %q / %q, want no role", line, tc.who, msg, rep.Text)
			}
		}
		if err := h.Engine.MayRead(context.Background(), tc.who); (err == nil) != tc.ok {
			t.Errorf("MayRead(%s) = %v, want ok %v", tc.who, err, tc.ok)
		}
	}
}

// A Roll back button acts only while its run describes what runs: after
// v1 ok, v2 failed and held, v3 ok, v4 ok, Roll back on v2 must not take
// the environment from v4 to v1.
func TestStaleRollBackButtonRefused(t *testing.T) {
	fx := newExec()
	fx.Fail("v2")
	h := newHarness(t, fx)
	h.Policy.Apps["demo"] = runbook.App{Name: "demo", Executor: "fake", HoldOnFailure: true}
	v1 := h.DeployTo("v1", "development")
	v2 := h.DeployTo("v2", "development")
	h.WantState(v2, runbook.StateFailed)
	v3 := h.DeployTo("v3", "development")
	v4 := h.DeployTo("v4", "development")
	h.WantState(v4, runbook.StateSucceeded)

	for _, old := range []uint64{v1, v2, v3} {
		before := fx.Rollbacks()
		err := h.Act("bob", old, runbook.ButtonRollback, "")
		contains(t, refusal(t, err), "demo in development now runs v4, from run #4: roll back from there")
		if fx.Rollbacks() != before {
			t.Fatal("a stale Roll back ran a rollback")
		}
		if d, _, _ := h.Store.Deployed(context.Background(), "demo", "development"); d.Version != "v4" {
			t.Fatalf("development runs %s after a refused Roll back", d.Version)
		}
	}
	// The current run's button names both versions and does what it says.
	m := h.Engine.Message(h.Run(v4))
	if len(m.Buttons) != 1 || m.Buttons[0].Confirm != "Roll demo in development back from v4 to v3?" {
		t.Fatalf("buttons of the current run: %+v", m.Buttons)
	}
	if err := h.Act("bob", v4, runbook.ButtonRollback, ""); err != nil {
		t.Fatal(err)
	}
	if d, _, _ := h.Store.Deployed(context.Background(), "demo", "development"); d.Version != "v3" {
		t.Fatalf("development runs %s after Roll back on v4, want v3", d.Version)
	}
	// Now the rollback is what runs: v4's button is stale too.
	contains(t, refusal(t, h.Act("bob", v4, runbook.ButtonRollback, "")), "now runs v3, from run #5")
}

// An Approve button approves what its message showed: clicked on a message
// drawn for an artifact the version no longer resolves to, it is refused.
func TestApproveBoundToWhatItShowed(t *testing.T) {
	fx := newExec()
	fx.SetArtifact("sha256:aaa")
	h := newHarness(t, fx)
	id := h.Must("bob", "/deploy demo v1 staging")
	h.TickAll("alice", id)
	seen := h.Engine.Message(h.Run(id)).Buttons[0].Value
	// The tag moves after the message was drawn: execution resolves it
	// again, voids the approval and asks again.
	fx.SetArtifact("sha256:bbb")
	if err := h.Act("alice", id, runbook.ButtonApprove, seen); err != nil {
		t.Fatal(err)
	}
	r := h.WantState(id, runbook.StateAwaitingApproval)
	if r.Artifact != "sha256:bbb" || len(r.Approvals) != 0 {
		t.Fatalf("artifact %s approvals %d, want the new artifact and none", r.Artifact, len(r.Approvals))
	}
	contains(t, refusal(t, h.Act("alice", id, runbook.ButtonApprove, seen)),
		"run #1 changed since that message was drawn: demo v1 now resolves to sha256:bbb")
	if r := h.Run(id); len(r.Approvals) != 0 || fx.Deploys() != 0 {
		t.Fatalf("a stale Approve counted: %d approvals, %d deploys", len(r.Approvals), fx.Deploys())
	}
	if err := h.Act("alice", id, runbook.ButtonApprove, h.Engine.Message(h.Run(id)).Buttons[0].Value); err != nil {
		t.Fatal(err)
	}
	h.WantState(id, runbook.StateSucceeded)
}

// A reason from a button's dialog gets the rules of a typed one.
func TestRejectReasonBounded(t *testing.T) {
	fx := newExec()
	h := newHarness(t, fx)
	id := h.Must("bob", "/deploy demo v1 staging")
	contains(t, refusal(t, h.Act("alice", id, runbook.ButtonReject, strings.Repeat("x", 501))), "reason is too long: 501 characters, at most 500")
	contains(t, refusal(t, h.Act("alice", id, runbook.ButtonReject, "bad\x1b[31m")), "control characters are not allowed")
	h.WantState(id, runbook.StateChecklist)
	if err := h.Act("alice", id, runbook.ButtonReject, "  not   today "); err != nil {
		t.Fatal(err)
	}
	if r := h.Run(id); r.State != runbook.StateRejected || r.Note != "rejected by alice: not today" {
		t.Fatalf("%s: %q", r.State, r.Note)
	}
}

// leaky prints the secrets it was handed, and fails naming one.
func leaky(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	p("env: SLACK_BOT_TOKEN=xoxb-1234-secret JENKINS_TOKEN=11aa22bb33cc")
	return errors.New("login as deploy:11aa22bb33cc refused")
}

// Every secret Shipmate knows is *** in step output, notes and errors,
// before it is stored or shown.
func TestSecretsNeverStoredOrShown(t *testing.T) {
	fx := newExec()
	fx.DeployFunc = leaky
	h := newHarnessWith(t, fx, func(c *runbook.Config) {
		c.Secrets = []string{"xoxb-1234-secret", "11aa22bb33cc", "short"}
	})
	id := h.Must("bob", "/deploy demo v1 dev")
	r := h.WantState(id, runbook.StateFailed)
	var all strings.Builder
	for _, ev := range h.Events(id) {
		all.WriteString(ev.Detail + "\n")
	}
	all.WriteString(r.Note + "\n" + strings.Join(r.Log, "\n"))
	for _, m := range h.Chat.Posts() {
		all.WriteString(m.PlainText())
	}
	got := all.String()
	for _, secret := range []string{"xoxb-1234-secret", "11aa22bb33cc"} {
		if strings.Contains(got, secret) {
			t.Errorf("%s was stored or shown:\n%s", secret, got)
		}
	}
	if !strings.Contains(got, "SLACK_BOT_TOKEN=*** JENKINS_TOKEN=***") || !strings.Contains(r.Note, "login as deploy:*** refused") {
		t.Errorf("the output and the error lost more than the secrets:\n%s", got)
	}
}

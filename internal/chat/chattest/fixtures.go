package chattest

import (
	"fmt"
	"strings"
	"time"

	"shipmate/internal/runbook"
)

// T0 is when the fixtures' runs were created.
var T0 = time.Date(2025, 3, 14, 13, 45, 0, 0, time.UTC)

// fixturePolicy has a staging without approval and a production with two
// approvals and a checklist, like the example configuration.
func fixturePolicy() *runbook.Policy {
	return &runbook.Policy{
		Checklist: map[string]string{
			"changelog": "Changelog reviewed",
			"migration": "Database migration tested on staging",
			"oncall":    "On-call engineer informed",
			"dashboard": "Dashboards open",
		},
		Envs: []runbook.Environment{
			{Name: "staging"},
			{
				Name:      "production",
				Approval:  runbook.ApprovalRule{Roles: []string{"release-managers"}, Count: 2},
				Checklist: []string{"changelog", "migration", "oncall", "dashboard"},
				Monitor:   15 * time.Minute,
			},
		},
		Apps: map[string]runbook.App{"demo": {}},
	}
}

// FixtureMessage is run r's message as the engine draws it.
func FixtureMessage(r *runbook.Run) runbook.Message {
	return runbook.New(runbook.Config{Policy: fixturePolicy()}).Message(r)
}

// people of the fixtures on platform: rita is shown by her id, alice and
// carol by their names.
func people(platform string) (rita, alice, carol runbook.User) {
	return runbook.User{Platform: platform, ID: "U0RM"},
		runbook.User{Platform: platform, ID: "U0AL1CE", Person: "alice"},
		runbook.User{Platform: platform, ID: "U0CAR0L", Person: "carol"}
}

// FixtureRun is run #12, demo v1.2 to production, in state s, requested
// by rita on platform, with two of its four checklist items ticked.
func FixtureRun(platform string, s runbook.State) *runbook.Run {
	rita, alice, _ := people(platform)
	return &runbook.Run{
		ID: 12, Action: runbook.ActionDeploy, App: "demo", Env: "production", Version: "v1.2",
		PreviousVersion: "v1.1", Artifact: "registry.example.com/demo@sha256:4f1c9e",
		Requester: rita, State: s, CreatedAt: T0, UpdatedAt: T0,
		ExpiresAt: T0.Add(24 * time.Hour),
		Checklist: []runbook.CheckItem{
			{Key: "changelog", Label: "Changelog reviewed", Done: true, By: &alice, At: T0.Add(17 * time.Minute)},
			{Key: "migration", Label: "Database migration tested on staging", Done: true, By: &runbook.User{Platform: platform, ID: "U0B0B"}, At: T0.Add(20 * time.Minute)},
			{Key: "oncall", Label: "On-call engineer informed"},
			{Key: "dashboard", Label: "Dashboards open"},
		},
	}
}

// tickAll ticks every checklist item of r as carol.
func tickAll(r *runbook.Run, carol runbook.User) {
	for i := range r.Checklist {
		if !r.Checklist[i].Done {
			r.Checklist[i].Done, r.Checklist[i].By, r.Checklist[i].At = true, &carol, T0.Add(30*time.Minute)
		}
	}
}

// Fixture is a run message a chat's golden files hold, by file name.
type Fixture struct {
	Name    string
	Message runbook.Message
}

// Fixtures are the run messages every chat renders in its golden files:
// a run through its states, a notice, a rollback, a checklist longer than
// one control holds and a note far beyond any limit, full of characters
// that need escaping.
func Fixtures(platform string) []Fixture {
	_, alice, carol := people(platform)
	var cases []Fixture
	add := func(name string, m runbook.Message) { cases = append(cases, Fixture{name, m}) }

	r := FixtureRun(platform, runbook.StateChecklist)
	r.Note = "waiting for 2 checklist items"
	add("checklist", FixtureMessage(r))

	r = FixtureRun(platform, runbook.StateAwaitingApproval)
	tickAll(r, carol)
	r.Approvals = []runbook.Approval{{By: alice, At: T0.Add(40 * time.Minute), Artifact: r.Artifact}}
	r.Note = "waiting for approval by release-managers (1 of 2)"
	add("awaiting_approval", FixtureMessage(r))

	r = FixtureRun(platform, runbook.StateDeploying)
	tickAll(r, carol)
	r.Approvals = []runbook.Approval{{By: alice}, {By: carol}}
	r.Note = "step deploy started"
	r.Log = []string{"Pulling image registry.example.com/demo:v1.2", "Rolling out 3 replicas"}
	add("deploying", FixtureMessage(r))

	r = FixtureRun(platform, runbook.StateSucceeded)
	r.Env, r.Checklist, r.Artifact = "staging", nil, ""
	r.Note = "deployed and healthy"
	r.Log = []string{"deployment \"demo\" successfully rolled out"}
	add("succeeded", FixtureMessage(r))

	r = FixtureRun(platform, runbook.StateFailed)
	tickAll(r, carol)
	r.Approvals = []runbook.Approval{{By: alice}, {By: carol}}
	r.Note = "deploy failed: exit status 1"
	r.Log = []string{
		"Waiting for deployment \"demo\" rollout to finish: 1 of 3 updated replicas are available...",
		"error: deployment \"demo\" exceeded its progress deadline",
		"",
	}
	add("failed", FixtureMessage(r))

	// A one-off line, as Engine.notify posts it.
	add("notice", runbook.Message{RunID: 12, Title: r.Title(), Tone: runbook.ToneInfo,
		Text: "The reminder: run #12 still waits for 1 approval and expires at Sat 2025-03-15 13:45 UTC."})

	rb := &runbook.Run{
		ID: 13, Action: runbook.ActionRollback, App: "demo", Env: "production", Version: "v1.1",
		PreviousVersion: "v1.2", RollbackOf: 12, Requester: alice, Reason: "error rate above 5%",
		State: runbook.StateRollingBack, Note: "alice rolls back to v1.1: error rate above 5%", CreatedAt: T0,
	}
	add("rollback", FixtureMessage(rb))

	r = FixtureRun(platform, runbook.StateRolledBack)
	tickAll(r, carol)
	r.Note = "verify failed: health check returned 503; rolled back to v1.1"
	add("rolled_back", FixtureMessage(r))

	r = FixtureRun(platform, runbook.StateChecklist)
	r.Checklist = nil
	for i := range 13 {
		it := runbook.CheckItem{Key: fmt.Sprintf("item%02d", i+1), Label: fmt.Sprintf("Check number %d", i+1)}
		if i%3 == 0 {
			it.Done, it.By, it.At = true, &carol, T0.Add(time.Duration(i)*time.Minute)
		}
		r.Checklist = append(r.Checklist, it)
	}
	r.Note = "waiting for 8 checklist items"
	add("long_checklist", FixtureMessage(r))

	r = FixtureRun(platform, runbook.StateFailed)
	r.Checklist = nil
	r.Note = "deploy failed: <script>alert('x')</script> & then: " + strings.Repeat("the quick brown fox jumps over the lazy dog & ", 100)
	r.Log = []string{"panic: <nil> & more"}
	add("huge_note", FixtureMessage(r))
	return cases
}

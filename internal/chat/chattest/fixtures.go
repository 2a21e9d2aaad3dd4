package chattest

import (
	"fmt"
	"strings"
	"time"

	"shipmate/internal/runbook"
)

// T0 is when the fixtures' runs were created.
var T0 = time.Date(2025, 3, 14, 13, 45, 0, 0, time.UTC)

// fixtureNow is when the fixtures' messages are drawn: 12 minutes into
// the monitoring window of the monitored run.
var fixtureNow = T0.Add(72 * time.Minute)

// fixturePolicy has a staging without approval and a production with two
// approvals, a checklist and a post-deployment validation, two of whose
// items metric checks confirm, like the example configuration.
func fixturePolicy() *runbook.Policy {
	maxErrors := 0.01
	return &runbook.Policy{
		Checklist: map[string]string{
			"changelog": "Changelog reviewed",
			"migration": "Database migration tested on staging",
			"oncall":    "On-call engineer informed",
			"dashboard": "Dashboards open",
		},
		Validation: map[string]string{
			"health": "Health checks passing", "errors": "No error spikes in logs", "latency": "Response times normal",
		},
		Analysis: map[string]runbook.MetricCheck{
			"errors":  {Query: `sum(rate(errors{app="{app}"}[2m]))`, Max: &maxErrors, MaxVsBaseline: 2, Format: runbook.FormatPercent},
			"latency": {Label: "p95", Query: `histogram_quantile(0.95, sum by (le) (rate(latency_bucket{app="{app}"}[5m])))`, MaxVsBaseline: 1.5, Format: runbook.FormatMillis},
		},
		Envs: []runbook.Environment{
			{Name: "staging"},
			{
				Name:       "production",
				Approval:   runbook.ApprovalRule{Roles: []string{"release-managers"}, Count: 2},
				Checklist:  []string{"changelog", "migration", "oncall", "dashboard"},
				Validation: []string{"health", "errors", "latency"},
				Monitor:    30 * time.Minute,
				Rollback:   []string{"incident-response"},
				Analysis:   runbook.AnalysisRule{Checks: []string{"errors", "latency"}, Every: time.Minute, FailuresToRollback: 3},
			},
		},
		Apps: map[string]runbook.App{"demo": {}},
	}
}

// FixtureMessage is run r's message as the engine draws it.
func FixtureMessage(r *runbook.Run) runbook.Message {
	return runbook.New(runbook.Config{Policy: fixturePolicy(), Clock: runbook.ClockFunc(func() time.Time { return fixtureNow })}).Message(r)
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
// a run through its states, a notice, a rollback, one following the
// rollback procedure and its notice to the incident commanders, a
// checklist longer than one control holds and a note far beyond any
// limit, full of characters that need escaping.
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

	addMonitored(add, platform)
	addProcedure(add, platform)
	addCalls(add)(platform)

	r = FixtureRun(platform, runbook.StateFailed)
	r.Checklist = nil
	r.Note = "deploy failed: <script>alert('x')</script> & then: " + strings.Repeat("the quick brown fox jumps over the lazy dog & ", 100)
	r.Log = []string{"panic: <nil> & more"}
	add("huge_note", FixtureMessage(r))
	return cases
}

// addMonitored adds a run watched by the post-deployment analysis: its
// live line 12 minutes into the window, with one validation item ticked by
// a person; the same run once the checks confirmed the rest; and the
// notice that asks the rollback owners of an app held on failure to roll
// back a run whose analysis failed, with its button.
func addMonitored(add func(string, runbook.Message), platform string) {
	_, alice, carol := people(platform)
	since := T0.Add(time.Hour)
	val := func(v float64) *runbook.Reading { r := runbook.Reading(v); return &r }
	r := FixtureRun(platform, runbook.StateMonitoring)
	tickAll(r, carol)
	r.Approvals = []runbook.Approval{{By: alice}, {By: carol}}
	r.MonitorUntil = since.Add(30 * time.Minute)
	r.Note = "monitoring until " + r.MonitorUntil.Format("Mon 2006-01-02 15:04 UTC")
	r.Validation = []runbook.CheckItem{
		{Key: "health", Label: "Health checks passing", Done: true, By: &alice, At: since.Add(5 * time.Minute)},
		{Key: "errors", Label: "No error spikes in logs", Auto: true,
			Detail: "errors 0.3% (baseline 0.2%); max 1%, at most 2× the baseline; the last 3 conclusive measurements passed (12 of 12 conclusive, 0 failed)"},
		{Key: "latency", Label: "Response times normal", Auto: true,
			Detail: "p95 190 ms (baseline 170 ms); at most 1.5× the baseline; 2 passed in a row so far, 3 needed (12 of 12 conclusive, 1 failed)"},
	}
	r.Analysis = &runbook.Analysis{BaselineAt: since.Add(-3 * time.Minute), Since: since, NextAt: since.Add(13 * time.Minute),
		Checks: []runbook.MetricState{
			{Key: "errors", Baseline: val(0.002), Value: val(0.003), Verdict: runbook.VerdictPass, Runs: 12, Conclusive: 12, Passing: 12},
			{Key: "latency", Baseline: val(0.17), Value: val(0.19), Verdict: runbook.VerdictPass, Runs: 12, Conclusive: 12, Failures: 1, Passing: 2},
		}}
	add("monitoring", FixtureMessage(r))

	r.State = runbook.StateSucceeded
	for i, detail := range []string{
		"errors 0.3% (baseline 0.2%); max 1%, at most 2× the baseline; the last 3 conclusive measurements passed (29 of 30 conclusive, 0 failed)",
		"p95 180 ms (baseline 170 ms); at most 1.5× the baseline; the last 3 conclusive measurements passed (29 of 30 conclusive, 1 failed)",
	} {
		it := &r.Validation[i+1]
		it.Done, it.By, it.At, it.Detail = true, &runbook.Shipmate, r.MonitorUntil, detail
	}
	for i := range r.Analysis.Checks {
		st := &r.Analysis.Checks[i]
		st.Value, st.Runs, st.Conclusive, st.Passing = val(float64(*st.Baseline)+0.001), 30, 29, 17
	}
	r.Analysis.Checks[1].Value = val(0.18)
	r.Note = "demo v1.2 is live in production; monitoring showed no problem; validated by alice, Shipmate"
	add("validated", FixtureMessage(r))

	r.State = runbook.StateFailed
	var roll []runbook.Button
	for _, b := range FixtureMessage(r).Buttons {
		if b.Action == runbook.ButtonRollback {
			roll = append(roll, b)
		}
	}
	add("analysis_hold", runbook.Message{RunID: 12, Title: r.Title(), Tone: runbook.ToneInfo, Buttons: roll,
		Text: "Run #12 (demo v1.2 → production): the post-deployment analysis fails: errors 4.2% (baseline 0.2%), above its max of 1% in 3 conclusive measurements in a row. " +
			"demo is held for a human on failure (on_failure: hold), so Shipmate does not roll it back: incident-response, roll it back to v1.1 with the button below when ready."})
}

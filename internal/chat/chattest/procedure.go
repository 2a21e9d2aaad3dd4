package chattest

import (
	"time"

	"shipmate/internal/runbook"
)

// commanders are the fixtures' incident commanders as the engine mentions
// them on platform: ivan by his user id and the role's group, each in the
// form the platform's ids take.
func commanders(platform string) []runbook.Mention {
	ivan, group := "U0IVAN", "S0INCIDENT"
	if platform == "discord" {
		ivan, group = "100000000000000005", "876543210987654322"
	}
	return []runbook.Mention{
		{Platform: platform, ID: ivan, Name: "ivan"},
		{Platform: platform, ID: group, Group: true, Name: runbook.RoleIncidentCommander + " group " + group},
	}
}

// addProcedure adds rollback #13 of #12 midway through production's
// rollback procedure: assessed by alice, the incident commanders notified
// by Shipmate, and the drain, which has no step configured, left to a
// rollback owner; and the notice to the incident commanders, mentioning
// those the platform knows and naming igor, who has no identity on it.
func addProcedure(add func(string, runbook.Message), platform string) {
	_, alice, _ := people(platform)
	at := T0.Add(3 * time.Minute)
	rb := &runbook.Run{
		ID: 13, Action: runbook.ActionRollback, App: "demo", Env: "production", Version: "v1.1",
		PreviousVersion: "v1.2", RollbackOf: 12, Requester: alice, Reason: "error rate above 5%",
		State: runbook.StateProcedure, CreatedAt: T0, UpdatedAt: at,
		Note: "rollback procedure: 3 of 7 — waiting for a rollback owner: Stop incoming requests if possible",
		Procedure: []runbook.CheckItem{
			{Key: runbook.ProcAssess, Label: "Assess whether rollback is safe", Done: true, By: &alice, At: at,
				Detail: "rolls back v1.2 → v1.1; runs since v1.1: #12 deploy v1.2 (succeeded)"},
			{Key: runbook.ProcNotify, Label: "Notify incident commander", Auto: true, Done: true, By: &runbook.Shipmate, At: at,
				Detail: "notified: igor, ivan and " + commanders(platform)[1].Name},
			{Key: runbook.ProcDrain, Label: "Stop incoming requests if possible",
				Detail: "no drain step is configured: tick it once requests are stopped, or to go on without"},
			{Key: runbook.ProcRollback, Label: "Trigger automated rollback", Auto: true},
			{Key: runbook.ProcValidate, Label: "Validate rollback success", Auto: true},
			{Key: runbook.ProcRestore, Label: "Restore from backup if needed"},
			{Key: runbook.ProcDocument, Label: "Document incident", Auto: true},
		},
	}
	add("rollback_procedure", FixtureMessage(rb))

	add("commander_notice", runbook.Message{RunID: 13, Title: rb.Title(), Tone: runbook.ToneInfo,
		Mentions: commanders(platform),
		Text: "Incident commander (igor): alice is rolling demo in production back from v1.2 to v1.1 " +
			"under the rollback procedure (run #13): error rate above 5%."})
}

package chattest

import "shipmate/internal/runbook"

// approvers are the fixtures' release managers as the engine mentions
// them on platform: alice by her user id and the role's group, in the
// form the platform's ids take.
func approvers(platform string) []runbook.Mention {
	alice, group := "U0AL1CE", "S0RELEASE"
	if platform == "discord" {
		alice, group = "100000000000000002", "876543210987654321"
	}
	return []runbook.Mention{
		{Platform: platform, ID: alice, Name: "alice"},
		{Platform: platform, ID: group, Group: true, Name: "release-manager group " + group},
	}
}

// addCalls adds the calls of run #12's approvers, as the engine posts
// them in the run's thread and, for the reminder, in its channel: they
// mention the approvers the platform knows and name igor, who has no
// identity on it. The text carries what looks like mentions and must
// ping no one.
func addCalls(add func(string, runbook.Message)) func(platform string) {
	return func(platform string) {
		r := FixtureRun(platform, runbook.StateAwaitingApproval)
		add("approvers_call", runbook.Message{RunID: 12, Title: r.Title(), Tone: runbook.ToneWaiting,
			Mentions: approvers(platform),
			Text: "Run #12 (demo v1.2 → production, requested by <@U999> @everyone <@100000000000000009>) needs approval by " +
				"release-manager (igor) (0 of 1): approve or reject it on the run's message. It expires at Sun 2025-03-16 12:00 UTC."})
		add("approvers_reminder", runbook.Message{RunID: 12, Title: r.Title(), Tone: runbook.ToneWaiting,
			Mentions: approvers(platform),
			Text: "Reminder: run #12 (demo v1.2 → production, requested by U0RM) still needs approval by release-manager (igor). " +
				"It expires at Sun 2025-03-16 12:00 UTC."})
	}
}

// DirectMessages are the direct messages every chat renders in its golden
// files, each linking to run #12's message in channel: the one telling
// the requester their run was approved, and the one calling an approver
// (notify_approvers: dm).
func DirectMessages(platform, channel, ref string) []Fixture {
	r := FixtureRun(platform, runbook.StateApproved)
	origin := &runbook.Origin{Platform: platform, Channel: channel, MessageRef: ref}
	return []Fixture{
		{"requester_dm", runbook.Message{RunID: 12, Title: r.Title(), Tone: runbook.ToneSuccess, Related: origin,
			Text: "Your run #12 (demo v1.2 → production) was approved by alice and carol <@U999> @everyone"}},
		{"approvers_dm", runbook.Message{RunID: 12, Title: r.Title(), Tone: runbook.ToneWaiting, Related: origin,
			Text: "Run #12 (demo v1.2 → production, requested by U0RM) needs approval by release-manager (0 of 1): " +
				"approve or reject it on the run's message. It expires at Sun 2025-03-16 12:00 UTC."}},
	}
}

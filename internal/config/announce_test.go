package config

import (
	"reflect"
	"strings"
	"testing"

	"shipmate/internal/chat"
	"shipmate/internal/runbook"
)

// Ids that would become mentions or announce channels are checked at load,
// with the key that holds them: a typo would otherwise call no one.
func TestChatIDAndAnnounceErrors(t *testing.T) {
	for _, tc := range []struct{ name, old, new, want string }{
		{"slack user id", "  dev: {web: [alice]}\n", "  dev: {web: [alice], slack: [U0OK, u0bad]}\n",
			`roles.dev.slack[1]: want a Slack user id such as U0123ABCD, got "u0bad" (line 2)`},
		{"slack group id", "slack_groups: [S1]", "slack_groups: [U1]",
			`roles.lead.slack_groups[0]: want a Slack user group id such as S0123ABCD, got "U1" (line 3)`},
		{"discord role id", "slack_groups: [S1]", `discord_roles: ["<@&123>"]`,
			`roles.lead.discord_roles[0]: want a Discord role id (digits), got "<@&123>" (line 3)`},
		{"person's discord id", "roles:\n", "people:\n  ann: {web: ann, discord: \"@everyone\"}\nroles:\n",
			`people.ann.discord: want a Discord user id (digits), got "@everyone" (line 2)`},
		{"notify_approvers", "    approval: {roles: [lead]}\n", "    approval: {roles: [lead]}\n    notify_approvers: email\n",
			`environments.production.notify_approvers: want mention or dm, got "email" (line 16)`},
		{"announce channel", "roles:\n", "announce: {production: \"#releases\"}\nroles:\n",
			`announce.production: want a Slack channel id (C…), a Discord channel id (digits) or {slack: C…, discord: …}, got "#releases" (line 1)`},
		{"announce environment", "roles:\n", "announce: {prod: C0REL}\nroles:\n",
			`announce.prod: unknown environment "prod" (environments: staging, production) (line 1)`},
		{"announce slack channel", "roles:\n", "announce:\n  staging: {slack: \"123\"}\nroles:\n",
			`announce.staging.slack: want a Slack channel id such as C0123ABCD, got "123" (line 2)`},
		{"app announce", "    executor: exec\n", "    executor: exec\n    announce: {qa: C0QA}\n",
			`apps.web.announce.qa: unknown environment "qa" (environments: staging, production) (line 23)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(valid, tc.old) {
				t.Fatalf("%q is not in the valid config", tc.old)
			}
			_, err := Parse([]byte(strings.Replace(valid, tc.old, tc.new, 1)), noVars)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n got: %v\nwant: %s", err, tc.want)
			}
		})
	}
}

// announce: routes runs per environment, on Slack and Discord by the form
// of the id or by name, and an app's announce: overrides it.
func TestAnnounce(t *testing.T) {
	text := strings.Replace(valid, "roles:\n", `announce:
  production: {slack: C0PROD, discord: "200000000000000001"}
  staging: C0STAGE
roles:
`, 1)
	text = strings.Replace(text, "    executor: exec\n", "    executor: exec\n    announce: {production: \"200000000000000009\"}\n", 1)
	text = strings.Replace(text, "    approval: none\n", "    approval: none\n    notify_approvers: dm\n", 1)
	c, err := Parse([]byte(text), noVars)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]chat.Announce{
		"slack": {Envs: map[string]string{"production": "C0PROD", "staging": "C0STAGE"}},
		"discord": {Envs: map[string]string{"production": "200000000000000001"},
			Apps: map[string]map[string]string{"web": {"production": "200000000000000009"}}},
	}
	if !reflect.DeepEqual(c.Announce, want) {
		t.Errorf("announce\n got %+v\nwant %+v", c.Announce, want)
	}
	if got := c.Announce["discord"].Channel("web", "production"); got != "200000000000000009" {
		t.Errorf("web's production runs announced in %q", got)
	}
	if stg, _ := c.Policy.Env("staging"); stg.NotifyApprovers != runbook.NotifyDM {
		t.Errorf("staging notifies approvers by %q", stg.NotifyApprovers)
	}
}

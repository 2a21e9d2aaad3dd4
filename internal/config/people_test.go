package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/runbook"
)

const peopleConfig = `people:
  rita:  {web: rita, slack: U0RM, discord: "100000000000000003"}
  alice: {web: alice, slack: [U0LEAD, U0LEAD2]}
`

func TestPeople(t *testing.T) {
	text := peopleConfig + strings.Replace(valid, "  lead: {web: [bob], slack_groups: [S1]}",
		"  lead: {people: [rita], web: [bob], slack_groups: [S1]}", 1)
	c, err := Parse([]byte(text), noVars)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]runbook.Person{
		"rita":  {IDs: map[string][]string{"web": {"rita"}, "slack": {"U0RM"}, "discord": {"100000000000000003"}}},
		"alice": {IDs: map[string][]string{"web": {"alice"}, "slack": {"U0LEAD", "U0LEAD2"}}},
	}
	if diff := cmp.Diff(want, c.Policy.People); diff != "" {
		t.Errorf("people (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"rita"}, c.Policy.Roles["lead"].People); diff != "" {
		t.Errorf("lead's people (-want +got):\n%s", diff)
	}
}

func TestPeopleErrors(t *testing.T) {
	for _, tc := range []struct {
		name, people, role, want string
	}{
		{"identity given twice", "  bob: {slack: U0RM}\n", "",
			`people.bob.slack: slack id "U0RM" is also given at people.rita.slack: one identity is one person (line 4)`},
		{"identity given twice in a list", "  bob: {web: [bob, alice]}\n", "",
			`people.bob.web[1]: web id "alice" is also given at people.alice.web: one identity is one person (line 4)`},
		{"no identity", "  bob: {}\n", "",
			`people.bob: give at least one identity, such as {web: bob, slack: U012345} (line 4)`},
		{"bad platform key", "  bob: {Slack: U1}\n", "",
			`people.bob.Slack: unknown key (want a chat platform such as web, slack or discord) (line 4)`},
		{"empty id", "  bob: {slack: \"\"}\n", "",
			`people.bob.slack: must not be empty (line 4)`},
		{"bad person name", "  Bob: {slack: U1}\n", "",
			`people.Bob: invalid person name (use lowercase letters, digits, - and _, starting with a letter) (line 4)`},
		{"unknown person in a role", "", "people: [rita, zed], ",
			`roles.lead.people[1]: unknown person "zed" (people: lists alice, rita) (line 6)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := peopleConfig + tc.people + strings.Replace(valid, "  lead: {web: [bob]", "  lead: {"+tc.role+"web: [bob]", 1)
			_, err := Parse([]byte(text), noVars)
			if err == nil {
				t.Fatalf("no error; want %s", tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error:\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

package runbook_test

import (
	"reflect"
	"strings"
	"testing"

	rb "shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// icNotice is the notice to the incident commanders the chat was sent.
func icNotice(h *harness) (rb.Message, bool) {
	for _, m := range h.Chat.Posts() {
		if m.Status == "" && strings.Contains(m.Text, "Incident commander") {
			return m, true
		}
	}
	return rb.Message{}, false
}

// The incident commanders are mentioned as the run's chat knows them, from
// the policy alone: people with an identity there and the role's members
// and groups there; the others are named in the text.
func TestCommanderNoticeMentions(t *testing.T) {
	people := map[string]rb.Person{
		"irene": {IDs: map[string][]string{"web": {"irene-w"}, "slack": {"U0IRENE"}}},
		"igor":  {IDs: map[string][]string{"slack": {"U0IGOR"}}},
		"iris":  {IDs: map[string][]string{"web": {"iris-w"}, "discord": {"1005"}}},
	}
	for _, tc := range []struct {
		name     string
		role     rb.Role
		text     string
		mentions []rb.Mention
		detail   string
	}{
		{
			name:     "people known here and elsewhere",
			role:     rb.Role{People: []string{"irene", "igor"}},
			text:     "Incident commander (igor): ivan is rolling",
			mentions: []rb.Mention{{Platform: "web", ID: "irene-w", Name: "irene"}},
			detail:   "notified: igor and irene",
		},
		{
			name: "members and groups of this chat, a member named on another",
			role: rb.Role{
				Members: map[string][]string{"web": {"ian"}, "discord": {"1005"}, "slack": {"U0STRANGER"}},
				Groups:  map[string][]string{"web": {"oncall"}, "slack": {"S0IC"}},
			},
			text: "Incident commander: ivan is rolling",
			mentions: []rb.Mention{
				{Platform: "web", ID: "iris-w", Name: "iris"},
				{Platform: "web", ID: "ian", Name: "ian"},
				{Platform: "web", ID: "oncall", Group: true, Name: "incident-commander group oncall"},
			},
			detail: "notified: iris, ian and incident-commander group oncall",
		},
		{
			name:   "nobody here",
			role:   rb.Role{Members: map[string][]string{"slack": {"U0STRANGER"}}},
			text:   "Incident commander (nobody known on this chat): ivan is rolling",
			detail: "notified: nobody",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessWith(t, newExec(runbooktest.Verify), func(c *rb.Config) {
				runbooktest.WithEnv("production", func(e *rb.Environment) { e.RollbackProcedure = true })(c.Policy)
				c.Policy.People = people
				c.Policy.Roles[rb.RoleIncidentCommander] = tc.role
			})
			liveInProduction(h, "v1", "v2")
			rep, err := h.Do("ivan", `/rollback demo production --reason "checkout <@U0EVERY> errors"`)
			if err != nil {
				t.Fatal(err)
			}
			h.Settle()
			if err := h.Act("ivan", rep.RunID, rb.ButtonTick, rb.ProcAssess); err != nil {
				t.Fatal(err)
			}
			h.Settle()
			notice, ok := icNotice(h)
			if !ok {
				t.Fatalf("no notice to the incident commander among %q", h.Chat.Notices())
			}
			contains(t, notice.Text, tc.text)
			if !reflect.DeepEqual(notice.Mentions, tc.mentions) {
				t.Errorf("mentions\n got %+v\nwant %+v", notice.Mentions, tc.mentions)
			}
			for _, it := range h.Run(rep.RunID).Procedure {
				if it.Key == rb.ProcNotify {
					contains(t, it.Detail, tc.detail)
				}
			}
		})
	}
}

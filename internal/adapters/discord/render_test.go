package discord

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"
	"github.com/google/go-cmp/cmp"

	"shipmate/internal/chat/chattest"
	"shipmate/internal/runbook"
)

func TestRenderChecklistAndButtons(t *testing.T) {
	m := runbook.Message{RunID: 4, Title: "demo 1.2.0 → staging", Status: "checklist", Tone: runbook.ToneWaiting,
		Text: "waiting for the checklist",
		Items: []runbook.Item{
			{Key: "tests", Label: "Tests pass", Done: true, By: "U2", Editable: true},
			{Key: "ci", Label: "CI green", Auto: true, Done: true, Detail: "ci/demo #9: SUCCESS"},
			{Key: "notes", Label: "Notes", Editable: true},
		},
		Buttons: []runbook.Button{{Action: runbook.ButtonApprove, Label: "Approve", RunID: 4},
			{Action: runbook.ButtonReject, Label: "Reject", RunID: 4}, {Action: runbook.ButtonCancel, Label: "Cancel", RunID: 4}},
	}
	r := render(m)
	e := r.Embeds[0]
	if e.Color != toneColors[runbook.ToneWaiting] || !strings.Contains(e.Description, "checklist") {
		t.Fatalf("embed: %+v", e)
	}
	list := e.Fields[len(e.Fields)-1].Value
	if !strings.Contains(list, "CI green") || !strings.Contains(list, "ci/demo #9: SUCCESS") {
		t.Fatalf("checklist field: %q", list)
	}
	sel := r.Components[0].(discordgo.ActionsRow).Components[0].(discordgo.SelectMenu)
	if sel.CustomID != "checklist:4" || *sel.MinValues != 0 || sel.MaxValues != 2 || len(sel.Options) != 2 {
		t.Fatalf("select: %+v", sel)
	}
	if !sel.Options[0].Default || sel.Options[1].Default || sel.Options[1].Value != "notes" {
		t.Fatalf("options: %+v", sel.Options)
	}
	buttons := r.Components[1].(discordgo.ActionsRow).Components
	want := []struct {
		id    string
		style discordgo.ButtonStyle
	}{{"approve:4", discordgo.SuccessButton}, {"reject:4", discordgo.DangerButton}, {"cancel:4", discordgo.SecondaryButton}}
	for i, w := range want {
		b := buttons[i].(discordgo.Button)
		if b.CustomID != w.id || b.Style != w.style {
			t.Fatalf("button %d: %+v", i, b)
		}
	}
	// Nothing editable: no select.
	m.Items[0].Editable, m.Items[2].Editable = false, false
	if r := render(m); len(r.Components) != 1 {
		t.Fatalf("components without editable items: %d", len(r.Components))
	}
}

func TestUserIdentity(t *testing.T) {
	guild := &discordgo.Interaction{Member: &discordgo.Member{
		User: &discordgo.User{ID: "U5", Username: "five", GlobalName: "Five F."}, Roles: []string{"R1", "R-RM"}}}
	// The names a user chose are not who they are: only the id is kept.
	if u := user(guild); u.ID != "U5" || u.Person != "" || u.String() != "U5" || u.Platform != Platform || len(u.Groups) != 2 {
		t.Fatalf("guild user: %+v", u)
	}
	dm := &discordgo.Interaction{User: &discordgo.User{ID: "U6", Username: "six"}}
	if u := user(dm); u.ID != "U6" || u.String() != "U6" || u.Groups != nil {
		t.Fatalf("DM user: %+v", u)
	}
}

// renderTestJSON is what a golden file holds: the body Post sends for m.
func renderTestJSON(t *testing.T, m runbook.Message) []byte {
	t.Helper()
	r := render(m)
	return chattest.GoldenJSON(t, &discordgo.MessageSend{Content: r.Content, Embeds: r.Embeds, Components: r.Components, AllowedMentions: r.allowedMentions()})
}

// Run messages as Discord receives them, in testdata/*.golden.json
// (rewritten with -update).
func TestRenderGolden(t *testing.T) {
	for _, tc := range chattest.Fixtures(Platform) {
		t.Run(tc.Name, func(t *testing.T) {
			want := chattest.Golden(t, tc.Name+".golden.json", renderTestJSON(t, tc.Message), *update)
			path := filepath.Join("testdata", tc.Name+".golden.json")
			// discordgo reads the golden back to the same embeds and components.
			var back discordgo.Message
			if err := json.Unmarshal(want, &back); err != nil {
				t.Fatalf("discordgo cannot read %s: %v", path, err)
			}
			var allowed struct {
				AllowedMentions *discordgo.MessageAllowedMentions `json:"allowed_mentions"`
			}
			if err := json.Unmarshal(want, &allowed); err != nil {
				t.Fatalf("read allowed_mentions of %s: %v", path, err)
			}
			r := render(tc.Message)
			if len(r.Components) == 0 && len(back.Components) == 0 {
				back.Components = r.Components // none either way
			}
			read := rendered{Embeds: back.Embeds, Components: back.Components, Content: back.Content, Allowed: allowed.AllowedMentions}
			if r.Allowed == nil && cmp.Equal(read.Allowed, noMentions()) {
				read.Allowed = nil // pings no one either way
			}
			if diff := cmp.Diff(r.Key(), read.Key()); diff != "" {
				t.Errorf("%s read back differs (-rendered +read):\n%s", path, diff)
			}
		})
	}
}

// Text people typed is shown as typed, never read as markdown: a masked
// link or a mention in a reason stays plain text, as on Slack.
func TestRenderEscapesMarkdown(t *testing.T) {
	m := runbook.Message{RunID: 3, Title: "#3 demo v1 → production", Status: "rejected", Tone: runbook.ToneFailure,
		Text:   "rejected by rita: see [the runbook](https://evil.example/login) <@&876543210987654321> **now**",
		Fields: []runbook.Field{{Label: "Reason", Value: "`rm -rf` > /dev/null"}}}
	e := render(m).Embeds[0]
	want := `**rejected**` + "\n" + `rejected by rita: see \[the runbook\](https://evil.example/login) \<@&876543210987654321\> \*\*now\*\*`
	if e.Description != want {
		t.Errorf("description\n got %s\nwant %s", e.Description, want)
	}
	if got := e.Fields[0].Value; got != "\\`rm -rf\\` \\> /dev/null" {
		t.Errorf("reason field %s", got)
	}
}

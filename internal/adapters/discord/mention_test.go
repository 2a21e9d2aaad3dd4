package discord

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"
	"github.com/google/go-cmp/cmp"

	"shipmate/internal/runbook"
)

// Mentions from the policy go into the content, where Discord pings, and
// allowed_mentions lets exactly those ping: text people typed stays
// escaped in the embed, and an id that is no Discord id is shown by name.
func TestRenderMentions(t *testing.T) {
	m := runbook.Message{RunID: 5, Title: "Rollback demo → v1 in production", Tone: runbook.ToneInfo,
		Text: "Incident commander (igor): ivan is rolling back: <@100000000000000009> @everyone",
		Mentions: []runbook.Mention{
			{Platform: Platform, ID: "100000000000000005", Name: "ivan"},
			{Platform: Platform, ID: "876543210987654322", Group: true, Name: "incident-commander group 876543210987654322"},
			{Platform: Platform, ID: "@everyone", Name: "@everyone"},
			{Platform: "slack", ID: "U0IRIS", Name: "iris_s"},
		}}
	r := render(m)
	if want := `<@100000000000000005> <@&876543210987654322> @everyone iris\_s`; r.Content != want {
		t.Errorf("content\n got %s\nwant %s", r.Content, want)
	}
	want := &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{},
		Users: []string{"100000000000000005"}, Roles: []string{"876543210987654322"}}
	if diff := cmp.Diff(want, r.allowedMentions()); diff != "" {
		t.Errorf("allowed mentions (-want +got):\n%s", diff)
	}
	if d := r.Embeds[0].Description; !strings.Contains(d, `\<@100000000000000009\>`) {
		t.Errorf("description %q: the typed mention is not escaped", d)
	}
	// Without mentions a message pings no one.
	m.Mentions = nil
	if r := render(m); r.Content != "" || !cmp.Equal(r.allowedMentions(), noMentions()) {
		t.Errorf("without mentions: content %q, allowed %+v", r.Content, r.allowedMentions())
	}
}

// posted is what the tests read of a message Shipmate posted.
type posted struct {
	Content         string `json:"content"`
	AllowedMentions struct {
		Parse []string `json:"parse"`
		Users []string `json:"users"`
		Roles []string `json:"roles"`
	} `json:"allowed_mentions"`
}

// decodePosted reads a posted message's body.
func decodePosted(t *testing.T, body []byte) posted {
	t.Helper()
	var msg posted
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatal(err)
	}
	return msg
}

// wantOnlyMention checks that the posted body mentions user id in its
// content, where Discord pings, and that allowed_mentions lets that user
// and no one else ping.
func wantOnlyMention(t *testing.T, body []byte, id string) {
	t.Helper()
	msg := decodePosted(t, body)
	am := msg.AllowedMentions
	if msg.Content != "<@"+id+">" || am.Parse == nil || len(am.Parse) != 0 || !slices.Equal(am.Users, []string{id}) || am.Roles != nil {
		t.Errorf("message %s: want content <@%s> and only that user allowed to ping", body, id)
	}
}

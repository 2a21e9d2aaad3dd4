package slack

import (
	"testing"

	"github.com/slack-go/slack"

	"shipmate/internal/runbook"
)

// Mentions from the policy become Slack's own mentions; text people typed
// stays escaped however much it looks like one, and so does an id that is
// no Slack id.
func TestRenderNoticeMentions(t *testing.T) {
	m := runbook.Message{RunID: 5, Title: "Rollback demo → v1 in production", Tone: runbook.ToneInfo,
		Text: "Incident commander (igor): ivan is rolling back: <@U0EVIL> <!channel>",
		Mentions: []runbook.Mention{
			{Platform: Platform, ID: "U0INC", Name: "ivan"},
			{Platform: Platform, ID: "S0IC", Group: true, Name: "incident-commander group S0IC"},
			{Platform: Platform, ID: "<!channel>", Name: "<!channel>"},
			{Platform: "discord", ID: "1005", Name: "iris"},
		}}
	want := "<@U0INC> <!subteam^S0IC> &lt;!channel&gt; iris " +
		"Incident commander (igor): ivan is rolling back: &lt;@U0EVIL&gt; &lt;!channel&gt;"
	if got := renderBlocks(m)[0].(*slack.SectionBlock).Text.Text; got != want {
		t.Errorf("notice\n got %s\nwant %s", got, want)
	}
	if got, want := renderText(m), "<@U0INC> <!subteam^S0IC> &lt;!channel&gt; iris Rollback demo → v1 in production: "; got[:len(want)] != want {
		t.Errorf("notification text %q, want it to start %q", got, want)
	}
}

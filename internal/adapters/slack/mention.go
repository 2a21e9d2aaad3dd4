package slack

import (
	"strings"

	"shipmate/internal/runbook"
)

// renderMentions is m's mentions as Slack's own: <@U…> for a user and
// <!subteam^S…> for a user group, each ending in a space, so that they
// go before the text. They come from the policy, not from anything typed,
// and an id that does not look like a Slack id is shown as its escaped
// name rather than trusted into the markup.
func renderMentions(m runbook.Message) string {
	var b strings.Builder
	for _, mn := range m.Mentions {
		switch {
		case mn.Platform != Platform:
			b.WriteString(renderEscaper.Replace(mn.Name))
		case mn.Group && renderIsGroupID(mn.ID):
			b.WriteString("<!subteam^" + mn.ID + ">")
		case !mn.Group && renderIsUserID(mn.ID):
			b.WriteString("<@" + mn.ID + ">")
		default:
			b.WriteString(renderEscaper.Replace(mn.Name))
		}
		b.WriteString(" ")
	}
	return b.String()
}

// renderIsGroupID reports whether s looks like a Slack user group id: S,
// then upper-case letters and digits.
func renderIsGroupID(s string) bool {
	if len(s) < 2 || s[0] != 'S' {
		return false
	}
	for _, c := range s[1:] {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

package discord

import (
	"strings"

	"github.com/bwmarrin/discordgo"

	"shipmate/internal/runbook"
)

// mentions renders m's mentions as Discord's own, <@id> for a user and
// <@&id> for a guild role, for a message's content: Discord pings nobody
// mentioned in an embed. allowed lets exactly those ping, and nothing
// else in the message (an @everyone in a reason) can. They come from the
// policy, not from anything typed; an id that is no Discord id, or one of
// another platform, is shown as its escaped name instead.
func mentions(m runbook.Message) (content string, allowed *discordgo.MessageAllowedMentions) {
	allowed = noMentions()
	var parts []string
	for _, mn := range m.Mentions {
		switch {
		case mn.Platform != Platform || !isSnowflake(mn.ID):
			parts = append(parts, escapeMarkdown(mn.Name))
		case mn.Group:
			parts = append(parts, "<@&"+mn.ID+">")
			allowed.Roles = append(allowed.Roles, mn.ID)
		default:
			parts = append(parts, "<@"+mn.ID+">")
			allowed.Users = append(allowed.Users, mn.ID)
		}
	}
	return clip(strings.Join(parts, " "), maxContent), allowed
}

// isSnowflake reports whether s looks like a Discord id: digits only.
func isSnowflake(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// allowedMentions is what r may ping: its mentions, or no one.
func (r rendered) allowedMentions() *discordgo.MessageAllowedMentions {
	if r.Allowed != nil {
		return r.Allowed
	}
	return noMentions()
}

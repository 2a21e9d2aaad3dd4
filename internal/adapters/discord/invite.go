package discord

import (
	"net/url"
	"strconv"

	"github.com/bwmarrin/discordgo"
)

// Permissions are what Shipmate's bot needs in a channel it serves: see
// it, post a run's message (with embeds), start the run's thread from it
// and post the step output there, and read the history a thread starts
// from.
const Permissions int64 = discordgo.PermissionViewChannel |
	discordgo.PermissionSendMessages |
	discordgo.PermissionEmbedLinks |
	discordgo.PermissionReadMessageHistory |
	discordgo.PermissionCreatePublicThreads |
	discordgo.PermissionSendMessagesInThreads

// InviteURL is the link that adds application appID's bot to a server with
// the scopes and permissions Shipmate needs.
func InviteURL(appID string) string {
	q := url.Values{
		"client_id":   {appID},
		"scope":       {"bot applications.commands"},
		"permissions": {strconv.FormatInt(Permissions, 10)},
	}
	return "https://discord.com/oauth2/authorize?" + q.Encode()
}

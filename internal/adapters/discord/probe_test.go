package discord

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"
	"github.com/google/go-cmp/cmp"

	"shipmate/internal/adapters/discord/discordtest"
	"shipmate/internal/probe"
)

func TestProbe(t *testing.T) {
	api := discordtest.New(t)
	const token = "MTAx.probe-test.token-0123456789"
	api.SetApplication(token, "111111111111111111", "Shipmate")
	cfg := Config{BotToken: token, ApplicationID: "111111111111111111", APIURL: api.URL}

	got := Probe(context.Background(), cfg, nil)
	want := []probe.Result{
		{Service: "discord", Target: "application", OK: true, Detail: `"Shipmate" (111111111111111111)`},
		{Service: "discord", Target: "invite", OK: true, Detail: InviteURL("111111111111111111")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if calls := api.Exact("GET", "/applications/@me"); len(calls) != 1 {
		t.Errorf("GET /applications/@me called %d times, want 1", len(calls))
	}

	other := cfg
	other.ApplicationID = "999999999999999999"
	got = Probe(context.Background(), other, nil)
	if len(got) != 1 || got[0].OK || !strings.Contains(got[0].Detail, `"Shipmate" (111111111111111111)`) ||
		!strings.Contains(got[0].Detail, "application_id is 999999999999999999") {
		t.Errorf("another application's id: %+v", got)
	}

	revoked := cfg
	revoked.BotToken = "MTAx.revoked.token-9876543210"
	got = Probe(context.Background(), revoked, nil)
	if len(got) != 1 || got[0].OK || !strings.Contains(got[0].Detail, "401") {
		t.Errorf("a revoked token: %+v, want a failure with Discord's 401", got)
	}
	if strings.Contains(got[0].Detail, revoked.BotToken) {
		t.Errorf("the token is shown: %q", got[0].Detail)
	}
}

// The invite asks for the bot and its commands, with exactly the
// permissions Shipmate uses: nothing like Administrator or Manage Messages.
func TestInviteURLAsksForWhatShipmateUses(t *testing.T) {
	u, err := url.Parse(InviteURL("111111111111111111"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "discord.com" || u.Path != "/oauth2/authorize" || q.Get("client_id") != "111111111111111111" || q.Get("scope") != "bot applications.commands" {
		t.Errorf("invite %s", u)
	}
	perms, err := strconv.ParseInt(q.Get("permissions"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]int64{
		"View Channel": discordgo.PermissionViewChannel, "Send Messages": discordgo.PermissionSendMessages,
		"Embed Links": discordgo.PermissionEmbedLinks, "Read Message History": discordgo.PermissionReadMessageHistory,
		"Create Public Threads": discordgo.PermissionCreatePublicThreads, "Send Messages in Threads": discordgo.PermissionSendMessagesInThreads,
	}
	for name, bit := range named {
		if perms&bit == 0 {
			t.Errorf("the invite lacks %s", name)
		}
		perms &^= bit
	}
	if perms != 0 {
		t.Errorf("the invite asks for more: permission bits %b", perms)
	}
}

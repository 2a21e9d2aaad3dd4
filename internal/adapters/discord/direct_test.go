package discord

import (
	"context"
	"strings"
	"testing"

	"shipmate/internal/adapters/discord/discordtest"
	"shipmate/internal/chat/chattest"
)

// A direct message goes to the DM channel Discord creates for the user,
// links to the run's message and pings no one; the golden files hold the
// body of the post.
func TestDirectGolden(t *testing.T) {
	f := discordtest.New(t)
	c := newTestChatWith(t, f, chatOptions{guildID: "123456789012345678"})
	for _, tc := range chattest.DirectMessages(Platform, "200000000000000001", "300000000000000001") {
		t.Run(tc.Name, func(t *testing.T) {
			if err := c.Direct(context.Background(), "100000000000000001", tc.Message); err != nil {
				t.Fatal(err)
			}
			opens := f.Exact("POST", "/users/@me/channels")
			if len(opens) == 0 || !strings.Contains(string(opens[len(opens)-1].Body), `"recipient_id":"100000000000000001"`) {
				t.Fatalf("no DM channel created for the user: %+v", opens)
			}
			posts := f.Exact("POST", "/channels/D100000000000000001/messages")
			if len(posts) == 0 {
				t.Fatal("nothing posted to the DM channel")
			}
			body := posts[len(posts)-1].Body
			golden(t, tc.Name+".golden.json", body)
			if am := decodePosted(t, body).AllowedMentions; am.Parse == nil || len(am.Parse) != 0 || len(am.Users)+len(am.Roles) != 0 {
				t.Errorf("a direct message may ping: %s", body)
			}
		})
	}
}

package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"shipmate/internal/chat/chattest"
	"shipmate/internal/runbook"
)

// openConversation answers conversations.open as Slack does for one user:
// the direct conversation with them, "D" and the user's id here.
func (f *fakeSlack) openConversation(w http.ResponseWriter, r *http.Request) {
	users := r.Form.Get("users")
	if users == "" || strings.Contains(users, ",") {
		writeFakeError(w, "users_list_not_supplied")
		return
	}
	writeFakeOK(w, map[string]any{"channel": map[string]any{"id": "D" + users}})
}

// A direct message goes to the user's direct conversation, with a link to
// the run's message; the golden files hold what chat.postMessage gets.
func TestDirectGolden(t *testing.T) {
	f, c, _ := chatTestClocked(t, ChatOptions{})
	ref, err := c.Post(context.Background(), "C0RUNS", chatTestMessage("production", runbook.StateApproved, "approved"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range chattest.DirectMessages(Platform, "C0RUNS", ref) {
		t.Run(tc.Name, func(t *testing.T) {
			if err := c.Direct(context.Background(), "U0RM", tc.Message); err != nil {
				t.Fatal(err)
			}
			posts := f.ChannelPosts("DU0RM")
			if len(posts) == 0 {
				t.Fatalf("nothing posted to the direct conversation: %+v", f.Posts())
			}
			p := posts[len(posts)-1]
			var blocks any
			if err := json.Unmarshal([]byte(p.Blocks), &blocks); err != nil {
				t.Fatal(err)
			}
			got := chattest.GoldenJSON(t, map[string]any{"channel": p.Channel, "text": p.Text, "blocks": blocks})
			chattest.Golden(t, tc.Name+".golden.json", got, *update)
			if strings.Contains(p.Text, "<@U999>") || strings.Contains(p.Blocks, "<@U999>") {
				t.Errorf("a typed mention reached Slack unescaped: %s", p.Text)
			}
		})
	}
}

// Without a direct message (no im:write scope), the user is shown the
// message alone in the run's channel; with nowhere to show it, the error
// says why.
func TestDirectFallsBackToEphemeral(t *testing.T) {
	f, c, _ := chatTestNew(t, ChatOptions{})
	f.FailNext("conversations.open", -1, "missing_scope")
	m := chattest.DirectMessages(Platform, "C0RUNS", "1700000000.000100")[0].Message
	if err := c.Direct(context.Background(), "U0RM", m); err != nil {
		t.Fatal(err)
	}
	e := f.Ephemerals()
	if len(e) != 1 || e[0].Channel != "C0RUNS" || e[0].User != "U0RM" || !strings.Contains(e[0].Text, "was approved by alice") {
		t.Fatalf("ephemerals = %+v", e)
	}
	m.Related = nil
	if err := c.Direct(context.Background(), "U0RM", m); err == nil || !strings.Contains(err.Error(), "missing_scope") {
		t.Errorf("Direct with no fallback: err = %v", err)
	}
}

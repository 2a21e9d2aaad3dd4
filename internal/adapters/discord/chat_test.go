package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/rs/zerolog"

	"shipmate/internal/runbook"
)

func newTestChat(t *testing.T, f *fakeDiscord) *Chat {
	t.Helper()
	s, err := discordgo.New("Bot test-token")
	if err != nil {
		t.Fatal(err)
	}
	s.Client = f.client()
	s.ShouldRetryOnRateLimit = false
	c := newChat(s, zerolog.Nop(), 100*time.Millisecond)
	t.Cleanup(c.Close)
	return c
}

func flush(t *testing.T, c *Chat) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// Updates of one message are coalesced, a 429 is waited out, and the last
// content gets there.
func TestChatCoalescesAndWaitsOutRateLimits(t *testing.T) {
	f := newFakeDiscord(t)
	c := newTestChat(t, f)
	ctx := context.Background()
	ref, err := c.Post(ctx, testChannel, runbook.Message{RunID: 1, Title: "v0", Tone: runbook.ToneInfo})
	if err != nil || ref != "M1" {
		t.Fatalf("post: %q %v", ref, err)
	}
	f.mu.Lock()
	f.limits = 1
	f.mu.Unlock()
	start := time.Now()
	for i := 1; i <= 20; i++ {
		if err := c.Update(ctx, testChannel, ref, runbook.Message{RunID: 1, Title: fmt.Sprintf("v%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, c)
	patches := f.Exact("PATCH", "/channels/"+testChannel+"/messages/M1")
	if len(patches) > 4 {
		t.Fatalf("%d edits for 20 updates: not coalesced", len(patches))
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Fatal("the 429's retry_after was not waited out")
	}
	var m struct {
		Embeds []struct{ Title string } `json:"embeds"`
	}
	_ = json.Unmarshal(f.Message("M1"), &m)
	if len(m.Embeds) != 1 || m.Embeds[0].Title != "v20" {
		t.Fatalf("final content: %s", f.Message("M1"))
	}
}

// Step output goes to a thread, once per line; without threads, as replies.
func TestChatOutputThreadAndFallback(t *testing.T) {
	for _, noThread := range []bool{false, true} {
		t.Run(fmt.Sprintf("noThread=%v", noThread), func(t *testing.T) {
			f := newFakeDiscord(t)
			f.noThread = noThread
			c := newTestChat(t, f)
			ctx := context.Background()
			ref, err := c.Post(ctx, testChannel, runbook.Message{RunID: 7, Title: "demo"})
			if err != nil {
				t.Fatal(err)
			}
			// As the engine sends them: the tail in Log, what is new in NewLog.
			_ = c.Update(ctx, testChannel, ref, runbook.Message{RunID: 7, Title: "demo", Log: []string{"line-a"}, NewLog: []string{"line-a"}})
			_ = c.Update(ctx, testChannel, ref, runbook.Message{RunID: 7, Title: "demo", Log: []string{"line-a", "line-b"}, NewLog: []string{"line-b"}})
			_ = c.Update(ctx, testChannel, ref, runbook.Message{RunID: 7, Title: "demo", Log: []string{"line-a", "line-b"}})
			if err := c.Reply(ctx, testChannel, ref, runbook.Message{Title: "Rolled back by #8"}); err != nil {
				t.Fatal(err)
			}
			flush(t, c)
			target := "/channels/" + ref + "/messages"
			if noThread {
				target = "/channels/" + testChannel + "/messages"
			}
			var text strings.Builder
			for _, call := range f.Exact("POST", target) {
				if noThread && !strings.Contains(string(call.Body), `"message_reference"`) {
					continue // the run's own message
				}
				text.Write(call.Body)
			}
			got := text.String()
			if strings.Count(got, "line-a") != 1 || strings.Count(got, "line-b") != 1 || !strings.Contains(got, "Rolled back by #8") {
				t.Fatalf("output posted: %s", got)
			}
		})
	}
}

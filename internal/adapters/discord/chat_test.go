package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/rs/zerolog"

	"shipmate/internal/adapters/discord/discordtest"
	"shipmate/internal/chat"
	"shipmate/internal/chat/chattest"
	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

func newTestChat(t *testing.T, f *discordtest.Server) *chat.Chat {
	return newTestChatWith(t, f, chatOptions{minInterval: 100 * time.Millisecond})
}

func newTestChatWith(t *testing.T, f *discordtest.Server, opt chatOptions) *chat.Chat {
	t.Helper()
	s, err := discordgo.New("Bot test-token")
	if err != nil {
		t.Fatal(err)
	}
	s.Client = f.Client()
	s.ShouldRetryOnRateLimit = false
	c := newChat(s, zerolog.Nop(), opt)
	t.Cleanup(c.Close)
	return c
}

func flush(t *testing.T, c *chat.Chat) {
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
	f := discordtest.New(t)
	c := newTestChat(t, f)
	ctx := context.Background()
	ref, err := c.Post(ctx, testChannel, runbook.Message{RunID: 1, Title: "v0", Tone: runbook.ToneInfo})
	if err != nil || ref != "M1" {
		t.Fatalf("post: %q %v", ref, err)
	}
	f.RateLimitEdits(1)
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
			f := discordtest.New(t)
			f.RefuseThreads(noThread)
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

// A production run gets one summary in the announce channel, edited as the
// run moves on; other environments' runs are not announced.
func TestChatAnnounce(t *testing.T) {
	const ann = "444444444444444444"
	f := discordtest.New(t)
	c := newTestChatWith(t, f, chatOptions{minInterval: 20 * time.Millisecond, announceChannel: ann, announceEnv: "production"})
	ctx := context.Background()
	staging := runbook.Message{RunID: 1, Env: "staging", Title: "#1 demo v1.2 → staging", Status: "Deploying", Tone: runbook.ToneProgress}
	if _, err := c.Post(ctx, testChannel, staging); err != nil {
		t.Fatal(err)
	}
	m := runbook.Message{RunID: 2, Env: "production", Title: "#2 demo v1.2 → production", Status: "Awaiting approval",
		Tone: runbook.ToneWaiting, Fields: []runbook.Field{{Label: "Requested by", Value: "Ana"}},
		Buttons: []runbook.Button{{Action: runbook.ButtonApprove, Label: "Approve"}}, NewLog: []string{"a line"}}
	ref, err := c.Post(ctx, testChannel, m)
	if err != nil {
		t.Fatal(err)
	}
	posts := f.Exact("POST", "/channels/"+ann+"/messages")
	if len(posts) != 1 {
		t.Fatalf("announce channel got %d posts, want 1 (production only)", len(posts))
	}
	var sum struct {
		Embeds []struct {
			Title, Description string
		}
		Components []any
	}
	if err := json.Unmarshal(posts[0].Body, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Embeds) != 1 || sum.Embeds[0].Title != "⏳ #2 demo v1.2 → production" ||
		sum.Embeds[0].Description != "**Awaiting approval** · requested by Ana" || len(sum.Components) != 0 {
		t.Fatalf("summary = %s", posts[0].Body)
	}

	m.Status, m.Tone, m.State, m.Buttons, m.NewLog = "Succeeded", runbook.ToneSuccess, runbook.StateSucceeded, nil, nil
	if err := c.Update(ctx, testChannel, ref, m); err != nil {
		t.Fatal(err)
	}
	flush(t, c)
	edits := f.Calls("PATCH", "/channels/"+ann+"/messages/")
	if len(edits) != 1 {
		t.Fatalf("summary edited %d times, want 1", len(edits))
	}
	if err := json.Unmarshal(edits[0].Body, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Embeds[0].Title != "🚀 #2 demo v1.2 → production" || !strings.HasPrefix(sum.Embeds[0].Description, "**Succeeded**") {
		t.Fatalf("edited summary = %s", edits[0].Body)
	}
	if n := len(f.Exact("POST", "/channels/"+ann+"/messages")); n != 1 {
		t.Fatalf("announce channel got %d posts after the update, want still 1", n)
	}
	// The output line went to the run's thread only, not to the summary.
	var to []string
	for _, cl := range f.Calls("POST", "/channels/") {
		if strings.Contains(string(cl.Body), "a line") {
			to = append(to, cl.Path)
		}
	}
	if len(to) != 1 || to[0] != "/channels/"+ref+"/messages" {
		t.Fatalf("output posted to %v, want once to the thread of %s", to, ref)
	}
}

// A restarted bot goes on editing the summary an earlier one posted.
func TestChatAnnounceAfterRestart(t *testing.T) {
	const ann = "444444444444444444"
	f := discordtest.New(t)
	st, err := store.Open(filepath.Join(t.TempDir(), "shipmate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	opt := chatOptions{minInterval: 20 * time.Millisecond, announceChannel: ann, announceEnv: "production", refs: st}
	ctx := context.Background()
	m := runbook.Message{RunID: 5, Env: "production", Title: "#5 demo v3 → production", Status: "monitoring", Tone: runbook.ToneProgress}
	first := newTestChatWith(t, f, opt)
	ref, err := first.Post(ctx, testChannel, m)
	if err != nil {
		t.Fatal(err)
	}
	flush(t, first)
	first.Close()

	second := newTestChatWith(t, f, opt)
	m.Status, m.Tone = "succeeded", runbook.ToneSuccess
	if err := second.Update(ctx, testChannel, ref, m); err != nil {
		t.Fatal(err)
	}
	flush(t, second)
	if n := len(f.Exact("POST", "/channels/"+ann+"/messages")); n != 1 {
		t.Fatalf("announce channel got %d posts, want the one summary", n)
	}
	edits := f.Calls("PATCH", "/channels/"+ann+"/messages/")
	if len(edits) != 1 || !strings.Contains(string(edits[0].Body), "🚀 #5 demo v3 → production") {
		t.Fatalf("summary edits after the restart: %v", edits)
	}
}

// The Discord chat keeps the contract of every chat.
func TestChatContract(t *testing.T) {
	chattest.Run(t, func(t *testing.T) chattest.Platform {
		f := discordtest.New(t)
		c := newTestChatWith(t, f, chatOptions{minInterval: 300 * time.Millisecond})
		return chattest.Platform{Chat: c, Channel: testChannel, Close: c.Close,
			Shows: func(id string) string { return string(f.Message(id)) },
			Edits: func(id string) int { return len(f.Exact("PATCH", "/channels/"+testChannel+"/messages/"+id)) },
			Thread: func(id string) string {
				var b strings.Builder
				for _, call := range f.Exact("POST", "/channels/"+id+"/messages") {
					b.Write(call.Body)
				}
				return b.String()
			},
		}
	})
}

// A run's message is posted once: a bot stopped between posting it and
// storing its id posts it again with the same key, and Discord (nonce with
// enforce_nonce) answers with the message already there.
func TestChatPostsARunsMessageOnce(t *testing.T) {
	f := discordtest.New(t)
	c := newTestChat(t, f)
	ctx := context.Background()
	m := runbook.Message{RunID: 7, Title: "#7 demo v1 → staging", Tone: runbook.ToneWaiting, PostKey: "run-7"}
	first, err := c.Post(ctx, testChannel, m)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Post(ctx, testChannel, m)
	if err != nil || again != first {
		t.Fatalf("the repeated post answered %q, %v; want the first message %q", again, err, first)
	}
	if n := len(f.MessagesWith(`"title":"#7 demo v1 → staging"`)); n != 1 {
		t.Errorf("%d messages of run #7, want 1", n)
	}
	var sent struct {
		Nonce        string `json:"nonce"`
		EnforceNonce bool   `json:"enforce_nonce"`
	}
	posts := f.Exact("POST", "/channels/"+testChannel+"/messages")
	if err := json.Unmarshal(posts[0].Body, &sent); err != nil || sent.Nonce != "run-7" || !sent.EnforceNonce {
		t.Errorf("the post carried %+v (%v), want nonce run-7, enforced", sent, err)
	}
}

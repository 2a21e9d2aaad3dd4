// Package chattest holds what the tests of every chat share: the contract
// suite each runbook.Chat passes (Run), and the run messages their golden
// files render (Fixtures).
package chattest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"shipmate/internal/runbook"
)

// Platform is a chat under test and the ways to read back what its
// platform shows.
type Platform struct {
	// Chat is the chat under test, new for the subtest.
	Chat runbook.Chat
	// Channel is where the suite posts.
	Channel string
	// Shows returns what message ref shows now, as the platform has it:
	// its latest body, in any form that holds the message's texts.
	Shows func(ref string) string
	// Edits returns how many edits of message ref the platform took; nil
	// for a chat that passes on every update as it comes (the console).
	Edits func(ref string) int
	// Thread returns what was posted in the thread of message ref; nil
	// for a chat without threads.
	Thread func(ref string) string
	// Close closes the chat. The suite calls it at most once.
	Close func()
}

// Run runs the contract every runbook.Chat keeps against the chats open
// returns, one for each subtest: a post shows the message; an update
// shows its content; a burst of updates ends showing the last one, sent
// as fewer edits than updates where edits are paced; notes and step
// output go to the message's thread where the chat has threads; and
// closing the chat sends what is still queued.
func Run(t *testing.T, open func(t *testing.T) Platform) {
	t.Run("post", func(t *testing.T) {
		p := open(t)
		a := post(t, p, message(41, "first-note"))
		b := post(t, p, message(42, "other-note"))
		if a == b {
			t.Fatalf("two runs' messages got one reference %q", a)
		}
		eventually(t, p, a, "first-note")
		eventually(t, p, b, "other-note")
	})
	t.Run("update", func(t *testing.T) {
		p := open(t)
		ref := post(t, p, message(43, "before-note"))
		update(t, p, ref, message(43, "after-note"))
		eventually(t, p, ref, "after-note")
	})
	t.Run("coalesce", func(t *testing.T) {
		p := open(t)
		ref := post(t, p, message(44, "start-note"))
		const n = 20
		for i := range n {
			update(t, p, ref, message(44, fmt.Sprintf("burst-%02d-note", i)))
		}
		eventually(t, p, ref, fmt.Sprintf("burst-%02d-note", n-1))
		flush(t, p)
		if p.Edits != nil {
			if e := p.Edits(ref); e < 1 || e > n/4 {
				t.Errorf("%d edits for %d updates in a burst: want them coalesced", e, n)
			}
		}
	})
	t.Run("thread", func(t *testing.T) {
		p := open(t)
		th, ok := p.Chat.(runbook.Threader)
		if !ok || p.Thread == nil {
			t.Skip("the chat has no threads")
		}
		ref := post(t, p, message(45, "threaded-note"))
		m := message(45, "running-note")
		m.Log, m.NewLog = []string{"output-line-1", "output-line-2"}, []string{"output-line-1", "output-line-2"}
		update(t, p, ref, m)
		err := th.Reply(context.Background(), p.Channel, ref, runbook.Message{RunID: 46, Title: "#46 demo", Text: "reply-note"})
		if err != nil {
			t.Fatalf("Reply: %v", err)
		}
		flush(t, p)
		waitFor(t, "the thread to show the output and the note", func() bool {
			got := p.Thread(ref)
			return strings.Contains(got, "output-line-1") && strings.Contains(got, "output-line-2") &&
				strings.Contains(got, "reply-note")
		})
		if got := p.Thread(ref); strings.Count(got, "output-line-1") != 1 {
			t.Errorf("an output line shows %d times in the thread: %s", strings.Count(got, "output-line-1"), got)
		}
	})
	t.Run("close flushes", func(t *testing.T) {
		p := open(t)
		ref := post(t, p, message(47, "open-note"))
		update(t, p, ref, message(47, "middle-note"))
		update(t, p, ref, message(47, "final-note"))
		p.Close()
		eventually(t, p, ref, "final-note")
		if err := p.Chat.Update(context.Background(), p.Channel, ref, message(47, "late-note")); err == nil {
			if _, isFlusher := p.Chat.(flusher); isFlusher {
				t.Error("Update after Close returned nil")
			}
		}
	})
}

// message is run id's message with note as its text.
func message(id uint64, note string) runbook.Message {
	return runbook.Message{RunID: id, App: "demo", Env: "staging", Version: "v1", Title: fmt.Sprintf("#%d demo v1 to staging", id),
		State: runbook.StateDeploying, Status: "deploying", Tone: runbook.ToneProgress, Text: note}
}

func post(t *testing.T, p Platform, m runbook.Message) string {
	t.Helper()
	ref, err := p.Chat.Post(context.Background(), p.Channel, m)
	if err != nil || ref == "" {
		t.Fatalf("Post = %q, %v", ref, err)
	}
	return ref
}

func update(t *testing.T, p Platform, ref string, m runbook.Message) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.Chat.Update(context.Background(), p.Channel, ref, m) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Update blocked: the engine calls it while it holds a run")
	}
}

// flusher is a chat that sends updates in the background.
type flusher interface {
	Flush(ctx context.Context) error
}

// flush waits until the chat has sent every update, if it sends them in
// the background.
func flush(t *testing.T, p Platform) {
	t.Helper()
	f, ok := p.Chat.(flusher)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// eventually waits until message ref shows note.
func eventually(t *testing.T, p Platform, ref, note string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("message %s to show %q", ref, note), func() bool { return strings.Contains(p.Shows(ref), note) })
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not after 10s", what)
		}
	}
}

package chat

import (
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/chat/chattest"
)

// The pacer keeps the contract of every chat, on the real clock.
func TestContract(t *testing.T) {
	chattest.Run(t, func(t *testing.T) chattest.Platform {
		f := newFake()
		c := New(Options{Platform: "fake", Sender: f, Renderer: f, Interval: 200 * time.Millisecond, Log: zerolog.Nop()})
		t.Cleanup(c.Close)
		return chattest.Platform{
			Chat: c, Channel: "C1", Shows: f.Show, Close: c.Close,
			Edits:  func(ref string) int { return len(f.Calls("edit", ref)) },
			Thread: func(ref string) string { return strings.Join(f.Replies(ref), "\n") },
		}
	})
}

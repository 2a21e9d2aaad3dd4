package chat

import (
	"context"
	"sync"
	"time"

	"shipmate/internal/runbook"
)

// Sender is one platform's wire: the calls that put messages on it. Each
// call is made once; Chat paces, retries and gives up.
type Sender interface {
	// Post sends d as a new message to channel and returns the message's
	// id.
	Post(ctx context.Context, channel string, d Drawing) (id string, err error)
	// Edit makes message to show d instead of what it shows.
	Edit(ctx context.Context, to *Target, d Drawing) error
	// Reply posts d under message to: in its thread, on platforms with
	// threads.
	Reply(ctx context.Context, to *Target, d Drawing) error
	// Classify tells what a failed call calls for and, for a rate limit,
	// how long the platform asks to wait.
	Classify(err error) (Failure, time.Duration)
}

// Renderer draws messages for one platform.
type Renderer interface {
	// Message draws a run's message, or a notice (a message without a
	// Status).
	Message(m runbook.Message) Drawing
	// Summary draws a run's line in the announce channel.
	Summary(m runbook.Message) Drawing
	// Note draws m as a reply in the thread of a message in channel (the
	// rollback a deployment is told about); it may look up a link to the
	// message m relates to.
	Note(ctx context.Context, channel string, m runbook.Message) Drawing
	// Output draws the first reply showing step output: skipped lines were
	// dropped before lines, which it says; n is how many of lines the
	// reply holds, at least one unless it says only that lines were
	// skipped.
	Output(lines []string, skipped int) (d Drawing, n int)
}

// Drawing is a message as one platform shows it, which that platform's
// Sender sends.
type Drawing interface {
	// Key identifies what the drawing shows: an edit to a message that
	// shows a drawing of the same key already is skipped.
	Key() string
}

// Failure is what a failed call calls for.
type Failure int

// The kinds of failure.
const (
	// Permanent: this content cannot be sent; it is dropped.
	Permanent Failure = iota
	// RateLimited: the call is retried after the platform's Retry-After.
	RateLimited
	// Transient: the call is retried after a growing backoff, a few times.
	Transient
	// Gone: the message or its channel is gone; nothing more is sent to it.
	Gone
)

// Target is a message the chat posted or edits, as its Sender gets it.
type Target struct {
	Channel, ID string
	// RunID is the run the message was first seen showing (0: none), for
	// platforms that name its thread after it.
	RunID uint64

	mu       sync.Mutex
	thread   string
	noThread bool
}

// Thread returns what the Sender noted of the message's thread: the
// thread's id once started, or that none can be.
func (t *Target) Thread() (id string, none bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.thread, t.noThread
}

// SetThread notes the message's thread, for the Senders of platforms
// whose threads must be started (Discord).
func (t *Target) SetThread(id string, none bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.thread, t.noThread = id, none
}

// Clock tells a chat the time and wakes it: the real clock by default, a
// test's own (clocktest) in tests, which then move time instead of
// waiting for it.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

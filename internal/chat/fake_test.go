package chat

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/clocktest"
	"shipmate/internal/logtest"
	"shipmate/internal/runbook"
)

// t0 is when the tests' clocks start.
var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// text is the fake platform's drawing: a line of text.
type text string

func (t text) Key() string { return string(t) }

// fakeError is a failed call of the fake platform.
type fakeError struct {
	kind Failure
	wait time.Duration
}

func (e fakeError) Error() string { return fmt.Sprintf("fake failure %d", e.kind) }

// fakeCall is one call the fake platform took.
type fakeCall struct {
	at       time.Time
	what, id string // what: post, edit, reply
	shows    string
}

// fake is a platform in memory: its messages show lines of text, and its
// calls fail as told. It is the Sender and Renderer of the chats under
// test.
type fake struct {
	clock *clocktest.Clock

	mu      sync.Mutex
	next    int
	shows   map[string]string   // message id → what it shows
	replies map[string][]string // message id → its thread
	calls   []fakeCall
	faults  map[string][]error // call → the errors of its next calls
	in      map[string]string  // message id → its channel
}

func newFake() *fake {
	return &fake{clock: clocktest.New(t0), shows: map[string]string{}, replies: map[string][]string{}, faults: map[string][]error{}}
}

// fail makes the next calls of what (post, edit, reply) fail with errs.
func (f *fake) fail(what string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[what] = append(f.faults[what], errs...)
}

// failOn is fail for the calls of kind what on message id only.
func (f *fake) failOn(what, id string, errs ...error) { f.fail(what+" "+id, errs...) }

// call records a call and returns the error it is to fail with.
func (f *fake) call(what, id string, d Drawing) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range []string{what + " " + id, what} {
		if errs := f.faults[k]; len(errs) > 0 {
			f.faults[k] = errs[1:]
			return errs[0]
		}
	}
	f.calls = append(f.calls, fakeCall{at: f.clock.Now(), what: what, id: id, shows: d.Key()})
	switch what {
	case "post", "edit":
		f.shows[id] = d.Key()
	case "reply":
		f.replies[id] = append(f.replies[id], d.Key())
	}
	return nil
}

func (f *fake) Post(ctx context.Context, channel string, d Drawing) (string, error) {
	f.mu.Lock()
	f.next++
	id := fmt.Sprintf("M%d", f.next)
	if f.in == nil {
		f.in = map[string]string{}
	}
	f.in[id] = channel
	f.mu.Unlock()
	if err := f.call("post", id, d); err != nil {
		return "", err
	}
	return id, nil
}

func (f *fake) Edit(ctx context.Context, to *Target, d Drawing) error {
	return f.call("edit", to.ID, d)
}

func (f *fake) Reply(ctx context.Context, to *Target, d Drawing) error {
	return f.call("reply", to.ID, d)
}

func (f *fake) Classify(err error) (Failure, time.Duration) {
	if e, ok := err.(fakeError); ok {
		return e.kind, e.wait
	}
	return Transient, 0
}

func (f *fake) Message(m runbook.Message) Drawing {
	return text(strings.TrimSpace(m.Title + " " + m.Status + " " + m.Text))
}

func (f *fake) Summary(m runbook.Message) Drawing {
	return text("summary: " + m.Title + " " + m.Status)
}

func (f *fake) Note(ctx context.Context, channel string, m runbook.Message) Drawing {
	return text("note: " + m.Text)
}

// Output puts up to two lines in a reply.
func (f *fake) Output(lines []string, skipped int) (Drawing, int) {
	n := min(2, len(lines))
	s := strings.Join(lines[:n], "\n")
	if skipped > 0 {
		s = fmt.Sprintf("(%d skipped)\n%s", skipped, s)
	}
	return text(s), n
}

// Show returns what message id shows.
func (f *fake) Show(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.shows[id]
}

// Replies returns the replies in the thread of message id.
func (f *fake) Replies(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.replies[id]...)
}

// Calls returns the calls of what (post, edit, reply) to message id.
func (f *fake) Calls(what, id string) []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeCall
	for _, c := range f.calls {
		if c.what == what && (id == "" || c.id == id) {
			out = append(out, c)
		}
	}
	return out
}

// newTestChat returns a chat on f with a one-second interval, closed when
// the test ends, and its log.
func newTestChat(t *testing.T, f *fake, opt Options) (*Chat, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	opt.Platform, opt.Sender, opt.Renderer, opt.Clock = "fake", f, f, f.clock
	opt.Log = zerolog.New(logs).Level(zerolog.DebugLevel)
	if opt.Interval == 0 {
		opt.Interval = time.Second
	}
	c := New(opt)
	t.Cleanup(c.Close)
	return c, logs
}

// until moves the clock on by step whenever something waits for it, until
// cond holds.
func (f *fake) until(t *testing.T, step time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 5s", what)
		}
		if f.clock.Waiters() > 0 {
			f.clock.Add(step)
			continue
		}
		time.Sleep(time.Millisecond)
	}
}

// waiting waits until something waits for the clock.
func (f *fake) waiting(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); f.clock.Waiters() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("nothing waits for the clock")
		}
	}
}

// flush waits until c has sent everything, which the clock need not move
// for.
func flush(t *testing.T, c *Chat) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// run is a run's message in env at status, with note as its text.
func run(id uint64, env, status, note string) runbook.Message {
	return runbook.Message{RunID: id, Env: env, Title: fmt.Sprintf("#%d demo", id), Status: status, Text: note}
}

package chat

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// A burst of updates is coalesced: the first goes at once, the rest wait
// for the interval and only the newest is sent.
func TestUpdatesCoalesce(t *testing.T) {
	f := newFake()
	c, _ := newTestChat(t, f, Options{})
	ctx := context.Background()
	id, err := c.Post(ctx, "C1", run(7, "staging", "requested", "start"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := c.Update(ctx, "C1", id, run(7, "staging", "deploying", fmt.Sprintf("step-%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	f.until(t, time.Second, "the last content", func() bool { return f.Show(id) == "#7 demo deploying step-19" })
	flush(t, c)
	edits := f.Calls("edit", id)
	if len(edits) > 2 {
		t.Fatalf("%d edits for 20 updates: not coalesced", len(edits))
	}
	for i := 1; i < len(edits); i++ {
		if gap := edits[i].at.Sub(edits[i-1].at); gap < time.Second {
			t.Errorf("edits %d and %d %v apart, want at least the interval", i-1, i, gap)
		}
	}
	// An update that changes nothing is not sent.
	_ = c.Update(ctx, "C1", id, run(7, "staging", "deploying", "step-19"))
	f.until(t, time.Second, "the worker to end", func() bool { return idle(c) })
	if n := len(f.Calls("edit", id)); n != len(edits) {
		t.Errorf("an update showing what the message shows was sent (%d edits, want %d)", n, len(edits))
	}
}

// idle reports whether no worker of c runs.
func idle(c *Chat) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active == 0
}

// A rate limit is waited out, on the clock, and the newest content sent
// after it.
func TestRateLimitWaitedOut(t *testing.T) {
	f := newFake()
	c, _ := newTestChat(t, f, Options{})
	ctx := context.Background()
	id, _ := c.Post(ctx, "C1", run(7, "staging", "approved", ""))
	f.fail("edit", fakeError{RateLimited, 30 * time.Second})
	_ = c.Update(ctx, "C1", id, run(7, "staging", "deploying", "first"))
	f.waiting(t)
	_ = c.Update(ctx, "C1", id, run(7, "staging", "deploying", "second"))
	f.clock.Add(29 * time.Second)
	if n := len(f.Calls("edit", id)); n != 0 {
		t.Fatalf("%d edits before Retry-After", n)
	}
	f.clock.Add(time.Second)
	f.until(t, time.Second, "the edit after Retry-After", func() bool { return len(f.Calls("edit", id)) == 1 })
	if got := f.Show(id); got != "#7 demo deploying second" {
		t.Fatalf("shows %q, want the newest content", got)
	}
	if at := f.Calls("edit", id)[0].at; at.Before(t0.Add(30 * time.Second)) {
		t.Errorf("edit at %v, before Retry-After", at)
	}
}

// Transient failures are retried with a growing backoff, then given up;
// a refused edit is dropped at once; a gone message gets no more calls.
func TestFailures(t *testing.T) {
	f := newFake()
	c, logs := newTestChat(t, f, Options{})
	ctx := context.Background()
	id, _ := c.Post(ctx, "C1", run(7, "staging", "approved", ""))
	transient := fakeError{kind: Transient}
	f.fail("edit", transient, transient)
	_ = c.Update(ctx, "C1", id, run(7, "staging", "deploying", "a"))
	f.until(t, time.Second, "the edit after two failures", func() bool { return f.Show(id) == "#7 demo deploying a" })

	f.fail("edit", transient, transient, transient, transient, transient, transient)
	_ = c.Update(ctx, "C1", id, run(7, "staging", "deploying", "b"))
	f.until(t, time.Second, "giving up", func() bool { return strings.Contains(logs.String(), "giving up") })
	flush(t, c)
	if got := f.Show(id); got != "#7 demo deploying a" {
		t.Fatalf("shows %q after giving up", got)
	}

	f.fail("edit", fakeError{kind: Permanent})
	_ = c.Update(ctx, "C1", id, run(7, "staging", "deploying", "c"))
	f.until(t, time.Second, "the refused edit", func() bool { return strings.Contains(logs.String(), "refused") })
	_ = c.Update(ctx, "C1", id, run(7, "staging", "deploying", "d"))
	f.until(t, time.Second, "the next edit", func() bool { return f.Show(id) == "#7 demo deploying d" })

	f.fail("edit", fakeError{kind: Gone})
	_ = c.Update(ctx, "C1", id, run(7, "staging", "deploying", "e"))
	f.until(t, time.Second, "gone", func() bool { return strings.Contains(logs.String(), "gone") })
	flush(t, c)
	calls := len(f.Calls("edit", id))
	for i := range 3 {
		if err := c.Update(ctx, "C1", id, run(7, "staging", "succeeded", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, c)
	if n := len(f.Calls("edit", id)); n != calls {
		t.Errorf("%d edits to a gone message", n-calls)
	}
}

// New output lines go to the message's thread in order; paced with the
// edits when PaceOutput is set, else at once.
func TestOutput(t *testing.T) {
	for _, paced := range []bool{true, false} {
		t.Run(fmt.Sprintf("paced=%v", paced), func(t *testing.T) {
			f := newFake()
			c, _ := newTestChat(t, f, Options{PaceOutput: paced})
			ctx := context.Background()
			m := run(7, "staging", "deploying", "")
			m.NewLog = []string{"a", "b", "c"}
			id, _ := c.Post(ctx, "C1", m)
			m.NewLog = []string{"d", "e"}
			_ = c.Update(ctx, "C1", id, m)
			f.until(t, time.Second, "every line", func() bool { return strings.Count(strings.Join(f.Replies(id), "\n"), "\n") == 4 })
			// How the lines fall into replies depends on whether the
			// first reply went out before the update came: every line
			// comes once, in order, at most two to a reply (the fake's).
			got := f.Replies(id)
			if all := strings.Join(got, "\n"); all != "a\nb\nc\nd\ne" || len(got) > 3 {
				t.Fatalf("thread = %q", got)
			}
			replies := f.Calls("reply", id)
			last := replies[len(replies)-1].at
			if paced && last.Sub(replies[0].at) < 2*time.Second {
				t.Errorf("paced replies %v apart", last.Sub(replies[0].at))
			}
			if !paced && !last.Equal(replies[0].at) {
				t.Errorf("unpaced replies waited %v", last.Sub(replies[0].at))
			}
		})
	}
}

// Output the platform is too slow for is dropped, oldest first, and
// counted in the next reply; a failed reply is sent again.
func TestOutputBacklog(t *testing.T) {
	f := newFake()
	c, _ := newTestChat(t, f, Options{})
	ctx := context.Background()
	id, _ := c.Post(ctx, "C1", run(7, "staging", "deploying", ""))
	f.fail("reply", fakeError{RateLimited, time.Minute})
	m := run(7, "staging", "deploying", "")
	m.NewLog = []string{"first"}
	_ = c.Update(ctx, "C1", id, m)
	f.waiting(t)
	for i := range maxPendingLines {
		m.NewLog = []string{fmt.Sprintf("line %d", i)}
		_ = c.Update(ctx, "C1", id, m)
	}
	f.until(t, time.Minute, "the thread", func() bool { return len(f.Replies(id)) > 0 })
	flush(t, c)
	if got := f.Replies(id)[0]; got != "(1 skipped)\nline 0\nline 1" {
		t.Fatalf("first reply = %q", got)
	}
}

// Close sends what waits for the pacing interval at once, and drops what
// must wait out a rate limit longer than CloseWait.
func TestCloseFlushes(t *testing.T) {
	f := newFake()
	c, logs := newTestChat(t, f, Options{CloseWait: 5 * time.Second})
	ctx := context.Background()
	id, _ := c.Post(ctx, "C1", run(7, "staging", "approved", ""))
	other, _ := c.Post(ctx, "C1", run(8, "staging", "approved", ""))
	_ = c.Update(ctx, "C1", id, run(7, "staging", "deploying", "a"))
	f.until(t, time.Second, "the first edit", func() bool { return len(f.Calls("edit", id)) == 1 })
	_ = c.Update(ctx, "C1", id, run(7, "staging", "succeeded", "b")) // waits for the interval
	f.failOn("edit", other, fakeError{RateLimited, time.Minute})
	_ = c.Update(ctx, "C1", other, run(8, "staging", "deploying", ""))
	f.until(t, time.Second, "the rate limit", func() bool { return strings.Contains(logs.String(), "rate limited") })

	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the clock")
	}
	if got := f.Show(id); got != "#7 demo succeeded b" {
		t.Errorf("after Close the message shows %q, want the last update", got)
	}
	if !strings.Contains(logs.String(), "dropped") {
		t.Errorf("the dropped edit was not logged:\n%s", logs)
	}
	if err := c.Update(ctx, "C1", id, run(7, "staging", "succeeded", "c")); err == nil {
		t.Error("Update after Close returned nil")
	}
	if _, err := c.Post(ctx, "C1", run(9, "staging", "requested", "")); err == nil {
		t.Error("Post after Close returned nil")
	}
}

// A production run gets one summary in the announce channel, edited with
// it; other environments' runs and notices are not announced.
func TestAnnounce(t *testing.T) {
	f := newFake()
	c, _ := newTestChat(t, f, Options{AnnounceChannel: "CANN", AnnounceEnv: "production"})
	ctx := context.Background()
	if _, err := c.Post(ctx, "C1", run(6, "staging", "requested", "")); err != nil {
		t.Fatal(err)
	}
	id, _ := c.Post(ctx, "C1", run(7, "production", "requested", ""))
	notice := run(7, "production", "", "a reminder")
	if _, err := c.Post(ctx, "C1", notice); err != nil {
		t.Fatal(err)
	}
	posts := f.Calls("post", "")
	var summaries []string
	for _, p := range posts {
		if strings.HasPrefix(p.shows, "summary: ") {
			summaries = append(summaries, p.id)
		}
	}
	if len(summaries) != 1 || f.Show(summaries[0]) != "summary: #7 demo requested" {
		t.Fatalf("summaries %v", summaries)
	}
	m := run(7, "production", "succeeded", "")
	m.NewLog = []string{"deployed"}
	_ = c.Update(ctx, "C1", id, m)
	f.until(t, time.Second, "the summary's edit", func() bool { return f.Show(summaries[0]) == "summary: #7 demo succeeded" })
	flush(t, c)
	if got := f.Replies(summaries[0]); len(got) != 0 {
		t.Errorf("the summary got replies: %q", got)
	}
}

// A restarted bot goes on editing the summary an earlier one posted.
func TestAnnounceAfterRestart(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "shipmate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := newFake()
	opt := Options{AnnounceChannel: "CANN", AnnounceEnv: "production", Refs: st}
	first, _ := newTestChat(t, f, opt)
	ctx := context.Background()
	id, _ := first.Post(ctx, "C1", run(5, "production", "monitoring", ""))
	first.Close()

	second, _ := newTestChat(t, f, opt)
	_ = second.Update(ctx, "C1", id, run(5, "production", "succeeded", ""))
	f.until(t, time.Second, "the summary's edit", func() bool { return len(f.Calls("edit", "")) == 2 })
	if n := len(f.Calls("post", "")); n != 2 {
		t.Fatalf("%d posts, want the run's message and its one summary", n)
	}
	if got := f.Show("M2"); got != "summary: #5 demo succeeded" {
		t.Fatalf("summary shows %q", got)
	}
}

// Messages idle for a day are forgotten, their summaries with them.
func TestSweep(t *testing.T) {
	f := newFake()
	c, _ := newTestChat(t, f, Options{AnnounceChannel: "CANN", AnnounceEnv: "production"})
	ctx := context.Background()
	id, _ := c.Post(ctx, "C1", run(7, "production", "monitoring", ""))
	f.clock.Add(slotIdleTTL + sweepEvery + time.Minute)
	_ = c.Update(ctx, "C1", "M9", run(9, "staging", "requested", ""))
	c.mu.Lock()
	_, kept := c.slots[key{"C1", id}]
	_, summary := c.summaries[7]
	c.mu.Unlock()
	if kept || summary {
		t.Fatalf("after a day idle: message kept %v, summary kept %v", kept, summary)
	}
}

// Calls whose callers wait are retried a few times: rate limits up to ten
// seconds, transient failures; never what the platform refused.
func TestTry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		errs  []error
		calls int
		ok    bool
	}{
		{"rate limited", []error{fakeError{RateLimited, time.Second}}, 2, true},
		{"rate limited too long", []error{fakeError{RateLimited, time.Minute}}, 1, false},
		{"transient", []error{fakeError{kind: Transient}, fakeError{kind: Transient}}, 3, true},
		{"transient thrice", []error{fakeError{kind: Transient}, fakeError{kind: Transient}, fakeError{kind: Transient}}, 3, false},
		{"refused", []error{fakeError{kind: Permanent}}, 1, false},
		{"gone", []error{fakeError{kind: Gone}}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			c, _ := newTestChat(t, f, Options{})
			calls := 0
			done := make(chan error, 1)
			go func() {
				done <- c.Try(context.Background(), func(context.Context) error {
					calls++
					if calls <= len(tc.errs) {
						return tc.errs[calls-1]
					}
					return nil
				})
			}()
			var err error
			f.until(t, time.Second, "Try", func() bool {
				select {
				case err = <-done:
					return true
				default:
					return false
				}
			})
			if (err == nil) != tc.ok || calls != tc.calls {
				t.Fatalf("Try = %v after %d calls, want ok %v after %d", err, calls, tc.ok, tc.calls)
			}
		})
	}
}

// Reply posts a note in the message's thread, with its run's target.
func TestReply(t *testing.T) {
	f := newFake()
	c, _ := newTestChat(t, f, Options{})
	ctx := context.Background()
	id, _ := c.Post(ctx, "C1", run(7, "production", "succeeded", ""))
	if err := c.Reply(ctx, "C1", id, runbook.Message{RunID: 8, Text: "rolled back by #8"}); err != nil {
		t.Fatal(err)
	}
	if got := f.Replies(id); len(got) != 1 || got[0] != "note: rolled back by #8" {
		t.Fatalf("thread = %q", got)
	}
	f.fail("reply", fakeError{kind: Gone})
	if err := c.Reply(ctx, "C1", id, runbook.Message{Text: "x"}); err == nil || !strings.HasPrefix(err.Error(), "fake: reply") {
		t.Fatalf("Reply to a gone message: %v", err)
	}
}

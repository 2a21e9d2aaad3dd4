package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/chat/chattest"
	"shipmate/internal/clocktest"
	"shipmate/internal/logtest"
	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// chatTestLog collects log lines, safely for concurrent writers.
type chatTestLog struct{ logtest.Buffer }

// count returns how many lines have level and contain substr.
func (l *chatTestLog) count(level, substr string) int {
	n := 0
	for line := range strings.SplitSeq(l.String(), "\n") {
		if strings.Contains(line, `"level":"`+level+`"`) && strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// chatTestNew returns a fake Slack and a Chat talking to it. The chat is
// closed at the test's end.
func chatTestNew(t *testing.T, opt ChatOptions) (*fakeSlack, *Chat, *chatTestLog) {
	t.Helper()
	f := newFakeSlack(t)
	logs := &chatTestLog{}
	opt.Log = zerolog.New(logs).Level(zerolog.DebugLevel)
	c := NewChat(f.Client(), opt)
	t.Cleanup(c.Close)
	return f, c, logs
}

// chatTestClocked returns a fake Slack and a Chat whose pacer runs on a
// test clock, with which the fake stamps its messages.
func chatTestClocked(t *testing.T, opt ChatOptions) (*fakeSlack, *Chat, *clocktest.Clock) {
	t.Helper()
	clock := clocktest.New(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	opt.Clock = clock
	f, c, _ := chatTestNew(t, opt)
	f.now = clock.Now
	return f, c, clock
}

// chatTestDrive moves clock on by step whenever something waits for it,
// until cond holds.
func chatTestDrive(t *testing.T, clock *clocktest.Clock, step time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 5s", what)
		}
		if clock.Waiters() > 0 {
			clock.Add(step)
			continue
		}
		time.Sleep(time.Millisecond)
	}
}

// chatTestSent reports whether c has sent everything it was given.
func chatTestSent(c *Chat) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	return c.Flush(ctx) == nil
}

// chatTestMessage is a run's message in state with note as its text.
func chatTestMessage(env string, state runbook.State, note string, log ...string) runbook.Message {
	return runbook.Message{RunID: 7, App: "demo", Env: env, Version: "v1.2.0", Title: "#7 demo v1.2.0 → " + env,
		State: state, Status: string(state), Tone: runbook.ToneProgress, Text: note,
		Fields: []runbook.Field{{Label: "Requested by", Value: "U0DEV"}}, Log: log}
}

// chatTestBlocks is the blocks JSON the chat sends for m.
func chatTestBlocks(t *testing.T, m runbook.Message) string {
	t.Helper()
	b, err := json.Marshal(renderBlocks(m))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// chatTestPlainJSON re-encodes JSON without escaping <, > and &, as
// encoding/json does by default, so that tests can look for mrkdwn in it.
func chatTestPlainJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("invalid JSON %q: %v", s, err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func chatTestFlush(t *testing.T, c *Chat, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func TestChatPostDistinctTS(t *testing.T) {
	f, c, _ := chatTestNew(t, ChatOptions{})
	ctx := context.Background()
	m := chatTestMessage("staging", runbook.StateRequested, "")
	ts1, err := c.Post(ctx, "C1", m)
	if err != nil {
		t.Fatal(err)
	}
	ts2, err := c.Post(ctx, "C1", m)
	if err != nil {
		t.Fatal(err)
	}
	if ts1 == "" || ts1 == ts2 {
		t.Fatalf("two posts in one second got ts %q and %q", ts1, ts2)
	}
	posts := f.Posts()
	if len(posts) != 2 {
		t.Fatalf("posts = %d, want 2", len(posts))
	}
	if got, want := posts[0].Blocks, chatTestBlocks(t, m); got != want {
		t.Errorf("blocks = %s\nwant %s", got, want)
	}
	if got, want := posts[0].Text, renderText(m); got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	if posts[0].Channel != "C1" || posts[0].ThreadTS != "" {
		t.Errorf("post = %+v, want in C1, not in a thread", posts[0])
	}
}

func TestChatUpdateCoalesces(t *testing.T) {
	const interval = time.Second
	for _, tc := range []struct {
		name     string
		every    time.Duration // between two Updates, on the test clock
		min, max int           // chat.update calls
	}{
		{"burst", 0, 1, 2},
		// 30 Updates over 1.5s: the first at once, then one a second.
		{"spread", 50 * time.Millisecond, 2, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, c, clock := chatTestClocked(t, ChatOptions{MinInterval: interval})
			ctx := context.Background()
			ts, err := c.Post(ctx, "C1", chatTestMessage("staging", runbook.StateDeploying, "start"))
			if err != nil {
				t.Fatal(err)
			}
			var last runbook.Message
			for i := range 30 {
				last = chatTestMessage("staging", runbook.StateDeploying, fmt.Sprintf("step %d", i))
				start := time.Now()
				if err := c.Update(ctx, "C1", ts, last); err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d > 100*time.Millisecond {
					t.Errorf("Update took %v: it must return at once", d)
				}
				// The worker has sent what was due, as it would have in
				// real time, before the clock moves on.
				chatTestDrive(t, clock, 0, "the worker to wait", func() bool { return chatTestSent(c) || clock.Waiters() > 0 })
				clock.Add(tc.every)
			}
			chatTestDrive(t, clock, 100*time.Millisecond, "every edit", func() bool { return chatTestSent(c) })

			ups := f.Updates()
			if len(ups) < tc.min || len(ups) > tc.max {
				t.Fatalf("chat.update calls = %d, want %d to %d", len(ups), tc.min, tc.max)
			}
			for i := 1; i < len(ups); i++ {
				if gap := ups[i].At.Sub(ups[i-1].At); gap < interval {
					t.Errorf("updates %d and %d only %v apart, want ≥ %v", i-1, i, gap, interval)
				}
			}
			if got, want := f.LatestBlocks("C1", ts), chatTestBlocks(t, last); got != want {
				t.Errorf("final blocks = %s\nwant the last Update's %s", got, want)
			}
			if got, want := f.LatestText("C1", ts), renderText(last); got != want {
				t.Errorf("final text = %q, want %q", got, want)
			}
		})
	}
}

// chatTestThreadLines returns the output lines posted in the thread of ts,
// in order.
func chatTestThreadLines(t *testing.T, f *fakeSlack, ts string) []string {
	t.Helper()
	var lines []string
	for _, r := range f.ThreadReplies(ts) {
		body, ok := strings.CutPrefix(r.Text, "```\n")
		body, ok2 := strings.CutSuffix(body, "\n```")
		if !ok || !ok2 {
			t.Fatalf("thread reply %q is not a code block", r.Text)
		}
		lines = append(lines, strings.Split(body, "\n")...)
	}
	return lines
}

// chatTestEngine feeds output to a chat the way the engine does: each
// refresh carries the last 12 lines of the current step and the lines
// added since the previous one.
type chatTestEngine struct {
	t      *testing.T
	c      *Chat
	ts     string
	step   []string
	all    []string // every line, in order: what the thread must show
	shown  []string // the last window sent
	stored []string // the run's stored Log (the previous step's tail)
}

func (e *chatTestEngine) print(lines ...string) {
	e.step = append(e.step, lines...)
	e.all = append(e.all, lines...)
	e.shown = e.step[max(0, len(e.step)-12):]
	m := chatTestMessage("staging", runbook.StateDeploying, fmt.Sprintf("%d lines", len(e.all)), e.shown...)
	m.NewLog = lines
	if err := e.c.Update(context.Background(), "C1", e.ts, m); err != nil {
		e.t.Fatal(err)
	}
}

// refreshStored sends the message as rendered from the stored run, as a
// click during a step does.
func (e *chatTestEngine) refreshStored() {
	m := chatTestMessage("staging", runbook.StateDeploying, "clicked", e.stored...)
	if err := e.c.Update(context.Background(), "C1", e.ts, m); err != nil {
		e.t.Fatal(err)
	}
}

// nextStep ends the step: its tail becomes the stored Log.
func (e *chatTestEngine) nextStep() {
	e.stored = e.shown
	e.step = nil
}

func TestChatThreadOutput(t *testing.T) {
	f, c, _ := chatTestNew(t, ChatOptions{MinInterval: 20 * time.Millisecond})
	ts, err := c.Post(context.Background(), "C1", chatTestMessage("staging", runbook.StateDeploying, ""))
	if err != nil {
		t.Fatal(err)
	}
	e := &chatTestEngine{t: t, c: c, ts: ts}
	n := 0
	lines := func(k int) []string {
		var out []string
		for range k {
			n++
			out = append(out, fmt.Sprintf("deploy line %d", n))
		}
		return out
	}
	// Growing windows with repeated lines, then windows sliding by 1 to 11
	// lines, some sent faster than the chat posts.
	e.print(".", ".")
	e.print(".")
	for i, k := range []int{1, 2, 3, 5, 1, 7, 2, 11, 4, 6, 1, 1, 9} {
		e.print(lines(k)...)
		e.refreshStored() // the stored run has no output yet
		if i%3 == 0 {
			time.Sleep(30 * time.Millisecond)
		}
	}
	e.print("ok")
	e.print() // the step printed nothing more: same window again
	e.nextStep()
	// The next step starts with the line the last one ended with.
	e.print("ok")
	e.refreshStored() // the previous step's tail: seen already
	e.print("check a", "check b")
	time.Sleep(30 * time.Millisecond)
	e.refreshStored()
	e.print("check c")
	chatTestFlush(t, c, 5*time.Second)

	got := chatTestThreadLines(t, f, ts)
	if strings.Join(got, "\n") != strings.Join(e.all, "\n") {
		t.Fatalf("thread shows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(e.all, "\n"))
	}
	if replies := len(f.ThreadReplies(ts)); replies < 2 {
		t.Errorf("thread replies = %d: want the output spread over several (the test sleeps between some)", replies)
	}
}

func TestChatRateLimited(t *testing.T) {
	f, c, clock := chatTestClocked(t, ChatOptions{MinInterval: 50 * time.Millisecond})
	ctx := context.Background()
	ts, err := c.Post(ctx, "C1", chatTestMessage("staging", runbook.StateApproved, ""))
	if err != nil {
		t.Fatal(err)
	}
	f.RateLimitNext("chat.update", 1, 1)
	start := clock.Now()
	if err := c.Update(ctx, "C1", ts, chatTestMessage("staging", runbook.StateDeploying, "first")); err != nil {
		t.Fatal(err)
	}
	if !f.WaitFor(func() bool { return f.Calls("chat.update") == 1 }, time.Second) {
		t.Fatal("no chat.update call")
	}
	last := chatTestMessage("staging", runbook.StateDeploying, "second", "building")
	last.NewLog = []string{"building"}
	if err := c.Update(ctx, "C1", ts, last); err != nil {
		t.Fatal(err)
	}
	chatTestDrive(t, clock, 100*time.Millisecond, "every edit", func() bool { return chatTestSent(c) })

	ups := f.Updates()
	if len(ups) != 1 {
		t.Fatalf("chat.update accepted %d times, want 1 (the latest content after the 429)", len(ups))
	}
	if ups[0].At.Sub(start) < time.Second {
		t.Errorf("update sent %v after the 429, want ≥ Retry-After (1s)", ups[0].At.Sub(start))
	}
	if got, want := f.LatestBlocks("C1", ts), chatTestBlocks(t, last); got != want {
		t.Errorf("final blocks = %s\nwant %s", got, want)
	}
	if got := chatTestThreadLines(t, f, ts); len(got) != 1 || got[0] != "building" {
		t.Errorf("thread = %q, want the output line", got)
	}
}

func TestChatTransientErrorRetried(t *testing.T) {
	f, c, logs := chatTestNew(t, ChatOptions{MinInterval: 20 * time.Millisecond})
	ctx := context.Background()
	ts, err := c.Post(ctx, "C1", chatTestMessage("staging", runbook.StateApproved, ""))
	if err != nil {
		t.Fatal(err)
	}
	f.ServerErrorNext("chat.update", 2)
	last := chatTestMessage("staging", runbook.StateDeploying, "go")
	if err := c.Update(ctx, "C1", ts, last); err != nil {
		t.Fatal(err)
	}
	chatTestFlush(t, c, 5*time.Second)
	if got := f.Calls("chat.update"); got != 3 {
		t.Errorf("chat.update calls = %d, want 3 (two 500s, then success)", got)
	}
	if got, want := f.LatestBlocks("C1", ts), chatTestBlocks(t, last); got != want {
		t.Errorf("final blocks = %s\nwant %s", got, want)
	}
	if strings.Contains(logs.String(), f.Token) {
		t.Error("the log shows the token")
	}
}

func TestChatPermanentError(t *testing.T) {
	f, c, logs := chatTestNew(t, ChatOptions{MinInterval: 20 * time.Millisecond})
	ctx := context.Background()
	ts, err := c.Post(ctx, "C1", chatTestMessage("staging", runbook.StateApproved, ""))
	if err != nil {
		t.Fatal(err)
	}

	// A refused content is dropped; the next update goes out.
	f.FailNext("chat.update", 1, "invalid_blocks")
	if err := c.Update(ctx, "C1", ts, chatTestMessage("staging", runbook.StateDeploying, "a")); err != nil {
		t.Fatal(err)
	}
	chatTestFlush(t, c, 2*time.Second)
	if got := f.Calls("chat.update"); got != 1 {
		t.Fatalf("chat.update calls = %d, want 1 (no retry of a refused edit)", got)
	}
	if logs.count("warn", "invalid_blocks") != 1 {
		t.Errorf("want one warning naming invalid_blocks; log:\n%s", logs)
	}
	if err := c.Update(ctx, "C1", ts, chatTestMessage("staging", runbook.StateDeploying, "b")); err != nil {
		t.Fatal(err)
	}
	chatTestFlush(t, c, 2*time.Second)
	if got := len(f.Updates()); got != 1 {
		t.Fatalf("accepted updates = %d, want 1", got)
	}

	// A message that is gone gets no more edits.
	f.FailNext("chat.update", 1, "channel_not_found")
	if err := c.Update(ctx, "C1", ts, chatTestMessage("staging", runbook.StateDeploying, "c", "out")); err != nil {
		t.Fatal(err)
	}
	chatTestFlush(t, c, 2*time.Second)
	if logs.count("warn", "channel_not_found") != 1 {
		t.Errorf("want one warning naming channel_not_found; log:\n%s", logs)
	}
	calls := f.Calls("chat.update")
	for i := range 3 {
		if err := c.Update(ctx, "C1", ts, chatTestMessage("staging", runbook.StateSucceeded, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	chatTestFlush(t, c, 2*time.Second)
	if got := f.Calls("chat.update"); got != calls {
		t.Errorf("chat.update calls after channel_not_found: %d more, want none", got-calls)
	}
}

func TestChatFlushAndClose(t *testing.T) {
	f, c, _ := chatTestNew(t, ChatOptions{MinInterval: 20 * time.Millisecond})
	ctx := context.Background()
	ts, err := c.Post(ctx, "C1", chatTestMessage("staging", runbook.StateApproved, ""))
	if err != nil {
		t.Fatal(err)
	}
	f.RateLimitNext("chat.update", 1, 30)
	if err := c.Update(ctx, "C1", ts, chatTestMessage("staging", runbook.StateDeploying, "")); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := c.Flush(fctx); err == nil {
		t.Fatal("Flush returned nil while an edit waits out a 30s rate limit")
	}
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not stop the worker waiting out the rate limit")
	}
	if err := c.Update(ctx, "C1", ts, chatTestMessage("staging", runbook.StateDeploying, "")); err == nil {
		t.Error("Update after Close returned nil")
	}
	chatTestFlush(t, c, time.Second)
}

func TestChatAnnounce(t *testing.T) {
	f, c, _ := chatTestNew(t, ChatOptions{AnnounceChannel: "CANN", AnnounceEnv: "production", MinInterval: 20 * time.Millisecond})
	ctx := context.Background()

	staging := chatTestMessage("staging", runbook.StateRequested, "")
	staging.RunID = 6
	sts, err := c.Post(ctx, "C1", staging)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, "C1", sts, chatTestMessage("staging", runbook.StateSucceeded, "")); err != nil {
		t.Fatal(err)
	}

	prod := chatTestMessage("production", runbook.StateRequested, "")
	ts, err := c.Post(ctx, "C1", prod)
	if err != nil {
		t.Fatal(err)
	}
	ann := f.ChannelPosts("CANN")
	if len(ann) != 1 {
		t.Fatalf("announce channel has %d messages, want 1 (production only)", len(ann))
	}
	if ann[0].Text != renderSummary(prod) {
		t.Errorf("summary = %q, want %q", ann[0].Text, renderSummary(prod))
	}
	done := chatTestMessage("production", runbook.StateSucceeded, "live", "deployed")
	if err := c.Update(ctx, "C1", ts, done); err != nil {
		t.Fatal(err)
	}
	chatTestFlush(t, c, 2*time.Second)
	if got := f.LatestText("CANN", ann[0].TS); got != renderSummary(done) {
		t.Errorf("summary after the update = %q, want %q", got, renderSummary(done))
	}
	if got := f.ThreadReplies(ann[0].TS); len(got) != 0 {
		t.Errorf("the summary got thread replies: %+v", got)
	}
	if got := len(f.ChannelPosts("CANN")); got != 1 {
		t.Errorf("announce channel has %d messages after the update, want 1", got)
	}
	if got := f.LatestBlocks("C1", ts); got != chatTestBlocks(t, done) {
		t.Errorf("run message not updated: %s", got)
	}
}

func TestChatReply(t *testing.T) {
	f, c, _ := chatTestNew(t, ChatOptions{})
	ctx := context.Background()
	ts, err := c.Post(ctx, "CREL", chatTestMessage("production", runbook.StateSucceeded, ""))
	if err != nil {
		t.Fatal(err)
	}
	rbTS, err := c.Post(ctx, "CINC", chatTestMessage("production", runbook.StateRequested, ""))
	if err != nil {
		t.Fatal(err)
	}
	note := runbook.Message{RunID: 8, Title: "#7 demo v1.2.0 → production", Tone: runbook.ToneFailure,
		Text:    "U0INC asked for rollback #8: demo in production back to v1.1.0",
		Related: &runbook.Origin{Platform: Platform, Channel: "CINC", MessageRef: rbTS}}
	if err := c.Reply(ctx, "CREL", ts, note); err != nil {
		t.Fatal(err)
	}
	replies := f.ThreadReplies(ts)
	if len(replies) != 1 {
		t.Fatalf("thread replies = %d, want 1", len(replies))
	}
	r := replies[0]
	permalink := "https://shipmate-test.slack.com/archives/CINC/p" + strings.ReplaceAll(rbTS, ".", "")
	for _, want := range []string{"<#CINC>", permalink, "rollback #8"} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("reply text %q lacks %q", r.Text, want)
		}
		if !strings.Contains(chatTestPlainJSON(t, r.Blocks), want) {
			t.Errorf("reply blocks %s lack %q", r.Blocks, want)
		}
	}
	if f.Calls("chat.getPermalink") != 1 {
		t.Errorf("chat.getPermalink calls = %d, want 1", f.Calls("chat.getPermalink"))
	}

	// A related message on another platform is not linked; one not yet
	// posted is linked by its channel.
	note.Related = &runbook.Origin{Platform: "web", Channel: "console", MessageRef: "run-8"}
	if err := c.Reply(ctx, "CREL", ts, note); err != nil {
		t.Fatal(err)
	}
	note.Related = &runbook.Origin{Platform: Platform, Channel: "CINC"}
	if err := c.Reply(ctx, "CREL", ts, note); err != nil {
		t.Fatal(err)
	}
	replies = f.ThreadReplies(ts)
	if len(replies) != 3 {
		t.Fatalf("thread replies = %d, want 3", len(replies))
	}
	if strings.Contains(replies[1].Text, "<#") || strings.Contains(replies[1].Text, "console") {
		t.Errorf("reply for a web origin links it: %q", replies[1].Text)
	}
	if !strings.Contains(replies[2].Text, "<#CINC>") || strings.Contains(replies[2].Text, "https://") {
		t.Errorf("reply for an unposted origin = %q, want the channel link only", replies[2].Text)
	}
}

func TestChatEphemeral(t *testing.T) {
	f, c, _ := chatTestNew(t, ChatOptions{})
	if err := c.Ephemeral(context.Background(), "C1", "U0DEV", "Only you can see this"); err != nil {
		t.Fatal(err)
	}
	e := f.Ephemerals()
	if len(e) != 1 || e[0].Channel != "C1" || e[0].User != "U0DEV" || e[0].Text != "Only you can see this" {
		t.Fatalf("ephemerals = %+v", e)
	}
	f.FailNext("chat.postEphemeral", 1, "user_not_in_channel")
	if err := c.Ephemeral(context.Background(), "C1", "U0OUT", "x"); err == nil || !strings.Contains(err.Error(), "user_not_in_channel") {
		t.Errorf("Ephemeral to a user not in the channel: err = %v", err)
	}
}

func TestChatPostRetriesRateLimit(t *testing.T) {
	f, c, clock := chatTestClocked(t, ChatOptions{})
	f.RateLimitNext("chat.postMessage", 1, 1)
	start := clock.Now()
	type posted struct {
		ts  string
		err error
	}
	done := make(chan posted, 1)
	go func() {
		ts, err := c.Post(context.Background(), "C1", chatTestMessage("staging", runbook.StateRequested, ""))
		done <- posted{ts, err}
	}()
	var p posted
	chatTestDrive(t, clock, 100*time.Millisecond, "Post", func() bool {
		select {
		case p = <-done:
			return true
		default:
			return false
		}
	})
	if p.err != nil {
		t.Fatal(p.err)
	}
	if clock.Now().Sub(start) < time.Second || p.ts == "" {
		t.Errorf("Post returned %q after %v, want a ts after Retry-After", p.ts, clock.Now().Sub(start))
	}
	f.FailNext("chat.postMessage", 1, "channel_not_found")
	if _, err := c.Post(context.Background(), "CGONE", chatTestMessage("staging", runbook.StateRequested, "")); err == nil {
		t.Error("Post to a missing channel returned nil")
	}
}

// A restarted bot goes on editing the summary an earlier one posted.
func TestChatAnnounceAfterRestart(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "shipmate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	opt := ChatOptions{AnnounceChannel: "CANN", AnnounceEnv: "production", MinInterval: 20 * time.Millisecond, Refs: st}
	f, first, _ := chatTestNew(t, opt)
	ctx := context.Background()
	ts, err := first.Post(ctx, "C1", chatTestMessage("production", runbook.StateMonitoring, ""))
	if err != nil {
		t.Fatal(err)
	}
	chatTestFlush(t, first, 2*time.Second)
	first.Close()

	opt.Log = zerolog.Nop()
	second := NewChat(f.Client(), opt)
	t.Cleanup(second.Close)
	done := chatTestMessage("production", runbook.StateSucceeded, "live")
	if err := second.Update(ctx, "C1", ts, done); err != nil {
		t.Fatal(err)
	}
	chatTestFlush(t, second, 2*time.Second)
	ann := f.ChannelPosts("CANN")
	if len(ann) != 1 {
		t.Fatalf("announce channel has %d messages, want the one summary", len(ann))
	}
	if got := f.LatestText("CANN", ann[0].TS); got != renderSummary(done) {
		t.Errorf("summary after the restart = %q, want %q", got, renderSummary(done))
	}
}

// The Slack chat keeps the contract of every chat.
func TestChatContract(t *testing.T) {
	chattest.Run(t, func(t *testing.T) chattest.Platform {
		f := newFakeSlack(t)
		c := NewChat(f.Client(), ChatOptions{MinInterval: 300 * time.Millisecond, Log: zerolog.Nop()})
		t.Cleanup(c.Close)
		const channel = "C1"
		return chattest.Platform{Chat: c, Channel: channel, Close: c.Close,
			Shows: func(ts string) string {
				m, _ := f.Message(channel, ts)
				return m.Text + m.Blocks
			},
			Edits: func(ts string) int {
				n := 0
				for _, u := range f.Updates() {
					if u.TS == ts {
						n++
					}
				}
				return n
			},
			Thread: func(ts string) string {
				var b strings.Builder
				for _, r := range f.ThreadReplies(ts) {
					b.WriteString(r.Text + r.Blocks + "\n")
				}
				return b.String()
			},
		}
	})
}

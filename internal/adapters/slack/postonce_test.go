package slack

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"shipmate/internal/chat"
	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// postOnceStore opens a store on a file of the test's: the references a
// bot and the bot restarted after it share.
func postOnceStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "shipmate.db"), store.Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// postOnceMessage is run 7's message as the engine posts it, with its
// post key.
func postOnceMessage(state runbook.State, note string) runbook.Message {
	m := chatTestMessage("staging", state, note)
	m.PostKey = "run-7"
	return m
}

// postOnceRestart returns the chat of a bot started again on the same
// Slack and store, and its log.
func postOnceRestart(t *testing.T, f *fakeSlack, refs chat.RefStore) (*Chat, *chatTestLog) {
	t.Helper()
	logs := &chatTestLog{}
	c := NewChat(f.Client(), ChatOptions{Refs: refs, MinInterval: 20 * time.Millisecond,
		Log: zerolog.New(logs).Level(zerolog.DebugLevel)})
	t.Cleanup(c.Close)
	return c, logs
}

// postOnceBegun leaves what a bot stopped while posting m leaves: the
// marker stored and, with reached, the message on Slack; never its ts
// with the run. It returns the message's ts ("" when not reached).
func postOnceBegun(t *testing.T, f *fakeSlack, refs chat.RefStore, m runbook.Message, reached bool) string {
	t.Helper()
	c, _ := postOnceRestart(t, f, refs)
	defer c.Close()
	ctx, stop := context.WithCancel(context.Background())
	if !reached {
		stop() // the bot stops before the post leaves
	}
	defer stop()
	ts, err := c.Post(ctx, "C1", m)
	if reached != (err == nil) {
		t.Fatalf("Post = %q, %v", ts, err)
	}
	if v, ok, err := refs.RunRef(context.Background(), m.RunID, postMarker); !ok || err != nil || !strings.HasPrefix(v, "C1/") {
		t.Fatalf("marker %q, %v, %v after the post, want one for C1", v, ok, err)
	}
	return ts
}

// A fresh post carries its key as metadata, marks the attempt, and costs
// no Slack call besides chat.postMessage.
func TestPostOnceFresh(t *testing.T) {
	st := postOnceStore(t)
	f, c, _ := chatTestNew(t, ChatOptions{Refs: st, MinInterval: 20 * time.Millisecond})
	ctx := context.Background()
	ts, err := c.Post(ctx, "C1", postOnceMessage(runbook.StateChecklist, ""))
	if err != nil {
		t.Fatal(err)
	}
	posts := f.Posts()
	if len(posts) != 1 || posts[0].TS != ts {
		t.Fatalf("posts %+v, want one with ts %s", posts, ts)
	}
	var got any
	if err := json.Unmarshal([]byte(posts[0].Metadata), &got); err != nil {
		t.Fatalf("metadata %q: %v", posts[0].Metadata, err)
	}
	want := map[string]any{"event_type": "shipmate_run_message", "event_payload": map[string]any{"post_key": "run-7"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("metadata (-want +got):\n%s", d)
	}
	if _, ok, _ := st.RunRef(ctx, 7, postMarker); !ok {
		t.Error("no marker stored for the post")
	}
	notice := runbook.Message{RunID: 7, Title: "#7 demo", Tone: runbook.ToneInfo, Text: "a notice"}
	if _, err := c.Post(ctx, "C1", notice); err != nil {
		t.Fatal(err)
	}
	if md := f.Posts()[1].Metadata; md != "" {
		t.Errorf("a notice carries metadata %s, want none", md)
	}
	for _, m := range []string{"conversations.history", "auth.test", "chat.update"} {
		if n := f.Calls(m); n != 0 {
			t.Errorf("%s called %d times, want never", m, n)
		}
	}
}

// A bot stopped after Slack took the post, before the ts was stored,
// finds the message when it posts again, and edits it to show the run as
// it is now.
func TestPostOnceAfterStop(t *testing.T) {
	st := postOnceStore(t)
	f := newFakeSlack(t)
	ctx := context.Background()
	ts := postOnceBegun(t, f, st, postOnceMessage(runbook.StateChecklist, "first"), true)

	c, logs := postOnceRestart(t, f, st)
	now := postOnceMessage(runbook.StateAwaitingApproval, "moved on")
	got, err := c.Post(ctx, "C1", now)
	if err != nil || got != ts {
		t.Fatalf("Post after the restart = %q, %v; want %q, the message posted before", got, err, ts)
	}
	if n := len(f.ChannelPosts("C1")); n != 1 {
		t.Errorf("%d messages in C1, want the one", n)
	}
	if n := f.Calls("conversations.history"); n != 1 {
		t.Errorf("conversations.history called %d times, want once", n)
	}
	if got, want := f.LatestBlocks("C1", ts), chatTestBlocks(t, now); got != want {
		t.Errorf("the message shows\n%s\nwant the run now\n%s", got, want)
	}
	if m, _ := f.Message("C1", ts); m.Metadata == "" {
		t.Error("the message lost its metadata")
	}
	if logs.count("info", "found the run's message") != 1 {
		t.Errorf("log:\n%s\nwant the message found said once", logs.String())
	}
	later := postOnceMessage(runbook.StateApproved, "approved")
	if err := c.Update(ctx, "C1", ts, later); err != nil {
		t.Fatal(err)
	}
	chatTestFlush(t, c, 2*time.Second)
	if got, want := f.LatestText("C1", ts), renderText(later); got != want {
		t.Errorf("after an update the message says %q, want %q", got, want)
	}
}

// A bot stopped before its post left posts the message when it runs
// again, after looking for it once.
func TestPostOnceNotOnSlack(t *testing.T) {
	st := postOnceStore(t)
	f := newFakeSlack(t)
	m := postOnceMessage(runbook.StateChecklist, "")
	postOnceBegun(t, f, st, m, false)
	if n := f.Calls("chat.postMessage"); n != 0 {
		t.Fatalf("chat.postMessage called %d times before the restart, want never", n)
	}

	c, logs := postOnceRestart(t, f, st)
	ts, err := c.Post(context.Background(), "C1", m)
	if err != nil {
		t.Fatal(err)
	}
	if posts := f.ChannelPosts("C1"); len(posts) != 1 || posts[0].TS != ts {
		t.Errorf("messages in C1: %+v, want the one posted, %s", posts, ts)
	}
	if n := f.Calls("conversations.history"); n != 1 {
		t.Errorf("conversations.history called %d times, want once", n)
	}
	if logs.count("info", "not in the channel; posting it") != 1 {
		t.Errorf("log:\n%s\nwant the post said", logs.String())
	}
}

// When Slack cannot say whether the message is there, it is posted again:
// a duplicate beats a missing message. The warning says so.
func TestPostOnceLookupFails(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(f *fakeSlack)
	}{
		{"rate limited", func(f *fakeSlack) { f.RateLimitNext("conversations.history", -1, 30) }},
		{"not in channel", func(f *fakeSlack) { f.FailNext("conversations.history", -1, "not_in_channel") }},
		{"missing scope", func(f *fakeSlack) { f.FailNext("conversations.history", -1, "missing_scope") }},
		{"server error", func(f *fakeSlack) { f.ServerErrorNext("conversations.history", -1) }},
		{"auth.test fails", func(f *fakeSlack) { f.FailNext("auth.test", -1, "internal_error") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := postOnceStore(t)
			f := newFakeSlack(t)
			m := postOnceMessage(runbook.StateChecklist, "")
			first := postOnceBegun(t, f, st, m, true)
			tc.fault(f)

			c, logs := postOnceRestart(t, f, st)
			ts, err := c.Post(context.Background(), "C1", m)
			if err != nil || ts == "" || ts == first {
				t.Fatalf("Post = %q, %v; want a new message", ts, err)
			}
			if n := len(f.ChannelPosts("C1")); n != 2 {
				t.Errorf("%d messages in C1, want 2", n)
			}
			if logs.count("warn", "cannot look for a run's message") != 1 {
				t.Errorf("log:\n%s\nwant one warning", logs.String())
			}
			if named := logs.count("warn", "needs the channels:history") > 0; named != (tc.name == "missing scope") {
				t.Errorf("log:\n%s\nwant the scopes named only when one is missing", logs.String())
			}
		})
	}
}

// Slack took the post but its answer was lost: the retry finds the
// message rather than posting it again.
func TestPostOnceAnswerLost(t *testing.T) {
	st := postOnceStore(t)
	f, c, clock := chatTestClocked(t, ChatOptions{Refs: st})
	var lost atomic.Bool
	f.HandleMethod("chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
		if lost.CompareAndSwap(false, true) {
			f.postMessage(httptest.NewRecorder(), r)
			f.writeFault(w, fakeFault{status: http.StatusBadGateway})
			return
		}
		f.postMessage(w, r)
	})
	var ts string
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		ts, err = c.Post(context.Background(), "C1", postOnceMessage(runbook.StateChecklist, ""))
	}()
	chatTestDrive(t, clock, 100*time.Millisecond, "the post", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if posts := f.ChannelPosts("C1"); len(posts) != 1 || posts[0].TS != ts {
		t.Errorf("messages in C1: %+v, want the one, %s", posts, ts)
	}
	if n, h := f.Calls("chat.postMessage"), f.Calls("conversations.history"); n != 1 || h != 1 {
		t.Errorf("chat.postMessage called %d times and conversations.history %d, want once each", n, h)
	}
}

// A post Slack refused is retried without looking for it: it cannot be
// there.
func TestPostOnceRefusedRetryDoesNotLook(t *testing.T) {
	st := postOnceStore(t)
	f, c, clock := chatTestClocked(t, ChatOptions{Refs: st})
	f.RateLimitNext("chat.postMessage", 1, 1)
	done := make(chan error, 1)
	go func() {
		_, err := c.Post(context.Background(), "C1", postOnceMessage(runbook.StateChecklist, ""))
		done <- err
	}()
	var err error
	chatTestDrive(t, clock, 100*time.Millisecond, "the post", func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, h := len(f.ChannelPosts("C1")), f.Calls("conversations.history"); n != 1 || h != 0 {
		t.Errorf("%d messages and %d conversations.history calls, want 1 and none", n, h)
	}
}

// Another bot's message carrying the same key (a second Shipmate in the
// channel) is not taken for this bot's.
func TestPostOnceOtherBot(t *testing.T) {
	st := postOnceStore(t)
	f := newFakeSlack(t)
	m := postOnceMessage(runbook.StateChecklist, "")
	postOnceBegun(t, f, st, m, false)
	other := f.AddMessage(fakeMessage{Channel: "C1", Text: "#7 elsewhere", BotID: "BOTHER",
		Metadata: `{"event_type":"shipmate_run_message","event_payload":{"post_key":"run-7"}}`})

	c, _ := postOnceRestart(t, f, st)
	ts, err := c.Post(context.Background(), "C1", m)
	if err != nil || ts == other {
		t.Fatalf("Post = %q, %v; want a message of its own, not %s", ts, err, other)
	}
	if n := len(f.Updates()); n != 0 {
		t.Errorf("%d edits, want none of the other bot's message", n)
	}
}

// A message of the same bot and key from long before the marked attempt
// (a run of a store since started afresh, whose ids begin again) is not
// taken for the run's.
func TestPostOnceOlderMessageSameKey(t *testing.T) {
	st := postOnceStore(t)
	f := newFakeSlack(t)
	f.mu.Lock()
	f.now = func() time.Time { return time.Now().Add(-time.Hour) }
	f.mu.Unlock()
	old := f.AddMessage(fakeMessage{Channel: "C1", Text: "#7 of an earlier store", BotID: f.BotID,
		Metadata: `{"event_type":"shipmate_run_message","event_payload":{"post_key":"run-7"}}`})
	f.mu.Lock()
	f.now = time.Now
	f.mu.Unlock()
	m := postOnceMessage(runbook.StateChecklist, "")
	postOnceBegun(t, f, st, m, false)

	c, _ := postOnceRestart(t, f, st)
	ts, err := c.Post(context.Background(), "C1", m)
	if err != nil || ts == old {
		t.Fatalf("Post = %q, %v; want a new message, not the old %s", ts, err, old)
	}
	if n := f.Calls("conversations.history"); n != 1 {
		t.Errorf("conversations.history called %d times, want once", n)
	}
}

// The look pages through a busy channel, up to a bound; beyond it the
// message is posted again.
func TestPostOnceBusyChannel(t *testing.T) {
	for _, tc := range []struct {
		since     int // messages posted after the run's
		wantCalls int
		wantPosts int
	}{
		{since: 450, wantCalls: 3, wantPosts: 1},
		{since: historyPages * historyPage, wantCalls: historyPages, wantPosts: 2},
	} {
		st := postOnceStore(t)
		f := newFakeSlack(t)
		m := postOnceMessage(runbook.StateChecklist, "")
		postOnceBegun(t, f, st, m, true)
		for range tc.since {
			f.AddMessage(fakeMessage{Channel: "C1", Text: "chatter", BotID: "BOTHER"})
		}
		c, logs := postOnceRestart(t, f, st)
		if _, err := c.Post(context.Background(), "C1", m); err != nil {
			t.Fatal(err)
		}
		calls, posts := f.Calls("conversations.history"), len(f.ChannelPosts("C1"))
		if calls != tc.wantCalls || posts != tc.wantPosts {
			t.Errorf("%d messages since: %d history calls and %d posts, want %d and %d\n%s",
				tc.since, calls, posts, tc.wantCalls, tc.wantPosts, logs.String())
		}
	}
}

// A message found that cannot be edited (deleted meanwhile) is posted
// anew.
func TestPostOnceFoundCannotBeEdited(t *testing.T) {
	st := postOnceStore(t)
	f := newFakeSlack(t)
	m := postOnceMessage(runbook.StateChecklist, "")
	first := postOnceBegun(t, f, st, m, true)
	f.FailNext("chat.update", 1, "message_not_found")

	c, logs := postOnceRestart(t, f, st)
	ts, err := c.Post(context.Background(), "C1", m)
	if err != nil || ts == first {
		t.Fatalf("Post = %q, %v; want a new message", ts, err)
	}
	if logs.count("warn", "cannot edit the run's message") != 1 {
		t.Errorf("log:\n%s\nwant a warning", logs.String())
	}
}

// postOnceBrokenRefs is a store that fails.
type postOnceBrokenRefs struct{}

func (postOnceBrokenRefs) RunRef(context.Context, uint64, string) (string, bool, error) {
	return "", false, errors.New("store unavailable")
}

func (postOnceBrokenRefs) SetRunRef(context.Context, uint64, string, string) error {
	return errors.New("store unavailable")
}

// A store that fails costs the protection, not the message.
func TestPostOnceStoreFails(t *testing.T) {
	f := newFakeSlack(t)
	c, logs := postOnceRestart(t, f, postOnceBrokenRefs{})
	if _, err := c.Post(context.Background(), "C1", postOnceMessage(runbook.StateChecklist, "")); err != nil {
		t.Fatal(err)
	}
	if n := len(f.ChannelPosts("C1")); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
	if logs.count("warn", "cannot read whether") != 1 || logs.count("warn", "cannot mark") != 1 {
		t.Errorf("log:\n%s\nwant warnings for the read and the mark", logs.String())
	}
}

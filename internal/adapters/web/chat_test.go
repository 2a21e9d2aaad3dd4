package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/chat/chattest"
	"shipmate/internal/runbook"
)

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

// runMsg is a run's message as the engine posts it.
func runMsg(id uint64, state runbook.State) runbook.Message {
	return runbook.Message{RunID: id, Title: fmt.Sprintf("#%d demo", id), State: state, Status: state.Label()}
}

// notice is a one-off line, such as a reminder.
func notice(text string) runbook.Message {
	return runbook.Message{RunID: 1, Title: "#1 demo", Tone: runbook.ToneInfo, Text: text}
}

// promptly fails the test if fn does not return within a second: the engine
// calls Post and Update while it holds a run's lock.
func promptly(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatalf("%s blocked", what)
	}
}

func TestPostRefersToRunsByIDAndNumbersNotices(t *testing.T) {
	c := NewChat(fixedNow)
	ctx := context.Background()
	for _, tc := range []struct {
		m    runbook.Message
		want string
	}{
		{runMsg(7, runbook.StateRequested), "run-7"},
		{notice("reminder: run #1 waits for approval"), "notice-1"},
		{runMsg(8, runbook.StateRequested), "run-8"},
		{notice("second"), "notice-2"},
	} {
		ref, err := c.Post(ctx, Channel, tc.m)
		if err != nil || ref != tc.want {
			t.Errorf("Post(%q) = %q, %v; want %q", tc.m.Title+tc.m.Text, ref, err, tc.want)
		}
	}
	// Run messages come back from the store; only notices are kept here.
	want := []Entry{
		{Ref: "notice-1", At: t0, Message: notice("reminder: run #1 waits for approval")},
		{Ref: "notice-2", At: t0, Message: notice("second")},
	}
	if diff := cmp.Diff(want, c.Notices()); diff != "" {
		t.Errorf("notices (-want +got):\n%s", diff)
	}
}

func TestPostAndUpdateReachSubscribersInOrder(t *testing.T) {
	c := NewChat(fixedNow)
	ctx := context.Background()
	s, cancel := c.subscribe()
	defer cancel()
	ref, _ := c.Post(ctx, Channel, runMsg(3, runbook.StateRequested))
	_ = c.Update(ctx, Channel, ref, runMsg(3, runbook.StateApproved))
	for i, state := range []runbook.State{runbook.StateRequested, runbook.StateApproved} {
		select {
		case f := <-s.ch:
			frame := string(f)
			if !strings.HasPrefix(frame, "event: message\ndata: {") || !strings.HasSuffix(frame, "}\n\n") || strings.Count(frame, "\n") != 3 {
				t.Errorf("frame %d is not one SSE message event: %q", i, frame)
			}
			if !strings.Contains(frame, `"ref":"run-3"`) || !strings.Contains(frame, fmt.Sprintf(`"state":%q`, state)) {
				t.Errorf("frame %d = %q, want run-3 %s", i, frame, state)
			}
		default:
			t.Fatalf("frame %d (%s) was not sent", i, state)
		}
	}
	cancel()
	if n := c.Subscribers(); n != 0 {
		t.Errorf("subscribers after cancel = %d, want 0", n)
	}
}

func TestSlowSubscriberDoesNotBlockTheEngine(t *testing.T) {
	c := NewChat(fixedNow)
	ctx := context.Background()
	// No cancels: if a broadcast blocks it holds the chat's lock, and the
	// test should fail rather than hang unsubscribing.
	slow, _ := c.subscribe() // never reads
	fast, _ := c.subscribe() // reads after every burst

	const bursts = 6
	perBurst := streamBuffer / 4 // a post and an update each: half a buffer
	got := 0
	promptly(t, "posting to a full subscriber", func() {
		for b := range bursts {
			for i := range perBurst {
				id := uint64(b*perBurst + i + 1)
				ref, _ := c.Post(ctx, Channel, runMsg(id, runbook.StateRequested))
				_ = c.Update(ctx, Channel, ref, runMsg(id, runbook.StateApproved))
			}
			for len(fast.ch) > 0 {
				<-fast.ch
				got++
			}
		}
	})

	if len(slow.ch) != cap(slow.ch) || !slow.lagged.Load() {
		t.Errorf("the slow subscriber holds %d of %d frames, lagged %v; want a full buffer, marked lagging",
			len(slow.ch), cap(slow.ch), slow.lagged.Load())
	}
	if want := 2 * bursts * perBurst; got != want || fast.lagged.Load() {
		t.Errorf("the browser that keeps up got %d of %d frames (lagged %v)", got, want, fast.lagged.Load())
	}
}

// stallingWriter is a browser on a connection that stops reading: the first
// write (": connected") goes through, later ones wait until release is
// closed.
type stallingWriter struct {
	header  http.Header
	stalled chan struct{} // closed when a write starts waiting
	release chan struct{}

	mu     sync.Mutex
	writes int
	out    strings.Builder
	wrote  chan struct{} // signalled after every write
}

func newStallingWriter() *stallingWriter {
	return &stallingWriter{header: http.Header{}, stalled: make(chan struct{}), release: make(chan struct{}), wrote: make(chan struct{}, 1)}
}

func (w *stallingWriter) Header() http.Header { return w.header }
func (w *stallingWriter) WriteHeader(int)     {}
func (w *stallingWriter) Flush()              {}

func (w *stallingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes++
	first := w.writes == 1
	w.mu.Unlock()
	if !first {
		select {
		case <-w.release:
		default:
			close(w.stalled)
			<-w.release
		}
	}
	w.mu.Lock()
	w.out.Write(p)
	w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

// waitFor waits until the output contains s.
func (w *stallingWriter) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		w.mu.Lock()
		done := strings.Contains(w.out.String(), s)
		w.mu.Unlock()
		if done {
			return
		}
		select {
		case <-w.wrote:
		case <-deadline:
			t.Fatalf("the stream never wrote %q", s)
		}
	}
}

// events returns the event name and message title of each frame written.
func (w *stallingWriter) events() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for frame := range strings.SplitSeq(w.out.String(), "\n\n") {
		name, title := "", ""
		for line := range strings.SplitSeq(frame, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			}
			if _, after, ok := strings.Cut(line, `"title":"`); ok {
				title, _, _ = strings.Cut(after, `"`)
			}
		}
		if name != "" {
			out = append(out, strings.TrimSpace(name+" "+title))
		}
	}
	return out
}

func TestLaggingStreamIsToldToResync(t *testing.T) {
	c := NewChat(fixedNow)
	h := New(nil, nil, c, Options{})
	w := newStallingWriter()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// As a listener on 127.0.0.1:80 hands it over: a local console answers
	// only requests for its own address.
	local := context.WithValue(ctx, http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80})
	req := httptest.NewRequestWithContext(local, http.MethodGet, "http://127.0.0.1/api/stream", nil)
	done := make(chan struct{})
	go func() { defer close(done); h.ServeHTTP(w, req) }()
	w.waitFor(t, ": connected\n\n")

	post := func(title string) {
		_, _ = c.Post(context.Background(), Channel, runbook.Message{RunID: 1, Title: title, Status: "deploying"})
	}
	post("first")
	<-w.stalled // the browser stopped reading in the middle of "first"
	promptly(t, "posting while the browser stalls", func() {
		for i := range streamBuffer + 50 {
			post(fmt.Sprintf("stale-%d", i))
		}
	})
	close(w.release)
	w.waitFor(t, "event: resync\n")
	post("fresh")
	w.waitFor(t, `"title":"fresh"`)
	cancel()
	<-done

	// The page reloads its timeline on resync, so the frames queued before it
	// are stale: they must not be replayed over the reloaded timeline.
	want := []string{"message first", "resync", "message fresh"}
	if diff := cmp.Diff(want, w.events()); diff != "" {
		t.Errorf("stream events (-want +got):\n%s", diff)
	}
	if n := c.Subscribers(); n != 0 {
		t.Errorf("subscribers after the stream ended = %d, want 0", n)
	}
}

func TestNoticesAreCapped(t *testing.T) {
	c := NewChat(fixedNow)
	for i := range maxNotices + 50 {
		if _, err := c.Post(context.Background(), Channel, notice(fmt.Sprintf("n%d", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	got := c.Notices()
	if len(got) != maxNotices {
		t.Fatalf("kept %d notices, want %d", len(got), maxNotices)
	}
	if first, last := got[0], got[len(got)-1]; first.Ref != "notice-51" || first.Message.Text != "n51" || last.Ref != "notice-250" {
		t.Errorf("kept %s (%s) … %s, want the newest: notice-51 … notice-250", first.Ref, first.Message.Text, last.Ref)
	}
	// The copy is the caller's.
	got[0].Ref = "changed"
	if c.Notices()[0].Ref != "notice-51" {
		t.Error("Notices returned the chat's own slice")
	}
}

// The console keeps the contract of every chat: what it shows is what a
// connected browser was sent last for each message.
func TestChatContract(t *testing.T) {
	chattest.Run(t, func(t *testing.T) chattest.Platform {
		c := NewChat(time.Now)
		s, cancel := c.subscribe()
		done := make(chan struct{})
		t.Cleanup(func() { close(done); cancel(); c.Close() })
		var mu sync.Mutex
		shown := map[string]string{}
		go func() {
			for {
				select {
				case frame := <-s.ch:
					data, ok := strings.CutPrefix(string(frame), "event: message\ndata: ")
					var e Entry
					if !ok || json.Unmarshal([]byte(data), &e) != nil {
						continue
					}
					mu.Lock()
					shown[e.Ref] = data
					mu.Unlock()
				case <-done:
					return
				}
			}
		}()
		return chattest.Platform{Chat: c, Channel: Channel, Close: c.Close, Shows: func(ref string) string {
			mu.Lock()
			defer mu.Unlock()
			return shown[ref]
		}}
	})
}

// The console names the people a message mentions: it has no mentions
// of its own, and its page shows the text as text.
func TestMentionsAreNamed(t *testing.T) {
	c := NewChat(func() time.Time { return chattest.T0 })
	m := runbook.Message{RunID: 5, Title: "Rollback demo → v1 in production", Tone: runbook.ToneInfo,
		Text:     "Incident commander (igor): ivan is rolling demo back",
		Mentions: []runbook.Mention{{Platform: "web", ID: "irene-w", Name: "irene"}, {Platform: "web", ID: "oncall", Group: true, Name: "incident-commander group oncall"}}}
	if _, err := c.Post(context.Background(), "", m); err != nil {
		t.Fatal(err)
	}
	got := c.Notices()[0].Message
	if want := "@irene @incident-commander group oncall Incident commander (igor): ivan is rolling demo back"; got.Text != want || got.Mentions != nil {
		t.Errorf("notice %q with mentions %+v, want %q and none left", got.Text, got.Mentions, want)
	}
}

package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"shipmate/internal/adapters/web"
	"shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
	"shipmate/internal/store"
)

// now is the engine's and the console's fixed clock: nothing here depends on
// time passing, so approvals never expire mid-test.
var now = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

// users are the people the local console offers.
var users = []string{"alice", "bob", "rita"}

// testPolicy is the rule book the console tests run under: development takes
// any deployer at once; staging needs a ticked two-item checklist and one
// tech-lead's approval.
func testPolicy() *runbook.Policy {
	web := func(ids ...string) map[string][]string { return map[string][]string{"web": ids} }
	return &runbook.Policy{
		Roles: map[string]runbook.Role{
			"tech-lead":       {Members: web("alice")},
			"deployer":        {Members: web("alice", "bob", "rita")},
			"release-manager": {Members: web("rita")},
		},
		Checklist: map[string]string{
			"changelog": "Changelog updated",
			"oncall":    "On-call engineer told",
		},
		Envs: []runbook.Environment{
			{Name: "development", Aliases: []string{"dev"}, Deployers: []string{"deployer"}},
			{
				Name: "staging", Aliases: []string{"stg"}, Deployers: []string{"deployer"},
				Approval:  runbook.ApprovalRule{Roles: []string{"tech-lead"}, Count: 1},
				Checklist: []string{"changelog", "oncall"},
			},
		},
		Apps: map[string]runbook.App{"demo": {Name: "demo", Executor: "fake"}},
	}
}

// console is a running web console: a real engine on a real store behind a
// real HTTP server.
type console struct {
	h     *web.Handler
	srv   *httptest.Server
	store *store.Store
	chat  *web.Chat
	exec  *runbooktest.Exec
}

// newConsole starts a console. userHeader empty makes it a local console
// where users pick their name.
func newConsole(t *testing.T, userHeader string) *console {
	t.Helper()
	return startConsole(t, consoleOptions{userHeader: userHeader})
}

// consoleOptions are what tests vary about the console they start.
type consoleOptions struct {
	userHeader     string
	trustedProxies []netip.Prefix // nil: the console's default
	readKey        string
	listen         string    // the listener's address; empty: 127.0.0.1:0
	log            io.Writer // gets the console's log too, when set
}

// startConsole starts a console as o says.
func startConsole(t *testing.T, o consoleOptions) *console {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "shipmate.db"), store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	clock := func() time.Time { return now }
	chat := web.NewChat(clock)
	x := runbooktest.NewExec() // deploys at once, successfully
	var out io.Writer = zerolog.NewTestWriter(t)
	if o.log != nil {
		out = zerolog.MultiLevelWriter(out, o.log)
	}
	log := zerolog.New(out)
	eng := runbook.New(runbook.Config{
		Store:     st,
		Policy:    testPolicy(),
		Executors: map[string]runbook.Executor{"demo": x.Executor()},
		Chats:     map[string]runbook.Chat{web.Platform: chat},
		Clock:     runbook.ClockFunc(clock),
		Log:       log,
	})
	t.Cleanup(eng.Close)
	if err := eng.Resume(context.Background()); err != nil {
		t.Fatalf("resume: %v", err)
	}
	h := web.New(eng, st, chat, web.Options{UserHeader: o.userHeader, TrustedProxies: o.trustedProxies, Users: users, ReadKey: o.readKey, Log: log})
	srv := httptest.NewUnstartedServer(h)
	if o.listen != "" {
		ln, err := net.Listen("tcp", o.listen)
		if err != nil {
			t.Fatalf("listen on %s: %v", o.listen, err)
		}
		_ = srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Start()
	t.Cleanup(func() {
		// Open event streams never end on their own.
		srv.CloseClientConnections()
		srv.Close()
	})
	return &console{h: h, srv: srv, store: st, chat: chat, exec: x}
}

// reply is the JSON answer to a command or action.
type reply struct {
	Text  string `json:"text"`
	RunID uint64 `json:"run_id"`
	Error bool   `json:"error"`
	Code  string `json:"code"`
}

// jsonHeader is what the console page sends with every POST.
func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json"}}
}

// do sends a request and returns the response with its body read.
func (c *console) do(t *testing.T, method, path string, hdr http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	return c.send(t, method, path, hdr, body, true)
}

// send sends a request with hdr (its Host too, as a browser names the
// site it is for) and reads the answer's body, unless it is a 200 and
// readOK is false: a stream let through would never end.
func (c *console) send(t *testing.T, method, path string, hdr http.Header, body string, readOK bool) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, c.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if host := hdr.Get("Host"); host != "" {
		req.Host = host
	}
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && !readOK {
		return resp, []byte("(not read)")
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, data
}

// post sends a JSON body and decodes the reply.
func (c *console) post(t *testing.T, path string, hdr http.Header, body any) (int, reply) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, out := c.do(t, http.MethodPost, path, hdr, string(data))
	var rep reply
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("POST %s: %d %q is not a reply: %v", path, resp.StatusCode, out, err)
	}
	return resp.StatusCode, rep
}

// command types a line into the console as user and returns the reply,
// which must come with 200 OK.
func (c *console) command(t *testing.T, user, text string) reply {
	t.Helper()
	code, rep := c.post(t, "/api/command", jsonHeader(), map[string]string{"user": user, "text": text})
	if code != http.StatusOK {
		t.Fatalf("%s: %q: status %d, reply %+v", user, text, code, rep)
	}
	return rep
}

// act presses a button (or ticks an item) on run id as user.
func (c *console) act(t *testing.T, user string, id uint64, action, item string) reply {
	t.Helper()
	body := map[string]string{"user": user, "action": action}
	if item != "" {
		body["item"] = item
	}
	code, rep := c.post(t, fmt.Sprintf("/api/runs/%d/action", id), jsonHeader(), body)
	if code != http.StatusOK {
		t.Fatalf("%s: %s run %d: status %d, reply %+v", user, action, id, code, rep)
	}
	return rep
}

// getJSON reads path into v, requiring 200 OK.
func (c *console) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp, data := c.do(t, http.MethodGet, path, nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("GET %s: %q: %v", path, data, err)
	}
}

// timeline returns what a freshly loaded page shows.
func (c *console) timeline(t *testing.T) []web.Entry {
	t.Helper()
	var entries []web.Entry
	c.getJSON(t, "/api/timeline", &entries)
	return entries
}

// entry returns the timeline entry ref.
func (c *console) entry(t *testing.T, ref string) web.Entry {
	t.Helper()
	for _, e := range c.timeline(t) {
		if e.Ref == ref {
			return e
		}
	}
	t.Fatalf("the timeline has no %s", ref)
	return web.Entry{}
}

// noRuns fails if any run was created.
func (c *console) noRuns(t *testing.T) {
	t.Helper()
	runs, err := c.store.Recent(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 0 {
		t.Errorf("%d runs were created, want none (first: %s)", len(runs), runs[0].Title())
	}
	if n := c.exec.Deploys(); n != 0 {
		t.Errorf("the executor deployed %d times, want 0", n)
	}
}

// event is one server-sent event.
type event struct {
	Name string // "message" when the frame names none
	Data string
}

// entry decodes a message event.
func (e event) entry(t *testing.T) web.Entry {
	t.Helper()
	var en web.Entry
	if err := json.Unmarshal([]byte(e.Data), &en); err != nil {
		t.Fatalf("event %s: data %q: %v", e.Name, e.Data, err)
	}
	return en
}

// stream is an open /api/stream as a browser's EventSource reads it.
type stream struct {
	c      *console
	events chan event
	probes int
}

// streamWait bounds every wait for an event.
const streamWait = 10 * time.Second

// openStream connects to the event stream and returns once the server says
// it is subscribed, so that everything broadcast afterwards reaches it.
func (c *console) openStream(t *testing.T) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.srv.URL+"/api/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("open stream: status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream Content-Type is %q, want text/event-stream", ct)
	}
	connected := make(chan struct{})
	s := &stream{c: c, events: make(chan event, 1024)}
	go readEvents(bufio.NewReader(resp.Body), connected, s.events)
	select {
	case <-connected:
	case <-time.After(streamWait):
		t.Fatal("the stream sent no ': connected' comment")
	}
	return s
}

// readEvents parses server-sent events until the body ends, closing events
// then. The first comment closes connected.
func readEvents(br *bufio.Reader, connected chan struct{}, events chan<- event) {
	defer close(events)
	var ev event
	var data []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if len(data) > 0 {
				if ev.Name == "" {
					ev.Name = "message"
				}
				ev.Data = strings.Join(data, "\n")
				events <- ev
			}
			ev, data = event{}, nil
		case strings.HasPrefix(line, ":"):
			if connected != nil && strings.TrimSpace(line[1:]) == "connected" {
				close(connected)
				connected = nil
			}
		case strings.HasPrefix(line, "event: "):
			ev.Name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
}

// next returns the next event, failing the test after streamWait.
func (s *stream) next(t *testing.T) event {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(streamWait):
		t.Fatal("no event on the stream")
	}
	panic("unreachable")
}

// runUntil reads message events of ref until its message reaches state,
// and returns the states it went through (repeats folded) and the last
// message. Any other event fails the test.
func (s *stream) runUntil(t *testing.T, ref string, state runbook.State) ([]runbook.State, runbook.Message) {
	t.Helper()
	var states []runbook.State
	for {
		ev := s.next(t)
		if ev.Name != "message" {
			t.Fatalf("got a %s event while waiting for %s to be %s", ev.Name, ref, state)
		}
		e := ev.entry(t)
		if e.Ref != ref {
			t.Fatalf("got a message for %s while waiting for %s to be %s", e.Ref, ref, state)
		}
		if n := len(states); n == 0 || states[n-1] != e.Message.State {
			states = append(states, e.Message.State)
		}
		if e.Message.State == state {
			return states, e.Message
		}
	}
}

// approvalCalled reads the stream until run ref's message is awaiting
// approval and the call of its approvers has been posted, in either order,
// and returns the run's message. The call must start with call; any other
// message fails the test.
func approvalCalled(t *testing.T, s *stream, ref, call string) runbook.Message {
	t.Helper()
	var m runbook.Message
	reached, called := false, false
	for !reached || !called {
		ev := s.next(t)
		if ev.Name != "message" {
			t.Fatalf("got a %s event while waiting for %s to await approval", ev.Name, ref)
		}
		e := ev.entry(t)
		switch {
		case e.Ref == ref:
			if e.Message.State == runbook.StateAwaitingApproval {
				m, reached = e.Message, true
			}
		case strings.Contains(e.Message.Text, "needs approval by"):
			if !strings.HasPrefix(e.Message.Text, call) {
				t.Errorf("the approvers' call %q, want it to start %q", e.Message.Text, call)
			}
			called = true
		default:
			t.Fatalf("got a message for %s while waiting for %s to await approval: %q", e.Ref, ref, e.Message.Text)
		}
	}
	return m
}

// probe broadcasts a marker through the console's chat and returns its ref.
// The marker is an update of a message no page knows: nothing keeps it.
func (s *stream) probe(t *testing.T) string {
	t.Helper()
	s.probes++
	ref := fmt.Sprintf("probe-%d", s.probes)
	if err := s.c.chat.Update(context.Background(), web.Channel, ref, runbook.Message{Title: ref}); err != nil {
		t.Fatal(err)
	}
	return ref
}

// settle reads and discards events up to a fresh probe, so that the next
// event is whatever is broadcast from now on.
func (s *stream) settle(t *testing.T) {
	t.Helper()
	ref := s.probe(t)
	for {
		if ev := s.next(t); ev.Name == "message" && ev.entry(t).Ref == ref {
			return
		}
	}
}

// silent fails if anything was broadcast since the last settle: the next
// event must be a fresh probe.
func (s *stream) silent(t *testing.T, what string) {
	t.Helper()
	ref := s.probe(t)
	ev := s.next(t)
	if got := ev.entry(t).Ref; ev.Name != "message" || got != ref {
		t.Errorf("%s was broadcast on the stream: %s event %s", what, ev.Name, ev.Data)
		s.settle(t)
	}
}

// item is a checklist item as the tests compare it.
type item struct {
	Key  string
	Done bool
	By   string
}

func items(m runbook.Message) []item {
	var out []item
	for _, it := range m.Items {
		out = append(out, item{it.Key, it.Done, it.By})
	}
	return out
}

func TestDeployToDevelopmentStreamsRunToSuccess(t *testing.T) {
	c := newConsole(t, "")
	s := c.openStream(t)

	rep := c.command(t, "bob", "/deploy demo v1 dev")
	if rep.Error || rep.RunID != 1 || !strings.Contains(rep.Text, "#1") {
		t.Fatalf("reply = %+v, want run #1 requested", rep)
	}

	states, last := s.runUntil(t, "run-1", runbook.StateSucceeded)
	// The message is first posted once the run knows where it stands.
	want := []runbook.State{runbook.StateApproved, runbook.StateDeploying, runbook.StateSucceeded}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("run-1 went through (-want +got):\n%s", diff)
	}
	if last.Title != "#1 demo v1 → development" || last.Tone != runbook.ToneSuccess {
		t.Errorf("final message: title %q tone %q", last.Title, last.Tone)
	}
	if diff := cmp.Diff([]string{"deploying demo v1 in development", "demo v1 runs in development"}, last.Log); diff != "" {
		t.Errorf("final message log (-want +got):\n%s", diff)
	}
	if n := c.exec.Deploys(); n != 1 {
		t.Errorf("deploys = %d, want 1", n)
	}

	tl := c.timeline(t)
	if len(tl) != 1 || tl[0].Ref != "run-1" || tl[0].Message.State != runbook.StateSucceeded {
		t.Fatalf("timeline = %+v, want run-1 succeeded", tl)
	}
	if !tl[0].At.Equal(now) {
		t.Errorf("timeline entry at %v, want the run's creation %v", tl[0].At, now)
	}
	if got := tl[0].Message.Fields[0]; got != (runbook.Field{Label: "Requested by", Value: "bob"}) {
		t.Errorf("first field = %+v, want requested by bob", got)
	}

	var rec runbook.Record
	c.getJSON(t, "/api/runs/1", &rec)
	bob := runbook.User{Platform: web.Platform, ID: "bob"}
	if rec.Run.State != runbook.StateSucceeded || rec.Run.Requester.Platform != bob.Platform || rec.Run.Requester.ID != bob.ID {
		t.Errorf("record: state %s, requester %+v", rec.Run.State, rec.Run.Requester)
	}
	wantOrigin := runbook.Origin{Platform: web.Platform, Channel: web.Channel, MessageRef: "run-1"}
	if rec.Run.Origin != wantOrigin {
		t.Errorf("origin = %+v, want %+v", rec.Run.Origin, wantOrigin)
	}
	if len(rec.Events) == 0 || rec.Events[0].Type != runbook.EvRequested || rec.Events[0].Actor == nil || rec.Events[0].Actor.ID != bob.ID {
		t.Fatalf("events do not start with bob's request: %+v", rec.Events)
	}
	var path []runbook.State
	for _, ev := range rec.Events {
		if ev.Type == runbook.EvTransition {
			path = append(path, ev.To)
		}
	}
	if diff := cmp.Diff(want, path); diff != "" {
		t.Errorf("recorded transitions (-want +got):\n%s", diff)
	}

	// The page links runs as #1; the id may come escaped that way.
	var again runbook.Record
	c.getJSON(t, "/api/runs/%231", &again)
	if again.Run == nil || again.Run.ID != 1 {
		t.Errorf("GET /api/runs/%%231 = %+v, want run 1", again.Run)
	}
}

func TestRecordOfUnknownOrMalformedRun(t *testing.T) {
	c := newConsole(t, "")
	for _, tc := range []struct {
		path string
		code int
		text string
	}{
		{"/api/runs/7", http.StatusNotFound, "there is no run #7"},
		{"/api/runs/seven", http.StatusBadRequest, "run id must be a number"},
	} {
		resp, data := c.do(t, http.MethodGet, tc.path, nil, "")
		var rep reply
		_ = json.Unmarshal(data, &rep)
		if resp.StatusCode != tc.code || !rep.Error || rep.Text != tc.text {
			t.Errorf("GET %s = %d %s, want %d %q", tc.path, resp.StatusCode, data, tc.code, tc.text)
		}
	}
}

func TestStagingChecklistApprovalAndRefusals(t *testing.T) {
	c := newConsole(t, "")
	s := c.openStream(t)

	rep := c.command(t, "bob", "/deploy demo v1 staging")
	if rep.Error || rep.RunID != 1 {
		t.Fatalf("reply = %+v, want run #1", rep)
	}
	_, m := s.runUntil(t, "run-1", runbook.StateChecklist)
	wantItems := []item{{"changelog", false, ""}, {"oncall", false, ""}}
	if diff := cmp.Diff(wantItems, items(m)); diff != "" {
		t.Fatalf("checklist (-want +got):\n%s", diff)
	}
	s.settle(t)

	// Approving with items open is refused to the approver alone.
	rep = c.act(t, "alice", 1, "approve", "")
	if !rep.Error || rep.Code != runbook.EPolicy || !strings.HasPrefix(rep.Text, "run #1 can't be approved yet: 2 of 2 checklist items are open") {
		t.Errorf("early approval: %+v", rep)
	}
	s.silent(t, "an early approval")

	// Ticks are recorded with who ticked.
	rep = c.act(t, "bob", 1, "tick", "changelog")
	if rep.Error || rep.Text != "Checklist of run #1 updated." {
		t.Errorf("bob's tick: %+v", rep)
	}
	_, m = s.runUntil(t, "run-1", runbook.StateChecklist)
	if diff := cmp.Diff([]item{{"changelog", true, "bob"}, {"oncall", false, ""}}, items(m)); diff != "" {
		t.Errorf("after bob's tick (-want +got):\n%s", diff)
	}
	rep = c.act(t, "rita", 1, "tick", "oncall")
	if rep.Error {
		t.Errorf("rita's tick: %+v", rep)
	}
	// The run reaches awaiting approval, and its approvers are called in
	// the channel by name (the console has no threads): two messages, in
	// either order.
	m = approvalCalled(t, s, "run-1", "@alice Run #1")
	wantItems = []item{{"changelog", true, "bob"}, {"oncall", true, "rita"}}
	if diff := cmp.Diff(wantItems, items(m)); diff != "" {
		t.Errorf("after rita's tick (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantItems, items(c.entry(t, "run-1").Message)); diff != "" {
		t.Errorf("timeline checklist (-want +got):\n%s", diff)
	}
	s.settle(t)

	// Ticking an unknown item, and bob approving, by button or by command:
	// each refusal goes back to bob only, and the run does not move.
	rep = c.act(t, "bob", 1, "tick", "nope")
	if !rep.Error || rep.Code != runbook.EInvalid || rep.Text != `run #1 has no checklist item "nope"` {
		t.Errorf("unknown item: %+v", rep)
	}
	const onlyTechLead = "only tech-lead may approve staging deployments"
	rep = c.act(t, "bob", 1, "approve", "")
	if !rep.Error || rep.Code != runbook.EForbidden || rep.Text != onlyTechLead {
		t.Errorf("bob's approve button: %+v, want %q", rep, onlyTechLead)
	}
	rep = c.command(t, "bob", "/deploy approve 1")
	if !rep.Error || rep.Code != runbook.EForbidden || rep.Text != onlyTechLead {
		t.Errorf("bob's /deploy approve: %+v, want %q", rep, onlyTechLead)
	}
	s.silent(t, "a refusal")
	if st := c.entry(t, "run-1").Message.State; st != runbook.StateAwaitingApproval {
		t.Errorf("after refusals run-1 is %s, want still awaiting approval", st)
	}
	if n := c.exec.Deploys(); n != 0 {
		t.Errorf("deploys before approval = %d, want 0", n)
	}

	rep = c.act(t, "alice", 1, "approve", "")
	if rep.Error || rep.Text != "You approved run #1 (demo v1 → staging); it starts now." {
		t.Fatalf("alice's approval: %+v", rep)
	}
	states, _ := s.runUntil(t, "run-1", runbook.StateSucceeded)
	want := []runbook.State{runbook.StateApproved, runbook.StateDeploying, runbook.StateSucceeded}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("after approval (-want +got):\n%s", diff)
	}
	if n := c.exec.Deploys(); n != 1 {
		t.Errorf("deploys = %d, want 1", n)
	}
}

func TestCommandErrorsAndHelp(t *testing.T) {
	c := newConsole(t, "")
	s := c.openStream(t)
	for _, tc := range []struct {
		name, text string
		wantErr    bool
		want       string // a prefix of the reply
		contains   string
	}{
		{name: "unknown environment", text: "/deploy demo v1 prd2", wantErr: true, want: `unknown environment "prd2"`},
		{name: "unknown app", text: "/deploy dmeo v1 dev", wantErr: true, want: `unknown app "dmeo": did you mean demo?`},
		{name: "chatter", text: "hello there", wantErr: true, contains: "/deploy help"},
		{name: "empty", text: "  ", wantErr: true, contains: "/deploy help"},
		{name: "help", text: "/deploy help", want: "Shipmate commands:", contains: "development (dev)"},
		{name: "bare deploy", text: "/deploy", want: "Shipmate commands:"},
		{name: "help after a tab", text: "/deploy\thelp", want: "Shipmate commands:"},
		{name: "pasted over two lines", text: "/deploy\nhelp", want: "Shipmate commands:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := c.command(t, "bob", tc.text)
			if rep.Error != tc.wantErr || !strings.HasPrefix(rep.Text, tc.want) || !strings.Contains(rep.Text, tc.contains) {
				t.Errorf("%q = %+v, want error %v, text starting %q containing %q", tc.text, rep, tc.wantErr, tc.want, tc.contains)
			}
			if tc.wantErr && rep.Code != runbook.EInvalid {
				t.Errorf("%q: code %q, want %q", tc.text, rep.Code, runbook.EInvalid)
			}
		})
	}
	s.silent(t, "a parse error or help")
	c.noRuns(t)
	// A console with nothing in it yet gives the page an empty list to
	// iterate, not null.
	resp, data := c.do(t, http.MethodGet, "/api/timeline", nil, "")
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(data)) != "[]" {
		t.Errorf("empty timeline = %d %s, want 200 []", resp.StatusCode, data)
	}
}

func TestLocalConsoleIdentity(t *testing.T) {
	c := newConsole(t, "")

	var who struct {
		User  string   `json:"user"`
		Local bool     `json:"local"`
		Users []string `json:"users"`
	}
	c.getJSON(t, "/api/whoami", &who)
	if !who.Local || who.User != "" || !cmp.Equal(who.Users, users) {
		t.Errorf("whoami = %+v, want a local console offering %v", who, users)
	}

	for _, tc := range []struct {
		name string
		path string
		body map[string]string
		want string
	}{
		{"unknown user", "/api/command", map[string]string{"user": "mallory", "text": "/deploy demo v1 dev"}, `pick who you are: "mallory" is not a console user`},
		{"no user", "/api/command", map[string]string{"text": "/deploy demo v1 dev"}, `pick who you are: "" is not a console user`},
		{"unknown user acting", "/api/runs/1/action", map[string]string{"user": "mallory", "action": "approve"}, `pick who you are: "mallory" is not a console user`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, rep := c.post(t, tc.path, jsonHeader(), tc.body)
			if code != http.StatusForbidden || !rep.Error || rep.Text != tc.want {
				t.Errorf("status %d, reply %+v; want 403 %q", code, rep, tc.want)
			}
		})
	}
	c.noRuns(t)

	// The page may also name the user in a header.
	hdr := jsonHeader()
	hdr.Set("X-Shipmate-User", "rita")
	code, rep := c.post(t, "/api/command", hdr, map[string]string{"text": "/deploy demo v1 dev"})
	if code != http.StatusOK || rep.Error {
		t.Fatalf("rita by header: %d %+v", code, rep)
	}
	var rec runbook.Record
	c.getJSON(t, "/api/runs/1", &rec)
	if rec.Run.Requester.ID != "rita" {
		t.Errorf("requester = %+v, want rita", rec.Run.Requester)
	}
}

func TestProxyHeaderIsTheOnlyIdentity(t *testing.T) {
	c := newConsole(t, "X-Forwarded-User")

	var who struct {
		User  string   `json:"user"`
		Local bool     `json:"local"`
		Users []string `json:"users"`
	}
	resp, data := c.do(t, http.MethodGet, "/api/whoami", http.Header{"X-Forwarded-User": {"alice"}}, "")
	if err := json.Unmarshal(data, &who); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("whoami: %d %s", resp.StatusCode, data)
	}
	if who.Local || who.User != "alice" || who.Users != nil {
		t.Errorf("whoami = %+v, want alice, not local, no user list", who)
	}
	if resp, data := c.do(t, http.MethodGet, "/api/whoami", nil, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("whoami without the header = %d %s, want 401", resp.StatusCode, data)
	}
	// Nor does anything else of the console answer without it.
	for _, path := range []string{"/api/timeline", "/api/runs/1", "/api/stream"} {
		resp, data := c.do(t, http.MethodGet, path, nil, "")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(data), "X-Forwarded-User header is missing") {
			t.Errorf("GET %s without the header = %d %s, want 401", path, resp.StatusCode, data)
		}
	}
	if resp, data := c.do(t, http.MethodGet, "/api/timeline", http.Header{"X-Forwarded-User": {"alice"}}, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/timeline with the header = %d %s, want 200", resp.StatusCode, data)
	}

	// Without the header nobody is signed in, whatever the body says.
	code, rep := c.post(t, "/api/command", jsonHeader(), map[string]string{"user": "bob", "text": "/deploy demo v1 dev"})
	if code != http.StatusForbidden || !rep.Error || !strings.Contains(rep.Text, "X-Forwarded-User header is missing") {
		t.Errorf("command without the header: %d %+v, want 403", code, rep)
	}
	code, rep = c.post(t, "/api/runs/1/action", jsonHeader(), map[string]string{"user": "alice", "action": "approve"})
	if code != http.StatusForbidden || !rep.Error {
		t.Errorf("action without the header: %d %+v, want 403", code, rep)
	}
	c.noRuns(t)

	// The header wins over the body: this is alice, not rita.
	hdr := jsonHeader()
	hdr.Set("X-Forwarded-User", "alice")
	code, rep = c.post(t, "/api/command", hdr, map[string]string{"user": "rita", "text": "/deploy demo v1 staging"})
	if code != http.StatusOK || rep.Error || rep.RunID != 1 {
		t.Fatalf("alice's deploy: %d %+v", code, rep)
	}
	var rec runbook.Record
	resp, data = c.do(t, http.MethodGet, "/api/runs/1", http.Header{"X-Forwarded-User": {"alice"}}, "")
	if err := json.Unmarshal(data, &rec); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("GET /api/runs/1: %d %s", resp.StatusCode, data)
	}
	if want := (runbook.User{Platform: web.Platform, ID: "alice"}); rec.Run.Requester.Platform != want.Platform || rec.Run.Requester.ID != want.ID {
		t.Errorf("requester = %+v, want %+v", rec.Run.Requester, want)
	}

	// Ticks too: rita in the body, carol (a stranger to the policy) in the
	// header; the engine judges carol.
	hdr.Set("X-Forwarded-User", "carol")
	code, rep = c.post(t, "/api/runs/1/action", hdr, map[string]string{"user": "rita", "action": "tick", "item": "changelog"})
	if code != http.StatusOK || !rep.Error || rep.Code != runbook.EForbidden || !strings.HasPrefix(rep.Text, "only deployer or tech-lead may tick") {
		t.Errorf("carol ticking as rita: %d %+v, want forbidden", code, rep)
	}
}

func TestCrossSiteRequestsAreRefused(t *testing.T) {
	c := newConsole(t, "")
	deploy := `{"user":"bob","text":"/deploy demo v1 dev"}`
	with := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	// A local console answers a request from another origin as not meant
	// for it at all.
	const misdirected = http.StatusMisdirectedRequest
	for _, tc := range []struct {
		name   string
		hdr    http.Header
		body   string
		want   string // in the reply text
		status int    // 0: 400
	}{
		{"text/plain", with("Content-Type", "text/plain"), deploy, "application/json", 0},
		{"form", with("Content-Type", "application/x-www-form-urlencoded"), "user=bob&text=%2Fdeploy+demo+v1+dev", "application/json", 0},
		{"multipart", with("Content-Type", "multipart/form-data; boundary=x"), deploy, "application/json", 0},
		{"no content type", with(), deploy, "application/json", 0},
		{"other origin", with("Content-Type", "application/json", "Origin", "https://evil.example"), deploy, "cross-origin", misdirected},
		{"other port", with("Content-Type", "application/json", "Origin", "http://127.0.0.1:1"), deploy, "cross-origin", misdirected},
		{"null origin", with("Content-Type", "application/json", "Origin", "null"), deploy, "cross-origin", misdirected},
		{"cross-site fetch", with("Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"), deploy, "cross-site", 0},
		{"same-site fetch", with("Content-Type", "application/json", "Sec-Fetch-Site", "same-site"), deploy, "cross-site", 0},
		{"unknown field", jsonHeader(), `{"user":"bob","admin":true,"text":"/deploy demo v1 dev"}`, `unknown field "admin"`, 0},
		{"not an object", jsonHeader(), `"/deploy demo v1 dev"`, "bad request body", 0},
		{"too large", jsonHeader(), `{"user":"bob","text":"/deploy demo v1 dev` + strings.Repeat(" ", 64<<10) + `"}`, "too large", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := tc.status
			if status == 0 {
				status = http.StatusBadRequest
			}
			for _, path := range []string{"/api/command", "/api/runs/1/action"} {
				resp, data := c.do(t, http.MethodPost, path, tc.hdr, tc.body)
				var rep reply
				if err := json.Unmarshal(data, &rep); err != nil {
					t.Fatalf("POST %s: %d %q: %v", path, resp.StatusCode, data, err)
				}
				if resp.StatusCode != status || !rep.Error || !strings.Contains(rep.Text, tc.want) {
					t.Errorf("POST %s = %d %+v, want %d mentioning %q", path, resp.StatusCode, rep, status, tc.want)
				}
			}
		})
	}
	c.noRuns(t)

	// The console's own page: same origin, as a browser says it.
	code, rep := c.post(t, "/api/command", with("Content-Type", "application/json; charset=utf-8", "Origin", c.srv.URL, "Sec-Fetch-Site", "same-origin"),
		map[string]string{"user": "bob", "text": "/deploy demo v1 dev"})
	if code != http.StatusOK || rep.Error || rep.RunID != 1 {
		t.Errorf("same-origin request: %d %+v, want run 1", code, rep)
	}
}

func TestStaticPageAndHeaders(t *testing.T) {
	c := newConsole(t, "")
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/", "text/html", "Shipmate"},
		{"/console.js", "javascript", "EventSource"},
		{"/console.css", "text/css", ""},
	} {
		resp, data := c.do(t, http.MethodGet, tc.path, nil, "")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", tc.path, resp.StatusCode)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, tc.contentType) {
			t.Errorf("GET %s: Content-Type %q, want %s", tc.path, ct, tc.contentType)
		}
		if !strings.Contains(string(data), tc.contains) {
			t.Errorf("GET %s does not contain %q", tc.path, tc.contains)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", tc.path, got)
		}
		if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("GET %s: X-Frame-Options %q", tc.path, got)
		}
	}

	// API answers, successful or not, are JSON that is neither sniffed nor cached.
	for _, tc := range []struct {
		method, path string
		hdr          http.Header
		body         string
		code         int
	}{
		{http.MethodGet, "/api/timeline", nil, "", http.StatusOK},
		{http.MethodGet, "/api/whoami", nil, "", http.StatusOK},
		{http.MethodGet, "/api/runs/9", nil, "", http.StatusNotFound},
		{http.MethodPost, "/api/command", jsonHeader(), `{"user":"bob","text":"/deploy help"}`, http.StatusOK},
		{http.MethodPost, "/api/command", jsonHeader(), `{"user":"eve","text":"/deploy help"}`, http.StatusForbidden},
		{http.MethodPost, "/api/command", nil, `{}`, http.StatusBadRequest},
	} {
		resp, _ := c.do(t, tc.method, tc.path, tc.hdr, tc.body)
		if resp.StatusCode != tc.code {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode, tc.code)
		}
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Content-Type":           "application/json",
			"Cache-Control":          "no-store",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s %s: %s %q, want %q", tc.method, tc.path, k, got, want)
			}
		}
	}
}

func TestStreamEndsWhenBrowserLeaves(t *testing.T) {
	c := newConsole(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.srv.URL+"/api/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != ": connected\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	if n := c.chat.Subscribers(); n != 1 {
		t.Fatalf("subscribers = %d, want 1", n)
	}
	cancel()
	_ = resp.Body.Close()
	deadline := time.Now().Add(streamWait)
	for c.chat.Subscribers() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stream's subscription outlived the browser")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// fakeSocket is Slack's side of Socket Mode on the fake Slack:
// apps.connections.open hands out a websocket URL, and each connection
// says hello, then writes the envelopes the test sends and passes on what
// the client writes back (its acks).
type fakeSocket struct {
	t    *testing.T
	acks chan []byte // every message a client wrote

	mu      sync.Mutex
	opens   int               // apps.connections.open calls that succeeded
	conns   []chan []byte     // per connection, in order: envelopes to write
	ws      []*websocket.Conn // per connection, for cut
	dials   chan struct{}     // a connection was made
	refuse  bool              // apps.connections.open answers invalid_auth
	refused int               // apps.connections.open calls refused
}

// newFakeSocket serves Socket Mode on fake.
func newFakeSocket(t *testing.T, fake *fakeSlack) *fakeSocket {
	s := &fakeSocket{t: t, acks: make(chan []byte, 64), dials: make(chan struct{}, 8)}
	// apps.connections.open authenticates with the app-level token, which
	// the fake's Web API (checking the bot token) would refuse: serve the
	// path itself, more specific than /api/.
	fake.Handle("/api/apps.connections.open", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		refuse := s.refuse
		if refuse {
			s.refused++
		}
		s.mu.Unlock()
		if refuse || r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer xapp-test" {
			writeFakeError(w, "invalid_auth")
			return
		}
		s.mu.Lock()
		s.opens++
		s.mu.Unlock()
		writeFakeOK(w, map[string]any{"url": "ws" + strings.TrimPrefix(fake.URL, "http") + "/ws?ticket=t-1"})
	})
	fake.Handle("/ws", s.serve)
	return s
}

// serve is one Socket Mode connection.
func (s *fakeSocket) serve(w http.ResponseWriter, r *http.Request) {
	// slack-go dials with Origin: https://api.slack.com, which is not this
	// server's host.
	up := websocket.Upgrader{CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "https://api.slack.com" }}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		s.t.Errorf("websocket upgrade: %v", err)
		return
	}
	defer conn.Close()
	out := make(chan []byte, 8)
	s.mu.Lock()
	s.conns = append(s.conns, out)
	s.ws = append(s.ws, conn)
	n := len(s.conns)
	s.mu.Unlock()

	hello := fmt.Sprintf(`{"type":"hello","num_connections":%d,"debug_info":{"host":"applink-test","build_number":1,"approximate_connection_time":18060},"connection_info":{"app_id":"A0SHIPMATE"}}`, n)
	if err := conn.WriteMessage(websocket.TextMessage, []byte(hello)); err != nil {
		return
	}
	s.dials <- struct{}{}
	read := make(chan struct{})
	go func() {
		defer close(read)
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			s.acks <- msg
		}
	}()
	for {
		select {
		case env := <-out:
			if err := conn.WriteMessage(websocket.TextMessage, env); err != nil {
				return
			}
		case <-read:
			return
		}
	}
}

// send writes an envelope on the n-th connection (1 is the first).
func (s *fakeSocket) send(n int, envelope any) {
	s.t.Helper()
	b, err := json.Marshal(envelope)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	if n > len(s.conns) {
		s.mu.Unlock()
		s.t.Fatalf("no connection %d", n)
	}
	out := s.conns[n-1]
	s.mu.Unlock()
	out <- b
}

// cut drops the n-th connection (1 is the first), as a network fault
// would.
func (s *fakeSocket) cut(n int) {
	s.mu.Lock()
	c := s.ws[n-1]
	s.mu.Unlock()
	_ = c.UnderlyingConn().Close()
}

// waitDial waits for the next connection.
func (s *fakeSocket) waitDial() {
	s.t.Helper()
	select {
	case <-s.dials:
	case <-time.After(5 * time.Second):
		s.t.Fatal("the adapter did not connect")
	}
}

// ack waits (at most Slack's 3 seconds) for the ack of envelope id and
// returns it; other messages are ignored.
func (s *fakeSocket) ack(id string) map[string]json.RawMessage {
	s.t.Helper()
	deadline := time.After(3 * time.Second)
	for {
		select {
		case b := <-s.acks:
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				s.t.Fatalf("the client wrote %q: %v", b, err)
			}
			if string(m["envelope_id"]) == `"`+id+`"` {
				return m
			}
		case <-deadline:
			s.t.Fatalf("no ack of envelope %s within 3s", id)
		}
	}
}

// slashEnvelope wraps a slash command as Socket Mode delivers it: the
// command's form fields as a JSON object (is_enterprise_install a string).
func (f *flow) slashEnvelope(id, user, channel, command, text, trigger string) map[string]any {
	payload := map[string]any{}
	for _, kv := range f.slashFields(user, channel, command, text, trigger) {
		payload[kv[0]] = kv[1]
	}
	return map[string]any{"envelope_id": id, "type": "slash_commands", "payload": payload, "accepts_response_payload": true}
}

// interactiveEnvelope wraps a block_actions interaction.
func (f *flow) interactiveEnvelope(id, user string, run uint64, responseURL string, acts ...flowAction) map[string]any {
	return map[string]any{"envelope_id": id, "type": "interactive",
		"payload": json.RawMessage(f.interactionPayload(user, run, f.triggerID(), responseURL, acts...)), "accepts_response_payload": false}
}

// TestSocketMode serves slash commands, clicks and mentions over Socket
// Mode: each is acknowledged on the websocket with its envelope id, a
// command's ack carrying its ephemeral reply.
func TestSocketMode(t *testing.T) {
	f := newFlow(t, flowOptions{socket: true})
	sock := newFakeSocket(t, f.fake)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	if err := f.adapter.Ready(); err == nil {
		t.Fatal("Ready before Start: nil, want an error")
	}
	if err := f.adapter.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sock.waitDial()
	if !f.fake.WaitFor(func() bool { return f.adapter.Ready() == nil }, 5*time.Second) {
		t.Fatalf("Ready: %v once connected", f.adapter.Ready())
	}

	// A slash command: the ack carries the reply, fast.
	start := time.Now()
	sock.send(1, f.slashEnvelope("e1", "U0DEV", flowRelease, "/deploy", "demo v1.2.0 staging", f.triggerID()))
	ack := sock.ack("e1")
	if took := time.Since(start); took > time.Second {
		t.Errorf("the ack took %v", took)
	}
	var reply map[string]any
	if err := json.Unmarshal(ack["payload"], &reply); err != nil || len(ack) != 2 {
		t.Fatalf("ack %v, want envelope_id and payload (%v)", ack, err)
	}
	text, _ := reply["text"].(string)
	if len(reply) != 2 || reply["response_type"] != "ephemeral" || !strings.Contains(text, "Run #1: demo v1.2.0 → staging requested") {
		t.Fatalf("ack payload %s, want exactly {\"response_type\":\"ephemeral\",\"text\":\"Run #1: ...\"}", ack["payload"])
	}
	id := f.runOf(text)
	f.settle()
	f.wantState(id, runbook.StateChecklist)

	// Clicks: acked with the envelope id alone; a refusal goes to the
	// response_url.
	sock.send(1, f.interactiveEnvelope("e2", "U0LEAD", id, f.fake.ResponseURL(), ticks(id, f.checklistOf("staging")...)))
	if a := sock.ack("e2"); len(a) != 1 {
		t.Errorf("ack of a click: %v, want the envelope id alone", a)
	}
	refusedURL := f.fake.ResponseURL()
	sock.send(1, f.interactiveEnvelope("e3", "U0DEV", id, refusedURL, button(runbook.ButtonApprove, id)))
	sock.ack("e3")
	if !f.fake.WaitFor(func() bool { return len(f.responses(refusedURL)) == 1 }, 5*time.Second) {
		t.Fatal("no refusal of U0DEV's approval")
	}
	if got := f.responses(refusedURL)[0]; got.ResponseType != "ephemeral" || !strings.Contains(got.Text, "only tech-lead may approve") {
		t.Errorf("refusal %+v", got)
	}
	sock.send(1, f.interactiveEnvelope("e4", "U0LEAD", id, f.fake.ResponseURL(), button(runbook.ButtonApprove, id)))
	if a := sock.ack("e4"); len(a) != 1 {
		t.Errorf("ack of a click: %v, want the envelope id alone", a)
	}
	f.settle()
	r := f.wantState(id, runbook.StateSucceeded)
	if len(r.Approvals) != 1 || r.Approvals[0].By.ID != "U0LEAD" || len(f.events(id, runbook.EvApproval)) != 1 {
		t.Errorf("approvals %+v, want one by U0LEAD", r.Approvals)
	}
	if n := f.exec.Steps(runbooktest.StepDeploy, "staging", "v1.2.0"); n != 1 {
		t.Errorf("deploys: %d, want 1", n)
	}

	// Slack redelivers an envelope it saw no ack for, with the same
	// trigger_id: acked again, acted on once.
	trigger := f.triggerID()
	sock.send(1, f.slashEnvelope("e5", "U0DEV", flowRelease, "/deploy", "demo v1.3.0 staging", trigger))
	sock.ack("e5")
	retry := f.slashEnvelope("e6", "U0DEV", flowRelease, "/deploy", "demo v1.3.0 staging", trigger)
	retry["retry_attempt"], retry["retry_reason"] = 1, "timeout"
	sock.send(1, retry)
	if a := sock.ack("e6"); len(a) != 1 {
		t.Errorf("ack of a redelivered command: %v, want the envelope id alone", a)
	}
	f.settle()
	if n := len(f.runs()); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}

	// A mention through the Events API.
	sock.send(1, map[string]any{"envelope_id": "e7", "type": "events_api", "accepts_response_payload": false,
		"retry_attempt": 0, "retry_reason": "",
		"payload": json.RawMessage(f.mentionEvent("Ev0SOCKET1", "U0DEV", flowRelease, "<@UBOT> deploy demo v9 dev"))})
	sock.ack("e7")
	if !f.fake.WaitFor(func() bool { return len(f.fake.Ephemerals()) == 1 }, 5*time.Second) {
		t.Fatal("no ephemeral reply to the mention")
	}
	if e := f.fake.Ephemerals()[0]; e.User != "U0DEV" || !strings.Contains(e.Text, "Run #3: demo v9 → development") {
		t.Errorf("ephemeral reply %+v", e)
	}

	// Slack asks clients to reconnect from time to time.
	sock.send(1, map[string]any{"type": "disconnect", "reason": "refresh_requested",
		"debug_info": map[string]any{"host": "applink-test"}})
	sock.waitDial()
	if !f.fake.WaitFor(func() bool { return f.adapter.Ready() == nil }, 5*time.Second) {
		t.Fatalf("Ready after a reconnect: %v", f.adapter.Ready())
	}
	sock.send(2, f.slashEnvelope("e8", "U0DEV", flowRelease, "/deploy", "status", f.triggerID()))
	if a := sock.ack("e8"); !strings.Contains(string(a["payload"]), "Active runs") {
		t.Errorf("ack after a reconnect: %s", a["payload"])
	}
	sock.mu.Lock()
	opens := sock.opens
	sock.mu.Unlock()
	if opens != 2 {
		t.Errorf("apps.connections.open called %d times, want 2", opens)
	}

	cancel()
	if !f.fake.WaitFor(func() bool { return f.adapter.Ready() != nil }, 5*time.Second) {
		t.Error("Ready after the context ended: nil, want an error")
	}
}

// TestSocketModeClose checks that Close stops Socket Mode even when the
// context given to Start goes on, as cmd/bot's does when its server fails.
func TestSocketModeClose(t *testing.T) {
	f := newFlow(t, flowOptions{socket: true})
	sock := newFakeSocket(t, f.fake)
	if err := f.adapter.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	sock.waitDial()
	closed := make(chan struct{})
	go func() {
		f.adapter.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return: Socket Mode runs until Start's context ends")
	}
	if err := f.adapter.Ready(); err == nil {
		t.Error("Ready after Close: nil, want an error")
	}
}

package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/chat"
	"shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
	"shipmate/internal/store"
)

// stuckEngine is an engine with faults: the next `fail` commands fail
// inside Shipmate (as when the store fails) without doing anything, and
// the commands of users in hold wait for their channel to close.
type stuckEngine struct {
	chat.Engine
	mu      sync.Mutex
	fail    int
	hold    map[string]chan struct{}
	holding chan string
}

func (e *stuckEngine) Command(ctx context.Context, u runbook.User, o runbook.Origin, c, t string) (runbook.Reply, bool, error) {
	e.mu.Lock()
	failing, held := e.fail > 0, e.hold[u.ID]
	if failing {
		e.fail--
	}
	e.mu.Unlock()
	if failing {
		return runbook.Reply{}, true, errors.New("save run: disk I/O error")
	}
	if held != nil {
		e.holding <- u.ID
		<-held
	}
	return e.Engine.Command(ctx, u, o, c, t)
}

// stuckGateway starts an adapter on g, as gatewayAdapter does, with a
// stuckEngine in front of its engine.
func stuckGateway(t *testing.T, g *wsGateway) (*Adapter, *store.Store, *stuckEngine) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "shipmate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pol, late := testPolicy(), &lateEngine{}
	stuck := &stuckEngine{Engine: late, hold: map[string]chan struct{}{}, holding: make(chan string, 4)}
	a, err := New(Options{
		Config: Config{BotToken: "gw-token", ApplicationID: testApp, GuildID: testGuild, APIURL: g.srv.URL},
		Engine: stuck, Runs: st, Deduper: st, Apps: pol.AppNames(), Envs: pol.Envs,
		Log: zerolog.Nop(), MinEditInterval: 50 * time.Millisecond,
		ReconnectMin: 5 * time.Millisecond, ReconnectMax: 40 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	late.e = runbook.New(runbook.Config{
		Store: st, Policy: pol, Executors: map[string]runbook.Executor{"demo": runbooktest.NewExec().Executor()},
		Chats: map[string]runbook.Chat{Platform: a.Chat()}, Log: zerolog.Nop(), OutputFlush: 20 * time.Millisecond,
	})
	t.Cleanup(func() { late.e.Close(); a.Close(); _ = st.Close() })
	if err := late.e.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	<-g.ready
	return a, st, stuck
}

// command dispatches /deploy <sub> [app version env] by user as
// interaction id and returns the text of its answer.
func command(t *testing.T, g *wsGateway, id, user, sub string, args ...string) string {
	t.Helper()
	var opts []map[string]any
	for i, name := range []string{"app", "version", "env"}[:len(args)] {
		opts = append(opts, map[string]any{"name": name, "type": 3, "value": args[i]})
	}
	tok := "tok-" + id
	ic := map[string]any{"id": id, "application_id": testApp, "type": 2, "token": tok,
		"channel_id": testChannel, "guild_id": testGuild, "member": member(user), "version": 1,
		"data": map[string]any{"id": "C1", "name": "deploy", "type": 1, "options": []map[string]any{{
			"name": sub, "type": 1, "options": opts}}}}
	callback := "/interactions/" + id + "/" + tok + "/callback"
	before := len(g.rest.Exact("POST", callback))
	if err := g.dispatch("INTERACTION_CREATE", ic); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the answer to "+id, func() bool { return len(g.rest.Exact("POST", callback)) > before })
	var resp struct {
		Data struct {
			Content string `json:"content"`
		} `json:"data"`
	}
	if err := json.Unmarshal(g.rest.Exact("POST", callback)[before].Body, &resp); err != nil {
		t.Fatal(err)
	}
	return resp.Data.Content
}

// The gateway comes back after every drop: readiness says Discord is
// down until it has, and interactions are answered again each time.
func TestGatewayReconnectsForEver(t *testing.T) {
	g := newWSGateway(t)
	// Heartbeats as Discord paces them, not the gateway tests' fast ones:
	// on a busy machine, a late ack makes discordgo drop the connection
	// itself, which these tests would take for a reconnect of their own.
	g.heartbeatMs = 5000
	var held chan struct{} // holds the next reconnection until closed
	hold := func() {
		held = make(chan struct{})
		g.mu.Lock()
		g.resumes = held
		g.mu.Unlock()
	}
	hold()
	// A connection still held would keep the server's Close waiting.
	t.Cleanup(func() {
		select {
		case <-held:
		default:
			close(held)
		}
	})
	a, _, _ := stuckGateway(t, g)
	for n := 1; n <= 3; n++ {
		g.drop()
		eventually(t, "Ready to report the drop", func() bool {
			err := a.Ready()
			return err != nil && strings.Contains(err.Error(), "gateway disconnected")
		})
		close(held)
		eventually(t, "Ready after reconnecting", func() bool { return a.Ready() == nil })
		hold()
		if got := command(t, g, fmt.Sprintf("90000000000000010%d", n), "U1", "status"); !strings.Contains(got, "active runs") {
			t.Fatalf("drop %d: answer on the new connection: %q", n, got)
		}
	}
}

// Interactions are handled side by side: one whose engine call blocks
// does not hold up another user's.
func TestGatewaySlowInteractionHoldsNoOneUp(t *testing.T) {
	g := newWSGateway(t)
	// Heartbeats as Discord paces them, not the gateway tests' fast ones:
	// on a busy machine, a late ack makes discordgo drop the connection
	// itself, which these tests would take for a reconnect of their own.
	g.heartbeatMs = 5000
	_, _, e := stuckGateway(t, g)
	release := make(chan struct{})
	e.mu.Lock()
	e.hold["U2"] = release
	e.mu.Unlock()
	stuckDone := make(chan string, 1)
	go func() { stuckDone <- command(t, g, "900000000000000201", "U2", "status") }()
	select {
	case <-e.holding:
	case <-time.After(5 * time.Second):
		t.Fatal("the first interaction did not reach the engine")
	}
	if got := command(t, g, "900000000000000202", "U1", "status"); !strings.Contains(got, "active runs") {
		t.Fatalf("answer while another interaction is stuck: %q", got)
	}
	close(release)
	<-stuckDone
}

// A command that failed inside Shipmate gives its delivery back: the
// same interaction delivered again acts.
func TestGatewayFailedCommandIsRetried(t *testing.T) {
	g := newWSGateway(t)
	// Heartbeats as Discord paces them, not the gateway tests' fast ones:
	// on a busy machine, a late ack makes discordgo drop the connection
	// itself, which these tests would take for a reconnect of their own.
	g.heartbeatMs = 5000
	_, st, e := stuckGateway(t, g)
	e.mu.Lock()
	e.fail = 1
	e.mu.Unlock()
	if got := command(t, g, "900000000000000301", "U1", "run", "demo", "v3", "development"); !strings.Contains(got, "internal error") {
		t.Fatalf("answer to a failed command: %q", got)
	}
	if got := command(t, g, "900000000000000301", "U1", "run", "demo", "v3", "development"); !strings.Contains(got, "Run #1") {
		t.Fatalf("answer to its redelivery: %q", got)
	}
	if got := command(t, g, "900000000000000301", "U1", "run", "demo", "v3", "development"); !strings.Contains(got, "received already") {
		t.Fatalf("answer to a redelivery of a stored command: %q", got)
	}
	if runs, err := st.History(t.Context(), "demo", "", 10); err != nil || len(runs) != 1 {
		t.Fatalf("runs: %d (%v), want 1", len(runs), err)
	}
}

package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"shipmate/internal/adapters/discord/discordtest"
	"shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
	"shipmate/internal/store"
)

// The gateway tests run the adapter without a public key, the way it runs
// against Discord's gateway: Start registers the commands over REST, fetches
// the gateway URL, dials it, identifies, and then receives interactions as
// INTERACTION_CREATE dispatches, answering them through the callback
// endpoint. The fake serves discordgo v0.29's side of that handshake.

// wsGateway is a fake Discord: the REST API of fakeDiscord plus GET
// /gateway and the gateway websocket on the same server.
type wsGateway struct {
	srv         *httptest.Server
	rest        *discordtest.Server
	gatewayFail int  // non-zero: GET /gateway answers this status
	silent      bool // accept the websocket and say nothing
	// resumes, when set, lets later connections in (each once it is
	// closed) and answers their RESUME with RESUMED.
	resumes     chan struct{}
	heartbeatMs int // Hello's heartbeat_interval

	mu         sync.Mutex
	seen       []string // REST requests ("GET /gateway") and gateway ops ("IDENTIFY"), in order
	identify   identifyPayload
	conns      int
	heartbeats int
	ackedAt    time.Time // when the first heartbeat ack was sent
	closeErr   error     // how the connection's read loop ended
	seq        int
	conn       *websocket.Conn
	writeMu    sync.Mutex    // one writer at a time on conn
	ready      chan struct{} // closed once READY is sent
	done       chan struct{} // closed when the connection ends
}

type identifyPayload struct {
	Token   string `json:"token"`
	Intents int    `json:"intents"`
}

func newWSGateway(t *testing.T) *wsGateway {
	g := &wsGateway{rest: discordtest.New(t), heartbeatMs: 200,
		ready: make(chan struct{}), done: make(chan struct{})}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

// apiVersion is the prefix of REST paths.
var apiVersion = regexp.MustCompile(`^/api/v[0-9]+`)

func (g *wsGateway) serve(w http.ResponseWriter, r *http.Request) {
	if websocket.IsWebSocketUpgrade(r) {
		g.serveWS(w, r)
		return
	}
	path := apiVersion.ReplaceAllString(r.URL.Path, "")
	g.log(r.Method + " " + path)
	if r.Method == http.MethodGet && path == "/gateway" {
		w.Header().Set("Content-Type", "application/json")
		switch g.gatewayFail {
		case 0:
			_ = json.NewEncoder(w).Encode(map[string]string{"url": "ws://" + g.srv.Listener.Addr().String()})
		case http.StatusUnauthorized:
			w.WriteHeader(g.gatewayFail)
			_, _ = w.Write([]byte(`{"message":"401: Unauthorized","code":0}`))
		default:
			w.WriteHeader(g.gatewayFail)
			_, _ = w.Write([]byte(`{"message":"Internal Server Error","code":0}`))
		}
		return
	}
	g.rest.ServeHTTP(w, r)
}

func (g *wsGateway) log(s string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen = append(g.seen, s)
}

// serveWS is one gateway connection: Hello, Identify, READY, then acks to
// heartbeats until the client goes.
func (g *wsGateway) serveWS(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.conns++
	first := g.conns == 1
	g.mu.Unlock()
	if !first && g.resumes != nil {
		g.serveResume(w, r)
		return
	}
	c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil || !first { // a reconnect is a failure the test reports via conns
		if c != nil {
			_ = c.Close()
		}
		return
	}
	defer c.Close()
	defer close(g.done)
	if g.silent {
		g.log("WS silent")
		_, _, _ = c.ReadMessage() // until the client hangs up
		return
	}
	g.log("WS v=" + r.URL.Query().Get("v") + " encoding=" + r.URL.Query().Get("encoding"))
	if g.write(c, map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": g.heartbeatMs}}) != nil {
		return
	}
	var id struct {
		Op int             `json:"op"`
		D  identifyPayload `json:"d"`
	}
	if err := c.ReadJSON(&id); err != nil || id.Op != 2 {
		g.mu.Lock()
		g.closeErr = errors.Join(err, errors.New("want Identify (op 2) after Hello"))
		g.mu.Unlock()
		return
	}
	g.mu.Lock()
	g.identify, g.conn = id.D, c
	g.seen = append(g.seen, "IDENTIFY")
	g.mu.Unlock()
	ready := map[string]any{"v": 10, "session_id": "S1", "resume_gateway_url": "ws://" + r.Host,
		"user":        map[string]any{"id": testApp, "username": "shipmate", "bot": true},
		"application": map[string]any{"id": testApp, "flags": 0}, "guilds": []any{}, "private_channels": []any{}}
	if g.dispatch("READY", ready) != nil {
		return
	}
	close(g.ready)
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			g.mu.Lock()
			g.closeErr = err
			g.mu.Unlock()
			return
		}
		var op struct {
			Op int `json:"op"`
		}
		if json.Unmarshal(msg, &op) != nil || op.Op != 1 {
			continue
		}
		now := time.Now()
		if g.write(c, map[string]any{"op": 11}) == nil {
			g.mu.Lock()
			g.heartbeats++
			if g.ackedAt.IsZero() {
				g.ackedAt = now
			}
			g.mu.Unlock()
		}
	}
}

// serveResume is a reconnection: once g.resumes is closed, Hello, then
// RESUMED for the client's RESUME, then acks to heartbeats.
func (g *wsGateway) serveResume(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	gate := g.resumes // a test may hold the next reconnection with a new one
	g.mu.Unlock()
	<-gate
	c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	if g.write(c, map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": g.heartbeatMs}}) != nil {
		return
	}
	var op struct {
		Op int `json:"op"`
	}
	if err := c.ReadJSON(&op); err != nil || op.Op != 6 {
		g.log(fmt.Sprintf("want RESUME (op 6), got op %d (%v)", op.Op, err))
		return
	}
	g.log("RESUME")
	g.mu.Lock()
	g.conn = c
	g.mu.Unlock()
	if g.dispatch("RESUMED", map[string]any{}) != nil {
		return
	}
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if json.Unmarshal(msg, &op) == nil && op.Op == 1 {
			_ = g.write(c, map[string]any{"op": 11})
		}
	}
}

// drop cuts the current gateway connection, as a network fault would.
func (g *wsGateway) drop() {
	g.mu.Lock()
	c := g.conn
	g.mu.Unlock()
	_ = c.UnderlyingConn().Close()
}

func (g *wsGateway) write(c *websocket.Conn, v any) error {
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	return c.WriteJSON(v)
}

// dispatch sends event t (op 0) with the next sequence number.
func (g *wsGateway) dispatch(t string, d any) error {
	g.mu.Lock()
	g.seq++
	seq, c := g.seq, g.conn
	g.mu.Unlock()
	return g.write(c, map[string]any{"op": 0, "t": t, "s": seq, "d": d})
}

// gatewayAdapter builds the adapter on g without a public key, with a real
// engine on a real store, and starts it with a bound.
func gatewayAdapter(t *testing.T, g *wsGateway) (*Adapter, *store.Store, *runbooktest.Exec, error) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "shipmate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pol, late, exec := testPolicy(), &lateEngine{}, runbooktest.NewExec()
	a, err := New(Options{
		Config: Config{BotToken: "gw-token", ApplicationID: testApp, GuildID: testGuild, APIURL: g.srv.URL},
		Engine: late, Runs: st, Deduper: st, Apps: pol.AppNames(), Envs: pol.Envs,
		Log: zerolog.Nop(), MinEditInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	late.e = runbook.New(runbook.Config{
		Store: st, Policy: pol, Executors: map[string]runbook.Executor{"demo": exec.Executor()},
		Chats: map[string]runbook.Chat{Platform: a.Chat()}, Log: zerolog.Nop(), OutputFlush: 20 * time.Millisecond,
	})
	t.Cleanup(func() { late.e.Close(); a.Close(); _ = st.Close() })
	if err := late.e.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	started := make(chan error, 1)
	go func() { started <- a.Start(ctx) }()
	select {
	case err = <-started:
	case <-time.After(15 * time.Second):
		t.Fatal("Start did not return within 15 s")
	}
	return a, st, exec, err
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestGatewaySession(t *testing.T) {
	g := newWSGateway(t)
	a, st, exec, err := gatewayAdapter(t, g)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := a.Ready(); err != nil {
		t.Fatalf("Ready after Start: %v", err)
	}
	select {
	case <-g.ready:
	case <-time.After(5 * time.Second):
		t.Fatal("no READY sent")
	}

	// 1. Commands registered, then the gateway fetched, dialled and identified.
	g.mu.Lock()
	seen, ident := strings.Join(g.seen, " | "), g.identify
	g.mu.Unlock()
	want := "PUT /applications/" + testApp + "/guilds/" + testGuild + "/commands | GET /gateway | WS v=" +
		discordgo.APIVersion + " encoding=json | IDENTIFY"
	if seen != want {
		t.Fatalf("handshake:\n got %s\nwant %s", seen, want)
	}
	if ident.Token != "Bot gw-token" || ident.Intents&int(discordgo.IntentsGuilds) == 0 {
		t.Fatalf("identify: token %q intents %d, want \"Bot gw-token\" with GUILDS", ident.Token, ident.Intents)
	}

	// 2. A /deploy run over the gateway: answered through the callback,
	// stored, deployed, and its message posted in the channel.
	ic := map[string]any{"id": "900000000000000001", "application_id": testApp, "type": 2, "token": "gw-tok",
		"channel_id": testChannel, "guild_id": testGuild, "member": member("U1"), "version": 1,
		"data": map[string]any{"id": "C1", "name": "deploy", "type": 1, "options": []map[string]any{{
			"name": "run", "type": 1, "options": []map[string]any{
				{"name": "app", "type": 3, "value": "demo"}, {"name": "version", "type": 3, "value": "v1.2"},
				{"name": "env", "type": 3, "value": "development"}}}}}}
	callback := "/interactions/900000000000000001/gw-tok/callback"
	if err := g.dispatch("INTERACTION_CREATE", ic); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the callback", func() bool { return len(g.rest.Exact("POST", callback)) == 1 })
	var resp struct {
		Type int `json:"type"`
		Data struct {
			Content string `json:"content"`
			Flags   int    `json:"flags"`
		} `json:"data"`
	}
	if err := json.Unmarshal(g.rest.Exact("POST", callback)[0].Body, &resp); err != nil ||
		resp.Type != 4 || resp.Data.Flags != 64 || resp.Data.Content == "" {
		t.Fatalf("callback %+v (%v), want an ephemeral message (type 4, flags 64)", resp, err)
	}
	eventually(t, "the run to succeed", func() bool {
		r, err := st.Run(t.Context(), 1)
		return err == nil && r.State == runbook.StateSucceeded
	})
	if r, _ := st.Run(t.Context(), 1); r.App != "demo" || r.Version != "v1.2" || r.Env != "development" {
		t.Fatalf("run: %s %s %s", r.App, r.Version, r.Env)
	}
	eventually(t, "the run's message", func() bool {
		return len(g.rest.Exact("POST", "/channels/"+testChannel+"/messages")) == 1
	})

	// 3. Discord delivers the same interaction again: answered, not run again.
	if err := g.dispatch("INTERACTION_CREATE", ic); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second callback", func() bool { return len(g.rest.Exact("POST", callback)) == 2 })
	if n := exec.Deploys(); n != 1 {
		t.Fatalf("deploys after a repeated delivery: %d, want 1", n)
	}
	if runs, err := st.History(t.Context(), "demo", "", 10); err != nil || len(runs) != 1 {
		t.Fatalf("runs after a repeated delivery: %d (%v), want 1", len(runs), err)
	}

	// 4. Heartbeats are sent, acked, and the ack is taken (no reconnect).
	eventually(t, "a heartbeat", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.heartbeats > 0 })
	g.mu.Lock()
	ackedAt := g.ackedAt
	g.mu.Unlock()
	eventually(t, "the ack to be taken", func() bool {
		a.s.RLock()
		defer a.s.RUnlock()
		return !a.s.LastHeartbeatAck.Before(ackedAt)
	})

	// 5. Close ends the gateway connection with a normal closure.
	a.Close()
	select {
	case <-g.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the gateway connection outlived Close")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !websocket.IsCloseError(g.closeErr, websocket.CloseNormalClosure) {
		t.Fatalf("connection ended with %v, want a normal close frame", g.closeErr)
	}
	if g.conns != 1 {
		t.Fatalf("gateway connections: %d, want 1 (a reconnect means a missed ack)", g.conns)
	}
}

// Start fails, and says it was the gateway, when its URL cannot be fetched.
func TestGatewayURLFetchFails(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusInternalServerError} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			g := newWSGateway(t)
			g.gatewayFail = status
			a, _, _, err := gatewayAdapter(t, g)
			if err == nil {
				t.Fatal("Start succeeded")
			}
			var re *discordgo.RESTError
			if !strings.Contains(err.Error(), "gateway") || !errors.As(err, &re) || re.Response.StatusCode != status {
				t.Fatalf("Start: %v, want a gateway error with HTTP %d", err, status)
			}
			if strings.Contains(err.Error(), "gw-token") {
				t.Fatalf("the error shows the token: %v", err)
			}
			if a.Ready() == nil {
				t.Fatal("Ready after a failed Start")
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.conns != 0 {
				t.Fatalf("dialled the gateway %d times", g.conns)
			}
		})
	}
}

// A gateway that accepts the connection and never says Hello does not
// hold Start beyond its context.
func TestGatewaySilentStartGivesUp(t *testing.T) {
	g := newWSGateway(t)
	g.silent = true
	st, err := store.Open(filepath.Join(t.TempDir(), "shipmate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	pol := testPolicy()
	a, err := New(Options{
		Config: Config{BotToken: "gw-token", ApplicationID: testApp, APIURL: g.srv.URL},
		Engine: &lateEngine{}, Runs: st, Deduper: st, Apps: pol.AppNames(), Envs: pol.Envs, Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	started := make(chan error, 1)
	go func() { started <- a.Start(ctx) }()
	select {
	case err = <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("Start was still waiting for the gateway 5 s after its 500 ms context ended")
	}
	if err == nil || !strings.Contains(err.Error(), "gateway") || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("Start = %v, want a gateway error saying it gave up", err)
	}
	if a.Ready() == nil {
		t.Fatal("Ready after a failed Start")
	}
	eventually(t, "the connection to end", func() bool {
		select {
		case <-g.done:
			return true
		default:
			return false
		}
	})
}

// A dropped gateway connection makes the adapter not ready until discordgo
// has resumed the session; interactions flow again after.
func TestGatewayDropAndResume(t *testing.T) {
	g := newWSGateway(t)
	g.resumes = make(chan struct{})
	a, st, _, err := gatewayAdapter(t, g)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	<-g.ready
	if err := a.Ready(); err != nil {
		t.Fatalf("Ready after Start: %v", err)
	}
	g.drop()
	eventually(t, "Ready to report the drop", func() bool {
		err := a.Ready()
		return err != nil && strings.Contains(err.Error(), "gateway disconnected")
	})
	close(g.resumes)
	eventually(t, "Ready after the resume", func() bool { return a.Ready() == nil })
	g.mu.Lock()
	seen := strings.Join(g.seen, " | ")
	g.mu.Unlock()
	if !strings.HasSuffix(seen, "| RESUME") {
		t.Fatalf("gateway saw %s, want the session resumed", seen)
	}
	// An interaction on the resumed connection is answered.
	ic := map[string]any{"id": "900000000000000009", "application_id": testApp, "type": 2, "token": "gw-tok-2",
		"channel_id": testChannel, "guild_id": testGuild, "member": member("U1"), "version": 1,
		"data": map[string]any{"id": "C1", "name": "deploy", "type": 1, "options": []map[string]any{{
			"name": "run", "type": 1, "options": []map[string]any{
				{"name": "app", "type": 3, "value": "demo"}, {"name": "version", "type": 3, "value": "v2"},
				{"name": "env", "type": 3, "value": "development"}}}}}}
	// On a loaded machine the client may find a heartbeat late and
	// resume once more: the event goes to the connection it holds then.
	eventually(t, "the interaction delivered", func() bool { return g.dispatch("INTERACTION_CREATE", ic) == nil })
	eventually(t, "the run after the resume", func() bool {
		r, err := st.Run(t.Context(), 1)
		return err == nil && r.Version == "v2" && r.State == runbook.StateSucceeded
	})
}

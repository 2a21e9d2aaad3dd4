package discord

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/adapters/discord/discordtest"
	"shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
	"shipmate/internal/store"
)

// The harness drives the adapter the way Discord does: signed HTTP
// interactions to its route, a real engine on a real bbolt store, and a
// fake Discord REST API recording the adapter's calls. Only the executor
// is fake.

const (
	testApp     = "111111111111111111"
	testGuild   = "222222222222222222"
	testChannel = "333333333333333333"
)

// testSeed makes the test app's Ed25519 key.
var testSeed = bytes.Repeat([]byte{7}, ed25519.SeedSize)

func testKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(testSeed) }

// lateEngine lets the adapter be built before the engine it calls, which
// needs the adapter's chat.
type lateEngine struct{ e *runbook.Engine }

func (l *lateEngine) Command(ctx context.Context, u runbook.User, o runbook.Origin, c, t string) (runbook.Reply, bool, error) {
	return l.e.Command(ctx, u, o, c, t)
}

func (l *lateEngine) Act(ctx context.Context, u runbook.User, id uint64, a runbook.ButtonAction, arg string) (runbook.Reply, error) {
	return l.e.Act(ctx, u, id, a, arg)
}

func (l *lateEngine) Message(r *runbook.Run) runbook.Message { return l.e.Message(r) }

// flow is one adapter with its engine, store and fake Discord.
type flow struct {
	t       *testing.T
	discord *discordtest.Server
	store   *store.Store
	engine  *runbook.Engine
	adapter *Adapter
	exec    *runbooktest.Exec
	srv     *httptest.Server
	nextID  atomic.Int64
	lastOut map[string]any
}

func testPolicy() *runbook.Policy {
	return &runbook.Policy{
		Roles: map[string]runbook.Role{
			"deployer":        {Members: map[string][]string{Platform: {"U1", "U2", "U3"}}},
			"tech-lead":       {Members: map[string][]string{Platform: {"U2"}}},
			"release-manager": {Members: map[string][]string{Platform: {}}, Groups: map[string][]string{Platform: {"R-RM"}}},
		},
		Checklist: map[string]string{"tests": "Tests pass", "notes": "Release notes written"},
		Envs: []runbook.Environment{
			{Name: "development", Aliases: []string{"dev"}, Deployers: []string{"deployer"}},
			{Name: "staging", Deployers: []string{"deployer"}, Checklist: []string{"tests", "notes"},
				Approval: runbook.ApprovalRule{Roles: []string{"tech-lead"}, Count: 1}},
			{Name: "production", Aliases: []string{"prod"}, Deployers: []string{"deployer"},
				Approval: runbook.ApprovalRule{Roles: []string{"release-manager"}, Count: 1}},
		},
		Apps: map[string]runbook.App{"demo": {Name: "demo", Executor: "fake"}},
	}
}

func newFlow(t *testing.T) *flow {
	t.Helper()
	f := &flow{t: t, discord: discordtest.New(t), exec: runbooktest.NewExec()}
	f.start(setup{
		config: Config{BotToken: "test-token", ApplicationID: testApp, GuildID: testGuild,
			PublicKey: hex.EncodeToString(testKey().Public().(ed25519.PublicKey))},
		policy: testPolicy(), execs: map[string]runbook.Executor{"demo": f.exec.Executor()}, client: f.discord.Client(), log: zerolog.Nop(),
	})
	return f
}

// setup is what a flow runs with.
type setup struct {
	config Config
	policy *runbook.Policy
	execs  map[string]runbook.Executor
	clock  runbook.Clock  // the engine's; nil: the real one
	client *http.Client   // nil: the adapter's own, to config.APIURL
	log    zerolog.Logger // zero: none
}

// start opens a store and wires the adapter, engine and an HTTP server
// serving the adapter's route as cmd/bot does; all is closed when the test
// ends.
func (f *flow) start(su setup) {
	t := f.t
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "shipmate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.store = st
	late := &lateEngine{}
	announce := ""
	if n := len(su.policy.Envs); n > 0 {
		announce = su.policy.Envs[n-1].Name
	}
	a, err := New(Options{
		Config: su.config, Engine: late, Runs: st, Deduper: st, Apps: su.policy.AppNames(), Envs: su.policy.Envs,
		AnnounceEnv: announce, Refs: st, Log: su.log, HTTPClient: su.client, MinEditInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.adapter = a
	f.engine = runbook.New(runbook.Config{
		Store: st, Policy: su.policy, Executors: su.execs, Clock: su.clock,
		Chats: map[string]runbook.Chat{Platform: a.Chat()}, Log: su.log, OutputFlush: 20 * time.Millisecond,
	})
	late.e = f.engine
	if err := f.engine.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Routes(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.Close()
		f.engine.Close()
		a.Close()
		_ = st.Close()
	})
}

// post sends body signed at ts (zero: now) and returns the status and the
// decoded answer.
func (f *flow) post(body []byte, ts time.Time, key ed25519.PrivateKey) (int, map[string]any) {
	f.t.Helper()
	if ts.IsZero() {
		ts = time.Now()
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/discord/interactions", bytes.NewReader(body))
	if key != nil {
		req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(key, append([]byte(stamp), body...))))
	}
	req.Header.Set("X-Signature-Timestamp", stamp)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// member is a guild member's part of an interaction.
func member(id string, roles ...string) map[string]any {
	if roles == nil {
		roles = []string{}
	}
	return map[string]any{"user": map[string]any{"id": id, "username": strings.ToLower(id)}, "roles": roles}
}

// interaction builds an interaction of type typ in testChannel with a
// fresh id.
func (f *flow) interaction(typ int, who map[string]any, data map[string]any, message []byte) []byte {
	return f.interactionIn(testChannel, typ, who, data, message)
}

// interactionIn builds an interaction of type typ in channel.
func (f *flow) interactionIn(channel string, typ int, who map[string]any, data map[string]any, message []byte) []byte {
	id := "I" + strconv.FormatInt(f.nextID.Add(1), 10)
	ic := map[string]any{"id": id, "application_id": testApp, "type": typ, "token": "tok-" + id,
		"channel_id": channel, "guild_id": testGuild, "member": who, "version": 1, "data": data}
	if message != nil {
		ic["message"] = json.RawMessage(message)
	}
	b, err := json.Marshal(ic)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// deployRun is /deploy run with the options given.
func (f *flow) deployRun(who map[string]any, app, version, env string) []byte {
	opts := []map[string]any{
		{"name": "app", "type": 3, "value": app}, {"name": "version", "type": 3, "value": version},
		{"name": "env", "type": 3, "value": env},
	}
	return f.interaction(2, who, map[string]any{"id": "C1", "name": "deploy", "type": 1,
		"options": []map[string]any{{"name": "run", "type": 1, "options": opts}}}, nil)
}

// click is a button press on message msg.
func (f *flow) click(who map[string]any, customID, msg string) []byte {
	return f.interaction(3, who, map[string]any{"custom_id": customID, "component_type": 2}, f.shown(msg))
}

// selectItems selects values in the checklist of msg.
func (f *flow) selectItems(who map[string]any, customID, msg string, values ...string) []byte {
	if values == nil {
		values = []string{}
	}
	return f.interaction(3, who, map[string]any{"custom_id": customID, "component_type": 3, "values": values}, f.shown(msg))
}

// shown is message msg as Discord has it, for the interaction's message.
func (f *flow) shown(msg string) []byte {
	var m map[string]any
	if err := json.Unmarshal(f.discord.Message(msg), &m); err != nil {
		f.t.Fatalf("message %s: %v", msg, err)
	}
	m["id"] = msg
	m["channel_id"] = testChannel
	b, _ := json.Marshal(m)
	return b
}

// waitFor polls cond for up to 5 s.
func (f *flow) waitFor(what string, cond func() bool) {
	f.t.Helper()
	eventually(f.t, what, cond)
}

// run reads run id from the store.
func (f *flow) run(id uint64) *runbook.Run {
	f.t.Helper()
	r, err := f.store.Run(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// embed returns the first embed of message msg's latest body.
func (f *flow) embed(msg string) map[string]any {
	var m struct {
		Embeds []map[string]any `json:"embeds"`
	}
	_ = json.Unmarshal(f.discord.Message(msg), &m)
	if len(m.Embeds) == 0 {
		return nil
	}
	return m.Embeds[0]
}

// postSignedAs signs signed but sends sent.
func (f *flow) postSignedAs(sent, signed []byte, ts time.Time, key ed25519.PrivateKey) int {
	f.t.Helper()
	stamp := strconv.FormatInt(ts.Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/discord/interactions", bytes.NewReader(sent))
	req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(key, append([]byte(stamp), signed...))))
	req.Header.Set("X-Signature-Timestamp", stamp)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// postOK posts a signed body; its answer is in f.lastOut.
func (f *flow) postOK(body []byte) int {
	f.t.Helper()
	status, out := f.post(body, time.Time{}, testKey())
	f.lastOut = out
	return status
}

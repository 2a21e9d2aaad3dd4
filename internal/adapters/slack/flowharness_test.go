package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"shipmate/internal/clocktest"
	"shipmate/internal/config"
	"shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
	"shipmate/internal/store"
)

// The harness of flow_test.go, http_test.go and socket_test.go, which drive
// the adapter end to end the way Slack does: signed HTTP requests to its
// routes (or Socket Mode envelopes), a real engine on a real bbolt store,
// and the fake Slack Web API taking the adapter's posts, edits and
// response_url messages. Only the executor is fake (it succeeds at once,
// unless told to hold a step), and the clock, so that production's window
// is open.

// flowMonday is inside production's window (Mon-Thu 09:00-16:00 UTC).
var flowMonday = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

// flowSaturday is outside it.
var flowSaturday = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

// flowSecret is the signing secret of the test app.
const flowSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// The channels of the tests.
const (
	flowRelease  = "CRELEASE"
	flowIncident = "CINCIDENT"
	flowAnnounce = "CANNOUNCE"
)

// flowUsers are the Slack users of configs/example.yaml (and two who hold
// no role there), with the display names users.info gives them.
var flowUsers = map[string]string{
	"U0DEV": "dana.dev", "U0LEAD": "lea.lead", "U0RM": "rita.rm", "U0RMB": "rob.rm",
	"U0OPS": "otto.ops", "U0INC": "ivan.inc", "U0NOBODY": "nora.nobody",
}

// flowOptions vary the set-up.
type flowOptions struct {
	// announce is SLACK_ANNOUNCE_CHANNEL.
	announce string
	// socket sets SLACK_APP_TOKEN and builds the adapter for Socket Mode:
	// no HTTP server, and the test calls Start.
	socket bool
	// restart starts the bot again on the fake Slack and the store file of
	// an earlier flow, stopped first, as a restarted process would.
	restart *flow
	// chat, if set, wraps the chat the engine is given.
	chat func(*Chat) runbook.Chat
}

// flow is the bot as cmd/bot wires it, with the example configuration,
// talking to a fake Slack.
type flow struct {
	t       *testing.T
	fake    *fakeSlack
	cfg     *config.Config
	clock   *clocktest.Clock
	exec    *runbooktest.Exec // the demo app's steps: each prints two lines and succeeds
	store   *store.Store
	engine  *runbook.Engine
	chat    *Chat
	dir     *Directory
	adapter *Adapter
	srv     *httptest.Server // nil in Socket Mode
	logs    *chatTestLog
	socket  bool
	db      string // the store's file
	stop    func() // closes the bot, once; the test's end does it too

	seq *atomic.Int64 // trigger ids and action timestamps, shared by as and restarts
}

// as returns f reporting to t, for use inside t.Run.
func (f *flow) as(t *testing.T) *flow {
	g := *f
	g.t = t
	return &g
}

// newFlow loads configs/example.yaml with the SLACK_* variables pointing
// at a fake Slack and wires store, chat, directory, engine and adapter as
// cmd/bot does; everything is closed when the test ends (or by stop).
func newFlow(t *testing.T, opt flowOptions) *flow {
	t.Helper()
	var fake *fakeSlack
	seq, db := new(atomic.Int64), filepath.Join(t.TempDir(), "shipmate.db")
	if r := opt.restart; r != nil {
		r.stop() // the store's file is locked until then
		fake, seq, db = r.fake, r.seq, r.db
	} else {
		fake = newFakeSlack(t)
	}
	for id, name := range flowUsers {
		fake.SetUser(id, strings.ToLower(id), "", name)
	}
	vars := map[string]string{
		"SLACK_BOT_TOKEN":        fake.Token,
		"SLACK_SIGNING_SECRET":   flowSecret,
		"SLACK_API_URL":          fake.URL + "/api/",
		"SLACK_ANNOUNCE_CHANNEL": opt.announce,
	}
	if opt.socket {
		vars["SLACK_APP_TOKEN"] = "xapp-test"
	}
	cfg, err := config.Load(filepath.Join("..", "..", "..", "configs", "example.yaml"), func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	sc := cfg.Chat.Slack
	if !sc.Enabled() || sc.APIURL != fake.URL+"/api/" {
		t.Fatalf("the example configuration did not take the Slack settings: %+v", sc)
	}

	f := &flow{t: t, fake: fake, cfg: cfg, clock: clocktest.New(flowMonday), exec: runbooktest.NewExec(),
		logs: &chatTestLog{}, socket: opt.socket, db: db, seq: seq}
	log := zerolog.New(f.logs).Level(zerolog.DebugLevel)
	apiOpts := []slack.Option{slack.OptionAPIURL(sc.APIURL)}
	if sc.AppToken != "" {
		apiOpts = append(apiOpts, slack.OptionAppLevelToken(sc.AppToken))
	}
	api := slack.New(sc.BotToken, apiOpts...)

	f.store, err = store.Open(db, store.Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Edits are paced 20ms apart rather than a second, to keep the tests
	// fast; rate limits are still waited out as Slack says.
	f.chat = NewChat(api, ChatOptions{AnnounceChannel: sc.AnnounceChannel,
		AnnounceEnv: cfg.Policy.Envs[len(cfg.Policy.Envs)-1].Name, MinInterval: 20 * time.Millisecond, Refs: f.store, Log: log})
	f.dir = NewDirectory(api, 5*time.Minute, log)
	var engineChat runbook.Chat = f.chat
	if opt.chat != nil {
		engineChat = opt.chat(f.chat)
	}
	f.engine = runbook.New(runbook.Config{
		Store: f.store, Policy: &cfg.Policy, Executors: map[string]runbook.Executor{"demo": f.exec.Executor()},
		Chats: map[string]runbook.Chat{Platform: engineChat}, Groups: map[string]runbook.GroupResolver{Platform: f.dir},
		Clock: f.clock, Log: log,
	})
	f.adapter = New(Options{API: api, SigningSecret: sc.SigningSecret, SocketMode: sc.AppToken != "",
		Engine: f.engine, Runs: f.store, Deduper: f.store, Chat: f.chat, Directory: f.dir,
		Clock: f.clock.Now, Log: log})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", f.logs.String())
		}
	})
	f.stop = sync.OnceFunc(func() {
		if f.srv != nil {
			f.srv.Close()
		}
		f.adapter.Close()
		f.engine.Close()
		f.chat.Close()
		if err := f.store.Close(); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(f.stop)
	if err := f.engine.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	if opt.socket {
		return f
	}
	if err := f.adapter.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.adapter.Ready(); err != nil {
		t.Fatalf("Ready after Start in HTTP mode: %v", err)
	}
	mux := http.NewServeMux()
	f.adapter.Routes(mux)
	f.srv = httptest.NewServer(mux)
	return f
}

// settle waits until the adapter has sent its replies, the engine has
// finished its background work and the chat has sent every edit.
func (f *flow) settle() {
	f.t.Helper()
	if !f.socket {
		// In HTTP mode Close has no Socket Mode to stop: it waits for the
		// replies sent after an ack, and the adapter goes on serving.
		f.adapter.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := f.engine.Wait(ctx); err != nil {
		f.t.Fatalf("the engine did not settle: %v", err)
	}
	if err := f.chat.Flush(ctx); err != nil {
		f.t.Fatalf("the chat did not send its edits: %v", err)
	}
}

// nextID returns a number no other request of the test has used.
func (f *flow) nextID() int64 { return f.seq.Add(1) }

// triggerID returns a new trigger_id, shaped like Slack's.
func (f *flow) triggerID() string {
	return fmt.Sprintf("%d.1000000001.%032x", 7000000000+f.nextID(), f.nextID())
}

// actionTS returns a new action_ts at the clock's time.
func (f *flow) actionTS() string {
	return fmt.Sprintf("%d.%06d", f.clock.Now().Unix(), f.nextID())
}

// flowResponse is what the adapter answered.
type flowResponse struct {
	status int
	header http.Header
	body   []byte
}

// signed POSTs body to path signed with flowSecret at the clock's time.
func (f *flow) signed(path, contentType string, body []byte, extra http.Header) flowResponse {
	f.t.Helper()
	ts, sig := signRequest(flowSecret, f.clock.Now(), body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", sig)
	for k, v := range extra {
		h[k] = v
	}
	return f.raw(path, contentType, body, h)
}

// raw POSTs body to path with exactly the headers given.
func (f *flow) raw(path, contentType string, body []byte, h http.Header) flowResponse {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	client := &http.Client{Timeout: 10 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return flowResponse{status: res.StatusCode, header: res.Header, body: b}
}

const formType = "application/x-www-form-urlencoded"

// slashForm encodes a slash command as Slack posts it: form fields, in
// Slack's order.
func (f *flow) slashForm(user, channel, command, text, trigger string) []byte {
	var b strings.Builder
	for i, kv := range f.slashFields(user, channel, command, text, trigger) {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[0]) + "=" + url.QueryEscape(kv[1]))
	}
	return []byte(b.String())
}

// slashFields are the fields of a slash command, in the order Slack sends
// them.
func (f *flow) slashFields(user, channel, command, text, trigger string) [][2]string {
	return [][2]string{
		{"token", "gIkuvaNzQIHg97ATvDxqgjtO"}, {"team_id", "T0TEST"}, {"team_domain", "shipmate-test"},
		{"channel_id", channel}, {"channel_name", strings.ToLower(channel)},
		{"user_id", user}, {"user_name", strings.ToLower(user)},
		{"command", command}, {"text", text}, {"api_app_id", "A0SHIPMATE"}, {"is_enterprise_install", "false"},
		{"response_url", f.fake.ResponseURL()}, {"trigger_id", trigger},
	}
}

// slash sends a signed slash command and returns the ephemeral reply,
// checking that it is one: {"response_type":"ephemeral","text":...}.
func (f *flow) slash(user, channel, command, text string) string {
	f.t.Helper()
	res := f.signed("/slack/commands", formType, f.slashForm(user, channel, command, text, f.triggerID()), nil)
	return f.ephemeral(res)
}

// ephemeral checks that res is a slash command's ephemeral reply, exactly
// {"response_type":"ephemeral","text":...}, and returns its text.
func (f *flow) ephemeral(res flowResponse) string {
	f.t.Helper()
	if res.status != http.StatusOK {
		f.t.Fatalf("status %d, want 200; body %q", res.status, res.body)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.t.Fatalf("Content-Type %q, want application/json; body %q", ct, res.body)
	}
	var got map[string]any
	if err := json.Unmarshal(res.body, &got); err != nil {
		f.t.Fatalf("reply %q: %v", res.body, err)
	}
	text, _ := got["text"].(string)
	if len(got) != 2 || got["response_type"] != "ephemeral" || text == "" {
		f.t.Fatalf("reply %s, want exactly {\"response_type\":\"ephemeral\",\"text\":...}", res.body)
	}
	return text
}

var runRefRE = regexp.MustCompile(`Run #(\d+)`)

// request sends "/deploy text" as user and returns the run it created.
func (f *flow) request(user, channel, text string) uint64 {
	f.t.Helper()
	return f.runOf(f.slash(user, channel, "/deploy", text))
}

// runOf returns the run an ack names ("Run #12: ...").
func (f *flow) runOf(ack string) uint64 {
	f.t.Helper()
	m := runRefRE.FindStringSubmatch(ack)
	if m == nil {
		f.t.Fatalf("ack %q names no run", ack)
	}
	id, _ := strconv.ParseUint(m[1], 10, 64)
	return id
}

// flowAction is one element of a block_actions payload.
type flowAction struct {
	ActionID string
	BlockID  string
	Value    string
	Type     string   // "button" or "checkboxes"
	Selected []string // checkboxes: every option selected now
}

// button is a click on a run message's button.
func button(action runbook.ButtonAction, id uint64) flowAction {
	return flowAction{ActionID: string(action), BlockID: blockActionsPrefix + strconv.FormatUint(id, 10),
		Value: strconv.FormatUint(id, 10), Type: "button"}
}

// ticks is a click on a run's checklist leaving exactly keys selected.
func ticks(id uint64, keys ...string) flowAction {
	return flowAction{ActionID: actionChecklist, BlockID: blockChecklistPrefix + strconv.FormatUint(id, 10),
		Type: "checkboxes", Selected: keys}
}

// interactionBody encodes a block_actions interaction on run id's message
// as Slack posts it: the form field payload holding the JSON.
func (f *flow) interactionBody(user string, id uint64, trigger, responseURL string, acts ...flowAction) []byte {
	f.t.Helper()
	return []byte("payload=" + url.QueryEscape(string(f.interactionPayload(user, id, trigger, responseURL, acts...))))
}

// interactionPayload is the JSON of a block_actions interaction by user on
// run id's message, as Slack sends it, with the message as the user saw it.
func (f *flow) interactionPayload(user string, id uint64, trigger, responseURL string, acts ...flowAction) []byte {
	f.t.Helper()
	r := f.run(id)
	channel, ts := r.Origin.Channel, r.Origin.MessageRef
	labels := map[string]string{}
	for k, v := range f.cfg.Policy.Checklist {
		labels[k] = v
	}
	var actions []map[string]any
	for _, a := range acts {
		act := map[string]any{"action_id": a.ActionID, "block_id": a.BlockID, "type": a.Type, "action_ts": f.actionTS()}
		if a.Type == "checkboxes" {
			sel := []map[string]any{}
			for _, k := range a.Selected {
				sel = append(sel, map[string]any{"value": k, "text": map[string]any{"type": "plain_text", "text": labels[k], "emoji": true}})
			}
			act["selected_options"] = sel
		} else {
			act["value"] = a.Value
			act["text"] = map[string]any{"type": "plain_text", "text": a.ActionID, "emoji": true}
		}
		actions = append(actions, act)
	}
	msg := map[string]any{"type": "message", "subtype": "bot_message", "user": f.fake.BotUserID, "bot_id": f.fake.BotID,
		"ts": ts, "text": f.fake.LatestText(channel, ts)}
	if blocks := f.fake.LatestBlocks(channel, ts); blocks != "" {
		msg["blocks"] = json.RawMessage(blocks)
	}
	payload := map[string]any{
		"type":                  "block_actions",
		"user":                  map[string]any{"id": user, "username": strings.ToLower(user), "name": strings.ToLower(user), "team_id": "T0TEST"},
		"api_app_id":            "A0SHIPMATE",
		"token":                 "gIkuvaNzQIHg97ATvDxqgjtO",
		"container":             map[string]any{"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false},
		"trigger_id":            trigger,
		"team":                  map[string]any{"id": "T0TEST", "domain": "shipmate-test"},
		"enterprise":            nil,
		"is_enterprise_install": false,
		"channel":               map[string]any{"id": channel, "name": strings.ToLower(channel)},
		"message":               msg,
		"state":                 map[string]any{"values": map[string]any{}},
		"response_url":          responseURL,
		"actions":               actions,
	}
	js, err := json.Marshal(payload)
	if err != nil {
		f.t.Fatal(err)
	}
	return js
}

// click sends a signed block_actions interaction by user on run id's
// message and returns its response_url.
func (f *flow) click(user string, id uint64, acts ...flowAction) string {
	f.t.Helper()
	respURL := f.fake.ResponseURL()
	res := f.signed("/slack/interactions", formType, f.interactionBody(user, id, f.triggerID(), respURL, acts...), nil)
	if res.status != http.StatusOK || len(res.body) != 0 {
		f.t.Fatalf("interaction: status %d body %q, want 200 and an empty body", res.status, res.body)
	}
	return respURL
}

// responses returns what the adapter posted to the response URL u.
func (f *flow) responses(u string) []fakeResponse {
	path := strings.TrimPrefix(u, f.fake.URL)
	var out []fakeResponse
	for _, r := range f.fake.Responses() {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// refusal settles and returns the one ephemeral message posted to the
// response URL u.
func (f *flow) refusal(u string) string {
	f.t.Helper()
	f.settle()
	rs := f.responses(u)
	if len(rs) != 1 {
		f.t.Fatalf("%d messages to the response URL, want 1: %+v", len(rs), rs)
	}
	if rs[0].ResponseType != "ephemeral" || rs[0].ReplaceOriginal || rs[0].DeleteOriginal {
		f.t.Fatalf("response %s, want an ephemeral message that leaves the original alone", rs[0].Body)
	}
	return rs[0].Text
}

// accepted settles and checks that nothing was said to the response URL u.
func (f *flow) accepted(u string) {
	f.t.Helper()
	f.settle()
	if rs := f.responses(u); len(rs) != 0 {
		f.t.Fatalf("the click was refused: %s", rs[0].Text)
	}
}

// run reads run id from the store.
func (f *flow) run(id uint64) *runbook.Run {
	f.t.Helper()
	r, err := f.store.Run(context.Background(), id)
	if err != nil {
		f.t.Fatalf("run #%d: %v", id, err)
	}
	return r
}

// runs returns every run, newest first.
func (f *flow) runs() []*runbook.Run {
	f.t.Helper()
	rs, err := f.store.Recent(context.Background(), 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	return rs
}

// events returns run id's events of type typ.
func (f *flow) events(id uint64, typ string) []runbook.Event {
	f.t.Helper()
	evs, err := f.store.Events(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []runbook.Event
	for _, ev := range evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// wantState checks run id's stored state.
func (f *flow) wantState(id uint64, want runbook.State) *runbook.Run {
	f.t.Helper()
	r := f.run(id)
	if r.State != want {
		f.t.Fatalf("run #%d is %s (%s), want %s", id, r.State, r.Note, want)
	}
	return r
}

// flowView is what a run's Slack message shows, read from its blocks.
type flowView struct {
	Status  string            // the status line: ":emoji: *state*" and the note
	Options []string          // the checkboxes' option values
	Ticked  map[string]string // ticked option value → its description ("✓ by … at …")
	List    string            // the read-only checklist, when there are no checkboxes
	Buttons []string          // the buttons' action ids
	Values  []string          // the buttons' values
}

// view returns what the message ts in channel shows now.
func (f *flow) view(channel, ts string) flowView {
	f.t.Helper()
	raw := f.fake.LatestBlocks(channel, ts)
	type text struct {
		Text string `json:"text"`
	}
	type option struct {
		Value       string `json:"value"`
		Description *text  `json:"description"`
	}
	var blocks []struct {
		Type     string `json:"type"`
		BlockID  string `json:"block_id"`
		Text     *text  `json:"text"`
		Elements []struct {
			Type           string   `json:"type"`
			ActionID       string   `json:"action_id"`
			Value          string   `json:"value"`
			Options        []option `json:"options"`
			InitialOptions []option `json:"initial_options"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		f.t.Fatalf("blocks of %s/%s: %v: %q", channel, ts, err, raw)
	}
	v := flowView{Ticked: map[string]string{}}
	for _, b := range blocks {
		switch {
		case b.Type == "section" && b.Text != nil && v.Status == "":
			v.Status = b.Text.Text
		case b.Type == "section" && b.Text != nil && (strings.HasPrefix(b.Text.Text, "☐") || strings.HasPrefix(b.Text.Text, "☑")):
			v.List = b.Text.Text
		case b.Type == "actions" && strings.HasPrefix(b.BlockID, blockChecklistPrefix):
			for _, el := range b.Elements {
				for _, o := range el.Options {
					v.Options = append(v.Options, o.Value)
				}
				for _, o := range el.InitialOptions {
					d := ""
					if o.Description != nil {
						d = o.Description.Text
					}
					v.Ticked[o.Value] = d
				}
			}
		case b.Type == "actions" && strings.HasPrefix(b.BlockID, blockActionsPrefix):
			for _, el := range b.Elements {
				v.Buttons = append(v.Buttons, el.ActionID)
				v.Values = append(v.Values, el.Value)
			}
		}
	}
	return v
}

// viewOf returns what run id's message shows now.
func (f *flow) viewOf(id uint64) flowView {
	f.t.Helper()
	r := f.run(id)
	if r.Origin.MessageRef == "" {
		f.t.Fatalf("run #%d has no message", id)
	}
	return f.view(r.Origin.Channel, r.Origin.MessageRef)
}

// checklistOf returns the item keys of env's checklist.
func (f *flow) checklistOf(env string) []string {
	e, ok := f.cfg.Policy.Env(env)
	if !ok {
		f.t.Fatalf("no environment %s", env)
	}
	return slices.Clone(e.Checklist)
}

// deployStaging takes version through staging: U0DEV asks, U0LEAD ticks the
// checklist and approves. It returns the run, succeeded.
func (f *flow) deployStaging(version string) uint64 {
	f.t.Helper()
	id := f.request("U0DEV", flowRelease, "demo "+version+" staging")
	f.settle()
	f.accepted(f.click("U0LEAD", id, ticks(id, f.checklistOf("staging")...)))
	f.accepted(f.click("U0LEAD", id, button(runbook.ButtonApprove, id)))
	f.wantState(id, runbook.StateSucceeded)
	return id
}

// deployProduction takes version through staging and production: U0DEV
// asks, U0RM ticks and approves. It returns the production run, monitoring.
func (f *flow) deployProduction(version string) uint64 {
	f.t.Helper()
	f.deployStaging(version)
	id := f.request("U0DEV", flowRelease, "demo "+version+" production")
	f.settle()
	f.accepted(f.click("U0RM", id, ticks(id, f.checklistOf("production")...)))
	f.accepted(f.click("U0RM", id, button(runbook.ButtonApprove, id)))
	f.wantState(id, runbook.StateMonitoring)
	return id
}

// validationOf returns the item keys of env's post-deployment validation.
func (f *flow) validationOf(env string) []string {
	e, ok := f.cfg.Policy.Env(env)
	if !ok {
		f.t.Fatalf("no environment %s", env)
	}
	return slices.Clone(e.Validation)
}

// endMonitoring has U0RM confirm the post-deployment validation of every
// monitored run on its message, then moves the clock past production's
// monitoring window and lets the engine notice.
func (f *flow) endMonitoring() {
	f.t.Helper()
	for _, r := range f.runs() {
		if r.State == runbook.StateMonitoring && len(r.Validation) > 0 {
			f.accepted(f.click("U0RM", r.ID, ticks(r.ID, f.validationOf(r.Env)...)))
		}
	}
	f.clock.Add(31 * time.Minute)
	if err := f.engine.Tick(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.settle()
}

// snapshot is the state of the store that refusals must leave alone.
func (f *flow) snapshot() string {
	f.t.Helper()
	locks, err := f.store.Locks(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	type runEvents struct {
		Run    *runbook.Run
		Events []runbook.Event
	}
	var all []runEvents
	for _, r := range f.runs() {
		evs, err := f.store.Events(context.Background(), r.ID)
		if err != nil {
			f.t.Fatal(err)
		}
		all = append(all, runEvents{r, evs})
	}
	b, err := json.Marshal(map[string]any{"runs": all, "locks": locks})
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// chatCalls counts the calls that change what Slack shows.
func (f *flow) chatCalls() string {
	return fmt.Sprintf("chat.postMessage=%d chat.update=%d chat.postEphemeral=%d",
		f.fake.Calls("chat.postMessage"), f.fake.Calls("chat.update"), f.fake.Calls("chat.postEphemeral"))
}

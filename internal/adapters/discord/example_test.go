package discord

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"shipmate/internal/adapters/discord/discordtest"
	"shipmate/internal/clocktest"
	"shipmate/internal/logtest"
	"shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// The flows of configs/example.yaml as a Discord guild drives them: the
// configuration is loaded with the DISCORD_* variables pointing at the fake
// Discord (the adapter reaches it through chat.discord.api_url), and people
// are the example's Discord user ids and guild roles.

// Moments of the engine's clock: production's window is Mon-Thu
// 09:00-16:00 UTC.
var (
	exMonday   = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	exSaturday = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
)

// People and places of the example configuration.
const (
	exDana     = "100000000000000001" // deployer
	exLea      = "100000000000000002" // tech-lead
	exRita     = "100000000000000003" // release-manager
	exIvan     = "100000000000000005" // incident-response
	exRob      = "100000000000000006" // deployer and release manager by guild roles only
	exNora     = "100000000000000007" // no role
	exRoleRM   = "876543210987654321"
	exRoleDep  = "876543210987654320"
	exAnnounce = "444444444444444444"
	exIncident = "555555555555555555"
)

// LoadExample loads configs/example.yaml with getenv's variables and
// returns its Discord block and policy. It is set by loadexample_test.go,
// in package discord_test, because internal/config imports this package.
var LoadExample func(getenv func(string) (string, bool)) (Config, *runbook.Policy, error)

// exNames are the people's Discord usernames.
var exNames = map[string]string{exDana: "dana", exLea: "lea", exRita: "rita", exIvan: "ivan", exRob: "rob", exNora: "nora"}

// person is a guild member of the example, with their guild roles.
func person(id string, roles ...string) map[string]any {
	m := member(id, roles...)
	m["user"].(map[string]any)["username"] = exNames[id]
	return m
}

// exFlow is the bot on the example configuration.
type exFlow struct {
	*flow
	policy *runbook.Policy
	clock  *clocktest.Clock
	steps  *runbooktest.Exec // the demo app's steps: each prints two lines and succeeds
	logs   *logtest.Buffer
}

// newExample loads configs/example.yaml and starts the adapter on it;
// announce is DISCORD_ANNOUNCE_CHANNEL.
func newExample(t *testing.T, announce string) *exFlow {
	t.Helper()
	fake := discordtest.New(t)
	vars := map[string]string{
		"DISCORD_BOT_TOKEN":        "test-token",
		"DISCORD_APPLICATION_ID":   testApp,
		"DISCORD_PUBLIC_KEY":       hex.EncodeToString(testKey().Public().(ed25519.PublicKey)),
		"DISCORD_GUILD_ID":         testGuild,
		"DISCORD_API_URL":          fake.URL,
		"DISCORD_ANNOUNCE_CHANNEL": announce,
	}
	if LoadExample == nil {
		t.Fatal("LoadExample is not set")
	}
	dc, pol, err := LoadExample(func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	if !dc.Enabled() || dc.APIURL != fake.URL || dc.AnnounceChannel != announce {
		t.Fatalf("the example configuration did not take the Discord settings: %+v", dc)
	}
	x := &exFlow{flow: &flow{t: t, discord: fake, exec: runbooktest.NewExec()}, policy: pol,
		clock: clocktest.New(exMonday), steps: runbooktest.NewExec(), logs: &logtest.Buffer{}}
	log := zerolog.New(x.logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", x.logs)
		}
	})
	x.start(setup{config: dc, policy: pol, clock: x.clock, log: log,
		execs: map[string]runbook.Executor{"demo": x.steps.Executor()}})
	return x
}

// settle waits until the adapter has sent its follow-ups, the engine's
// background work is done and the chat has sent every edit.
func (x *exFlow) settle() {
	x.t.Helper()
	// Follow-ups are counted before the interaction's answer is sent.
	x.adapter.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := x.engine.Wait(ctx); err != nil {
		x.t.Fatalf("the engine did not settle: %v", err)
	}
	if err := x.adapter.chat.Flush(ctx); err != nil {
		x.t.Fatalf("the chat did not send its edits: %v", err)
	}
}

// command sends /deploy run (or another interaction body) and returns
// what only its user was told.
func (x *exFlow) command(body []byte) string {
	x.t.Helper()
	return answer(x.t, x.postOK(body), x.lastOut, 4)
}

// request asks for a deployment and returns its run.
func (x *exFlow) request(who map[string]any, version, env string) *runbook.Run {
	x.t.Helper()
	got := x.command(x.deployRun(who, "demo", version, env))
	x.settle()
	var id uint64
	if _, err := fmt.Sscanf(got[strings.Index(got, "#")+1:], "%d", &id); err != nil || !strings.Contains(got, "#") {
		x.t.Fatalf("request answered %q, want a run number", got)
	}
	return x.run(id)
}

// press clicks a control of run r's message; refusals come back as
// ephemeral follow-ups, which press returns.
func (x *exFlow) press(who map[string]any, r *runbook.Run, customID string, values ...string) string {
	x.t.Helper()
	before := len(x.discord.Calls("POST", "/webhooks/"+testApp+"/"))
	msg := x.run(r.ID).Origin.MessageRef
	var body []byte
	if strings.HasPrefix(customID, customChecklist+":") {
		body = x.selectItems(who, customID, msg, values...)
	} else {
		body = x.interactionIn(r.Origin.Channel, 3, who, map[string]any{"custom_id": customID, "component_type": 2},
			x.shownIn(r.Origin.Channel, msg))
	}
	answer(x.t, x.postOK(body), x.lastOut, 6)
	x.settle()
	ups := x.discord.Calls("POST", "/webhooks/"+testApp+"/")
	if len(ups) == before {
		return ""
	}
	var params struct {
		Content string `json:"content"`
		Flags   int    `json:"flags"`
	}
	_ = json.Unmarshal(ups[len(ups)-1].Body, &params)
	if params.Flags != 64 {
		x.t.Fatalf("refusal not ephemeral: %s", ups[len(ups)-1].Body)
	}
	return params.Content
}

// shownIn is message msg of channel as Discord has it.
func (x *exFlow) shownIn(channel, msg string) []byte {
	var m map[string]any
	if err := json.Unmarshal(x.discord.Message(msg), &m); err != nil {
		x.t.Fatalf("message %s: %v", msg, err)
	}
	m["id"], m["channel_id"] = msg, channel
	b, _ := json.Marshal(m)
	return b
}

// wantState checks run id's state.
func (x *exFlow) wantState(id uint64, want runbook.State) *runbook.Run {
	x.t.Helper()
	r := x.run(id)
	if r.State != want {
		x.t.Fatalf("run #%d is %s (%s), want %s", id, r.State, r.Note, want)
	}
	return r
}

// checklist returns the keys of env's checklist in the example.
func (x *exFlow) checklist(env string) []string {
	e, ok := x.policy.Env(env)
	if !ok {
		x.t.Fatalf("no environment %s", env)
	}
	return e.Checklist
}

// deployStaging takes version to staging: Dana asks, Lea ticks and
// approves.
func (x *exFlow) deployStaging(version string) *runbook.Run {
	x.t.Helper()
	r := x.request(person(exDana), version, "staging")
	x.press(person(exLea), r, fmt.Sprintf("checklist:%d", r.ID), x.checklist("staging")...)
	if got := x.press(person(exLea), r, fmt.Sprintf("approve:%d", r.ID)); got != "" {
		x.t.Fatalf("staging approval refused: %s", got)
	}
	return x.wantState(r.ID, runbook.StateSucceeded)
}

// deployProduction takes version through staging to production, where
// Rob (a release manager by guild role) approves; the run is monitoring.
func (x *exFlow) deployProduction(version string) *runbook.Run {
	x.t.Helper()
	x.deployStaging(version)
	r := x.request(person(exDana), version, "prod")
	x.press(person(exRita), r, fmt.Sprintf("checklist:%d", r.ID), x.checklist("production")...)
	if got := x.press(person(exRob, exRoleRM), r, fmt.Sprintf("approve:%d", r.ID)); got != "" {
		x.t.Fatalf("production approval refused: %s", got)
	}
	return x.wantState(r.ID, runbook.StateMonitoring)
}

// endMonitoring has Rita confirm the post-deployment validation of every
// monitored run on its message, then moves the clock past production's
// monitoring window and lets the engine notice.
func (x *exFlow) endMonitoring() {
	x.t.Helper()
	runs, err := x.store.Recent(context.Background(), 100)
	if err != nil {
		x.t.Fatal(err)
	}
	for _, r := range runs {
		if r.State == runbook.StateMonitoring && len(r.Validation) > 0 {
			env, _ := x.policy.Env(r.Env)
			if got := x.press(person(exRita), r, fmt.Sprintf("checklist:%d", r.ID), env.Validation...); got != "" {
				x.t.Fatalf("validation of run #%d refused: %s", r.ID, got)
			}
		}
	}
	x.clock.Add(31 * time.Minute)
	if err := x.engine.Tick(context.Background()); err != nil {
		x.t.Fatal(err)
	}
	x.settle()
}

// summary returns the title and description of the announce channel's
// message id as it reads now.
func (x *exFlow) summary(id string) (string, string) {
	var m struct {
		Embeds []struct{ Title, Description string }
	}
	_ = json.Unmarshal(x.discord.Message(id), &m)
	if len(m.Embeds) != 1 {
		x.t.Fatalf("summary %s: %s", id, x.discord.Message(id))
	}
	return m.Embeds[0].Title, m.Embeds[0].Description
}

// TestExampleStaging walks a staging deployment of the example
// configuration: who may ask, the checklist, who may approve, the deploy
// and its output.
func TestExampleStaging(t *testing.T) {
	x := newExample(t, exAnnounce)

	if got := x.command(x.deployRun(person(exNora), "demo", "v1.2.0", "staging")); !strings.Contains(got, "deployer") {
		t.Errorf("request by someone without a role answered %q", got)
	}
	x.settle()
	if n := len(x.discord.Calls("POST", "/channels/")); n != 0 {
		t.Fatalf("a refused request posted %d messages", n)
	}

	r := x.request(person(exDana), "v1.2.0", "stg")
	if r.Env != "staging" || r.Requester.ID != exDana || r.Origin.Channel != testChannel || r.Origin.MessageRef == "" {
		t.Fatalf("run %+v, want staging by %s with its message in %s", r, exDana, testChannel)
	}
	if title, _ := x.embed(r.Origin.MessageRef)["title"].(string); title != fmt.Sprintf("#%d demo v1.2.0 → staging", r.ID) {
		t.Errorf("embed title %q", title)
	}
	opts, buttons := x.components(r.Origin.MessageRef)
	wantOpts := map[string]bool{}
	for _, k := range x.checklist("staging") {
		wantOpts[k] = false
	}
	if diff := cmp.Diff(wantOpts, opts); diff != "" {
		t.Errorf("checklist options (-want +got):\n%s", diff)
	}
	id := fmt.Sprint(r.ID)
	// Approve carries what the message showed: the version and artifact
	// it approves.
	approve := "approve:" + id + ":" + x.engine.Message(r).Buttons[0].Value
	if diff := cmp.Diff([]string{approve, "ask:reject:" + id, "cancel:" + id}, buttons); diff != "" {
		t.Errorf("buttons (-want +got):\n%s", diff)
	}

	got := x.press(person(exLea), r, "approve:"+id)
	if !strings.Contains(got, "checklist") {
		t.Errorf("approval before the checklist answered %q", got)
	}
	// Dana ticks two items, Lea the rest.
	items := x.checklist("staging")
	x.press(person(exDana), r, "checklist:"+id, items[:2]...)
	x.press(person(exLea), r, "checklist:"+id, items...)
	r = x.wantState(r.ID, runbook.StateAwaitingApproval)
	for i, it := range r.Checklist {
		want := map[bool]string{true: exDana, false: exLea}[i < 2]
		if !it.Done || it.By == nil || it.By.ID != want {
			t.Errorf("item %s: done %v by %+v, want ticked by %s", it.Key, it.Done, it.By, want)
		}
	}

	if got := x.press(person(exDana), r, "approve:"+id); !strings.Contains(got, "tech-lead") {
		t.Errorf("approval by a deployer answered %q", got)
	}
	if got := x.press(person(exLea), r, "approve:"+id); got != "" {
		t.Fatalf("approval by the tech lead refused: %s", got)
	}
	r = x.wantState(r.ID, runbook.StateSucceeded)
	if len(r.Approvals) != 1 || r.Approvals[0].By.ID != exLea {
		t.Errorf("approvals %+v, want one by %s", r.Approvals, exLea)
	}
	if n := x.steps.Steps("deploy", "staging", "v1.2.0"); n != 1 {
		t.Errorf("deploys to staging: %d, want 1", n)
	}
	if d, _ := x.embed(r.Origin.MessageRef)["description"].(string); !strings.Contains(d, "succeeded") {
		t.Errorf("final description %q", d)
	}
	var thread strings.Builder
	for _, c := range x.discord.Calls("POST", "/channels/"+r.Origin.MessageRef+"/messages") {
		thread.Write(c.Body)
	}
	if !strings.Contains(thread.String(), "deploying demo v1.2.0 in staging") || !strings.Contains(thread.String(), "demo v1.2.0 runs in staging") {
		t.Errorf("thread: %s", thread.String())
	}
	if n := len(x.discord.Calls("POST", "/channels/"+exAnnounce+"/")); n != 0 {
		t.Errorf("staging runs are not announced, but the announce channel got %d messages", n)
	}
}

// TestExampleProduction walks production's rules: staging first, the
// window, the eight-item checklist, no self-approval, a release manager by
// guild role, monitoring, and the summary in the announce channel.
func TestExampleProduction(t *testing.T) {
	x := newExample(t, exAnnounce)

	got := x.command(x.deployRun(person(exRita), "demo", "v2.0.0", "production"))
	if !strings.Contains(got, "demo v2.0.0 has not succeeded in staging yet") {
		t.Errorf("production before staging answered %q", got)
	}
	x.deployStaging("v2.0.0")

	x.clock.Set(exSaturday)
	if got := x.command(x.deployRun(person(exRita), "demo", "v2.0.0", "production")); !strings.Contains(got, "production is closed for deployments now") {
		t.Errorf("production on a Saturday answered %q", got)
	}
	x.clock.Set(exMonday)
	x.settle()
	if n := len(x.discord.Calls("POST", "/channels/"+exAnnounce+"/")); n != 0 {
		t.Fatalf("refused requests were announced: %d", n)
	}

	r := x.request(person(exRita), "v2.0.0", "prod")
	id := fmt.Sprint(r.ID)
	ann := x.discord.Exact("POST", "/channels/"+exAnnounce+"/messages")
	if len(ann) != 1 {
		t.Fatalf("announce channel got %d messages, want 1", len(ann))
	}
	summary := x.discord.MessageWith(`"title":"⏳ #` + id + ` demo`)
	if summary == "" {
		t.Fatalf("no summary message posted as %s", ann[0].Body)
	}
	if title, desc := x.summary(summary); title != "⏳ #"+id+" demo v2.0.0 → production" || desc != "**checklist** · requested by rita" {
		t.Errorf("summary %q / %q", title, desc)
	}

	opts, _ := x.components(r.Origin.MessageRef)
	if len(opts) != 8 {
		t.Fatalf("production checklist options %v, want the 8 items", opts)
	}
	x.press(person(exRita), r, "checklist:"+id, x.checklist("production")...)
	x.wantState(r.ID, runbook.StateAwaitingApproval)

	if got := x.press(person(exRita), r, "approve:"+id); !strings.Contains(got, "someone else with the release-manager role must approve it") {
		t.Errorf("self-approval answered %q", got)
	}
	if got := x.press(person(exLea), r, "approve:"+id); !strings.Contains(got, "only release-manager may approve production deployments") {
		t.Errorf("approval by the tech lead answered %q", got)
	}
	// Rob holds the release-manager guild role, and no user id in the
	// configuration.
	if got := x.press(person(exRob, exRoleDep, exRoleRM), r, "approve:"+id); got != "" {
		t.Fatalf("approval by guild role refused: %s", got)
	}
	r = x.wantState(r.ID, runbook.StateMonitoring)
	if len(r.Approvals) != 1 || r.Approvals[0].By.ID != exRob || r.Approvals[0].By.Platform != Platform {
		t.Errorf("approvals %+v, want one by %s on discord", r.Approvals, exRob)
	}
	// The first deployment to production: no earlier version to roll
	// back to, so no Roll back.
	if _, buttons := x.components(r.Origin.MessageRef); !slices.Equal(buttons, []string{"cancel:" + id}) {
		t.Errorf("buttons while monitoring %v, want End monitoring alone", buttons)
	}
	if _, desc := x.summary(summary); !strings.HasPrefix(desc, "**monitoring**") {
		t.Errorf("summary while monitoring: %q", desc)
	}
	// The message now offers the post-deployment validation to confirm.
	opts, _ = x.components(r.Origin.MessageRef)
	env, _ := x.policy.Env("production")
	if len(opts) != len(env.Validation) || len(env.Validation) == 0 {
		t.Fatalf("options while monitoring %v, want the validation items %v", opts, env.Validation)
	}
	for _, k := range env.Validation {
		if selected, ok := opts[k]; !ok || selected {
			t.Errorf("validation item %s: offered %v, selected %v", k, ok, selected)
		}
	}

	x.endMonitoring()
	x.wantState(r.ID, runbook.StateSucceeded)
	if title, desc := x.summary(summary); !strings.HasPrefix(title, "🚀") || !strings.HasPrefix(desc, "**succeeded**") {
		t.Errorf("final summary %q / %q", title, desc)
	}
	if n := len(x.discord.Exact("POST", "/channels/"+exAnnounce+"/messages")); n != 1 {
		t.Errorf("announce channel got %d messages, want its one summary edited", n)
	}
	if n := x.steps.Steps("deploy", "production", "v2.0.0"); n != 1 {
		t.Errorf("deploys to production: %d, want 1", n)
	}
}

// TestExampleIncidentRollback rolls production back from an incident
// channel; the deployment's thread is told, with a link.
func TestExampleIncidentRollback(t *testing.T) {
	x := newExample(t, "")
	x.deployProduction("v1")
	x.endMonitoring()
	v2 := x.deployProduction("v2")
	x.endMonitoring()

	rb := map[string]any{"name": "rollback", "type": 1, "options": []map[string]any{
		{"name": "app", "type": 3, "value": "demo"}, {"name": "env", "type": 3, "value": "production"},
		{"name": "reason", "type": 3, "value": "checkout errors"}}}
	got := x.command(x.interactionIn(exIncident, 2, person(exDana), rb, nil))
	if !strings.Contains(got, "incident-response") {
		t.Errorf("rollback by a deployer answered %q", got)
	}
	got = x.command(x.interactionIn(exIncident, 2, person(exIvan), rb, nil))
	if !strings.Contains(got, "the rollback procedure for demo in production (v2 → v1)") {
		t.Errorf("rollback answered %q", got)
	}
	x.settle()
	runs, err := x.store.Recent(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	// Production follows the rollback procedure: its rollback owner takes
	// the steps that are people's.
	ivan := runbook.User{Platform: "discord", ID: exIvan}
	for _, key := range []string{runbook.ProcAssess, runbook.ProcDrain, runbook.ProcRestore} {
		if _, err := x.engine.Act(context.Background(), ivan, runs[0].ID, runbook.ButtonTick, key); err != nil {
			t.Fatalf("tick %s: %v", key, err)
		}
		x.settle()
	}
	if runs, err = x.store.Recent(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
	r := runs[0]
	if r.Action != runbook.ActionRollback || r.State != runbook.StateRolledBack || r.RollbackOf != v2.ID ||
		r.Origin.Channel != exIncident || r.Reason != "checkout errors" {
		t.Fatalf("latest run %+v, want the rolled-back rollback of #%d asked for in %s", r, v2.ID, exIncident)
	}
	if n := x.steps.Steps("rollback", "production", "v1"); n != 1 {
		t.Errorf("rollbacks of production to v1: %d, want 1", n)
	}
	posts := x.discord.Exact("POST", "/channels/"+exIncident+"/messages")
	if n := len(posts); n != 2 {
		t.Fatalf("incident channel got %d messages, want the rollback's and the notice to the incident commander", n)
	}
	wantOnlyMention(t, posts[1].Body, exIvan)
	if !bytes.Contains(posts[1].Body, []byte("Incident commander: ivan is rolling demo")) {
		t.Errorf("notice %s", posts[1].Body)
	}
	// v2's thread (started on its message) has the note, linking the
	// rollback's message.
	link := fmt.Sprintf("https://discord.com/channels/%s/%s/%s", testGuild, exIncident, r.Origin.MessageRef)
	found := false
	for _, c := range x.discord.Calls("POST", "/channels/"+v2.Origin.MessageRef+"/messages") {
		found = found || bytes.Contains(c.Body, []byte("ivan asked for rollback")) && bytes.Contains(c.Body, []byte(link))
	}
	if !found {
		t.Errorf("v2's thread has no note of the rollback linking %s", link)
	}
}

// TestExampleStopAsksFirst stops a staging deployment from its message:
// Stop asks first, then the step is cancelled and staging rolled back to
// what ran before.
func TestExampleStopAsksFirst(t *testing.T) {
	x := newExample(t, "")
	x.deployStaging("v1")
	release := x.steps.Hold(runbooktest.StepDeploy, "staging", "v2")
	defer release()

	r := x.request(person(exDana), "v2", "staging")
	id := fmt.Sprint(r.ID)
	x.press(person(exLea), r, "checklist:"+id, x.checklist("staging")...)
	// Not press: the engine does not settle while the step is held.
	approve := x.interaction(3, person(exLea), map[string]any{"custom_id": "approve:" + id, "component_type": 2},
		x.shownIn(testChannel, r.Origin.MessageRef))
	answer(t, x.postOK(approve), x.lastOut, 6)
	select {
	case <-x.steps.Entered():
	case <-time.After(5 * time.Second):
		t.Fatal("the deploy did not start")
	}
	x.waitFor("the Stop button", func() bool {
		_, b := x.components(r.Origin.MessageRef)
		return slices.Equal(b, []string{"ask:cancel:" + id})
	})

	q := x.command(x.interaction(3, person(exDana), map[string]any{"custom_id": "ask:cancel:" + id, "component_type": 2},
		x.shownIn(testChannel, r.Origin.MessageRef)))
	if q != "Stop this deployment and roll back?" {
		t.Fatalf("question %q", q)
	}
	x.wantState(r.ID, runbook.StateDeploying)
	yes := x.interaction(3, person(exDana), map[string]any{"custom_id": "yes:cancel:" + id, "component_type": 2},
		ephemeralMessage(t, x.lastOut))
	answer(t, x.postOK(yes), x.lastOut, 7)
	x.settle()
	r = x.wantState(r.ID, runbook.StateRolledBack)
	if !strings.Contains(r.Note, "rolled back to v1") {
		t.Errorf("note %q", r.Note)
	}
	if n := x.steps.Steps("rollback", "staging", "v1"); n != 1 {
		t.Errorf("rollbacks to v1: %d, want 1", n)
	}
}

// TestExampleCommandsGolden checks what the example configuration
// registers: both apps and the three environments as choices.
func TestExampleCommandsGolden(t *testing.T) {
	x := newExample(t, "")
	puts := x.discord.Calls("PUT", "/applications/"+testApp+"/guilds/"+testGuild+"/commands")
	if len(puts) != 1 {
		t.Fatalf("registrations: %d", len(puts))
	}
	golden(t, "commands.example.golden.json", puts[0].Body)
}

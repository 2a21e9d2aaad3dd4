package discord

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// answer checks an interaction's answer: its type, and for a message
// whether it is ephemeral; it returns the message's content.
func answer(t *testing.T, status int, out map[string]any, typ float64) string {
	t.Helper()
	if status != 200 {
		t.Fatalf("status %d, want 200", status)
	}
	if out["type"] != typ {
		t.Fatalf("answer type %v, want %v (%v)", out["type"], typ, out)
	}
	data, _ := out["data"].(map[string]any)
	if typ == 4 && data["flags"] != float64(64) {
		t.Fatalf("answer is not ephemeral: %v", out)
	}
	content, _ := data["content"].(string)
	return content
}

// components returns the select's options (value → default) and the
// buttons' custom ids of message msg.
func (f *flow) components(msg string) (map[string]bool, []string) {
	var m struct {
		Components []struct {
			Components []struct {
				Type     int    `json:"type"`
				CustomID string `json:"custom_id"`
				Options  []struct {
					Value   string `json:"value"`
					Default bool   `json:"default"`
				} `json:"options"`
			} `json:"components"`
		} `json:"components"`
	}
	_ = json.Unmarshal(f.discord.Message(msg), &m)
	var opts map[string]bool
	var buttons []string
	for _, row := range m.Components {
		for _, c := range row.Components {
			switch c.Type {
			case 3:
				opts = map[string]bool{}
				for _, o := range c.Options {
					opts[o.Value] = o.Default
				}
			case 2:
				buttons = append(buttons, c.CustomID)
			}
		}
	}
	return opts, buttons
}

func TestPing(t *testing.T) {
	f := newFlow(t)
	status, out := f.post([]byte(`{"id":"P1","type":1,"application_id":"`+testApp+`","token":"t","version":1}`), time.Time{}, testKey())
	answer(t, status, out, 1)
}

func TestSignatureRefused(t *testing.T) {
	f := newFlow(t)
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	cases := map[string]struct {
		ts  time.Time
		key ed25519.PrivateKey
	}{
		"wrong key":     {time.Time{}, other},
		"missing":       {time.Time{}, nil},
		"stale":         {time.Now().Add(-6 * time.Minute), testKey()},
		"in the future": {time.Now().Add(6 * time.Minute), testKey()},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			status, _ := f.post(f.deployRun(member("U1"), "demo", "1.0.0", "development"), c.ts, c.key)
			if status != 401 {
				t.Fatalf("status %d, want 401", status)
			}
		})
	}
	// A body changed after signing.
	signed := f.deployRun(member("U1"), "demo", "1.0.1", "development")
	sent := bytes.Replace(signed, []byte("1.0.1"), []byte("6.6.6"), 1)
	if got := f.postSignedAs(sent, signed, time.Now(), testKey()); got != 401 {
		t.Fatalf("tampered body: status %d, want 401", got)
	}
	// Then a genuine one acts, and is the only thing that did.
	answer(t, f.postOK(f.deployRun(member("U1"), "demo", "1.0.0", "development")), f.lastOut, 4)
	f.waitFor("the genuine run", func() bool { return f.discord.Message("M1") != nil })
	if n := len(f.discord.Exact("POST", "/channels/"+testChannel+"/messages")); n != 1 {
		t.Fatalf("messages posted: %d", n)
	}
	runs, err := f.store.History(t.Context(), "demo", "", 10)
	if err != nil || len(runs) != 1 || runs[0].Version != "1.0.0" {
		t.Fatalf("runs: %v %v, want only the genuine one", runs, err)
	}
	if n := len(f.discord.Calls("POST", "/webhooks/")); n != 0 {
		t.Fatalf("follow-ups: %d", n)
	}
}

func TestStagingFlow(t *testing.T) {
	f := newFlow(t)
	status, out := f.post(f.deployRun(member("U1"), "demo", "1.2.0", "staging"), time.Time{}, testKey())
	if c := answer(t, status, out, 4); c == "" {
		t.Fatal("empty answer")
	}
	f.waitFor("the run's message", func() bool { return f.discord.Message("M1") != nil })
	post := f.discord.Exact("POST", "/channels/"+testChannel+"/messages")[0]
	if !bytes.Contains(post.Body, []byte(`"embeds"`)) {
		t.Fatalf("message without embed: %s", post.Body)
	}
	opts, buttons := f.components("M1")
	if diff := cmp.Diff(map[string]bool{"tests": false, "notes": false}, opts); diff != "" {
		t.Fatalf("checklist options (-want +got):\n%s", diff)
	}
	if len(buttons) == 0 {
		t.Fatal("no buttons")
	}

	// U2 ticks one item; the message then shows it selected.
	stale := f.shown("M1")
	status, out = f.post(f.selectItems(member("U2"), "checklist:1", "M1", "tests"), time.Time{}, testKey())
	answer(t, status, out, 6)
	if r := f.run(1); !r.Checklist[0].Done && !r.Checklist[1].Done {
		t.Fatalf("nothing ticked: %+v", r.Checklist)
	}
	f.waitFor("the edit", func() bool { o, _ := f.components("M1"); return o["tests"] && !o["notes"] })
	// U3 selects notes on the message as it was before that edit: the
	// click changed notes only, and must not untick tests.
	body := f.interaction(3, member("U3"), map[string]any{"custom_id": "checklist:1", "component_type": 3,
		"values": []string{"notes"}}, stale)
	status, out = f.post(body, time.Time{}, testKey())
	answer(t, status, out, 6)
	for _, it := range f.run(1).Checklist {
		if !it.Done {
			t.Fatalf("item %s not ticked", it.Key)
		}
		want := map[string]string{"tests": "U2", "notes": "U3"}[it.Key]
		if it.By == nil || it.By.ID != want {
			t.Fatalf("item %s ticked by %+v, want %s", it.Key, it.By, want)
		}
	}
	f.waitFor("the edit", func() bool { o, _ := f.components("M1"); return o == nil || (o["tests"] && o["notes"]) })

	// U1 requested: approval refused, told in an ephemeral follow-up.
	status, out = f.post(f.click(member("U1"), "approve:1", "M1"), time.Time{}, testKey())
	answer(t, status, out, 6)
	f.waitFor("the follow-up", func() bool { return len(f.discord.Calls("POST", "/webhooks/"+testApp+"/")) == 1 })
	fu := f.discord.Calls("POST", "/webhooks/"+testApp+"/")[0]
	var params struct {
		Content string `json:"content"`
		Flags   int    `json:"flags"`
	}
	_ = json.Unmarshal(fu.Body, &params)
	if params.Flags != 64 || params.Content == "" {
		t.Fatalf("follow-up: %s", fu.Body)
	}
	if f.exec.Deploys() != 0 {
		t.Fatal("deployed without approval")
	}

	// U2 approves: deployed once, the message ends as succeeded.
	status, out = f.post(f.click(member("U2"), "approve:1", "M1"), time.Time{}, testKey())
	answer(t, status, out, 6)
	f.waitFor("success", func() bool { return f.run(1).State == "succeeded" })
	f.waitFor("the final edit", func() bool {
		d, _ := f.embed("M1")["description"].(string)
		return strings.Contains(d, "succeeded")
	})
	if n := f.exec.Deploys(); n != 1 {
		t.Fatalf("deploys: %d", n)
	}
	// The first deployment there: nothing ran before to roll back to.
	if _, buttons := f.components("M1"); len(buttons) != 0 {
		t.Fatalf("buttons after the first success: %v, want none", buttons)
	}
	// The step output went into a thread on the message.
	// (The approvers were called there first.)
	thread := func() string {
		var all strings.Builder
		for _, c := range f.discord.Calls("POST", "/channels/M1/messages") {
			all.Write(c.Body)
		}
		return all.String()
	}
	f.waitFor("the step output in the thread", func() bool { return strings.Contains(thread(), "deploying demo 1.2.0") })
	if len(f.discord.Calls("POST", "/channels/"+testChannel+"/messages/M1/threads")) != 1 {
		t.Fatalf("threads started: %d, want 1; thread: %s", len(f.discord.Calls("POST", "/channels/"+testChannel+"/messages/M1/threads")), thread())
	}
}

// ephemeralMessage is the question Shipmate answered a click with, as
// Discord sends it back with a click on one of its buttons.
func ephemeralMessage(t *testing.T, out map[string]any) []byte {
	t.Helper()
	data, _ := out["data"].(map[string]any)
	msg := map[string]any{"id": "E1", "channel_id": testChannel, "flags": 64,
		"content": data["content"], "components": data["components"]}
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// questionButtons returns the custom ids of an answer's buttons.
func questionButtons(out map[string]any) []string {
	var ids []string
	data, _ := out["data"].(map[string]any)
	rows, _ := data["components"].([]any)
	for _, row := range rows {
		cs, _ := row.(map[string]any)["components"].([]any)
		for _, c := range cs {
			id, _ := c.(map[string]any)["custom_id"].(string)
			ids = append(ids, id)
		}
	}
	return ids
}

// Reject asks first, only its user sees the question; No leaves the run,
// Reject (the question's button) rejects it and says so in place of the
// question; the gone button is then refused.
func TestRejectAsksFirst(t *testing.T) {
	f := newFlow(t)
	answer(t, f.postOK(f.deployRun(member("U1"), "demo", "1.3.0", "staging")), f.lastOut, 4)
	f.waitFor("the message", func() bool { return f.discord.Message("M1") != nil })
	if _, buttons := f.components("M1"); !slices.Contains(buttons, "ask:reject:1") || !slices.ContainsFunc(buttons, func(b string) bool { return strings.HasPrefix(b, "approve:1:") }) {
		t.Fatalf("buttons %v, want approve:1:<artifact> and ask:reject:1", buttons)
	}
	ask := func() map[string]any {
		q := answer(t, f.postOK(f.click(member("U2"), "ask:reject:1", "M1")), f.lastOut, 4)
		if q != "Reject demo 1.3.0 → staging?" {
			t.Fatalf("question %q", q)
		}
		if diff := cmp.Diff([]string{"yes:reject:1", "no:1"}, questionButtons(f.lastOut)); diff != "" {
			t.Fatalf("question's buttons (-want +got):\n%s", diff)
		}
		return f.lastOut
	}
	q := ask()
	if st := f.run(1).State; st != "checklist" {
		t.Fatalf("asking changed the run to %s", st)
	}
	out := f.lastOut
	answer(t, f.postOK(f.interaction(3, member("U2"), map[string]any{"custom_id": "no:1", "component_type": 2}, ephemeralMessage(t, q))), f.lastOut, 7)
	if c := f.lastOut["data"].(map[string]any)["content"]; c != "Nothing done." || len(questionButtons(f.lastOut)) != 0 {
		t.Fatalf("No answered %v", f.lastOut)
	}
	if st := f.run(1).State; st != "checklist" {
		t.Fatalf("No changed the run to %s", st)
	}

	// Someone who may not reject is told so in place of the question.
	answer(t, f.postOK(f.interaction(3, member("U3"), map[string]any{"custom_id": "yes:reject:1", "component_type": 2}, ephemeralMessage(t, out))), f.lastOut, 7)
	if c, _ := f.lastOut["data"].(map[string]any)["content"].(string); !strings.Contains(c, "tech-lead") {
		t.Fatalf("refusal %q", c)
	}
	if st := f.run(1).State; st != "checklist" {
		t.Fatalf("a refused reject changed the run to %s", st)
	}

	q = ask()
	answer(t, f.postOK(f.interaction(3, member("U2"), map[string]any{"custom_id": "yes:reject:1", "component_type": 2}, ephemeralMessage(t, q))), f.lastOut, 7)
	if c := f.lastOut["data"].(map[string]any)["content"]; c != "Done: rejected run #1." || len(questionButtons(f.lastOut)) != 0 {
		t.Fatalf("Reject answered %v", f.lastOut)
	}
	if r := f.run(1); r.State != "rejected" {
		t.Fatalf("run is %s, want rejected", r.State)
	}
	f.waitFor("the edit", func() bool { _, b := f.components("M1"); return len(b) == 0 })
	c := answer(t, f.postOK(f.click(member("U2"), "ask:reject:1", "M1")), f.lastOut, 4)
	if c != "Run #1 no longer offers that: it is rejected." {
		t.Fatalf("stale ask answered %q", c)
	}
	if f.exec.Deploys() != 0 {
		t.Fatal("a rejected run deployed")
	}
}

func TestApprovalByGuildRole(t *testing.T) {
	f := newFlow(t)
	status, out := f.post(f.deployRun(member("U1"), "demo", "2.0.0", "production"), time.Time{}, testKey())
	answer(t, status, out, 4)
	f.waitFor("awaiting approval", func() bool { return f.run(1).State == "awaiting_approval" && f.discord.Message("M1") != nil })
	// A member without the role is refused.
	status, out = f.post(f.click(member("U7", "R-OTHER"), "approve:1", "M1"), time.Time{}, testKey())
	answer(t, status, out, 6)
	f.waitFor("the refusal", func() bool { return len(f.discord.Calls("POST", "/webhooks/")) == 1 })
	// One with the release-manager role (R-RM) approves.
	status, out = f.post(f.click(member("U9", "R-X", "R-RM"), "approve:1", "M1"), time.Time{}, testKey())
	answer(t, status, out, 6)
	f.waitFor("success", func() bool { return f.run(1).State == "succeeded" })
	r := f.run(1)
	if len(r.Approvals) != 1 || r.Approvals[0].By.ID != "U9" || r.Approvals[0].By.Platform != Platform {
		t.Fatalf("approvals: %+v", r.Approvals)
	}
	if len(f.discord.Calls("POST", "/webhooks/")) != 1 {
		t.Fatal("the approval was refused")
	}
}

func TestDuplicateInteractionActsOnce(t *testing.T) {
	f := newFlow(t)
	cmd := f.deployRun(member("U1"), "demo", "3.0.0", "production")
	answer(t, f.postOK(cmd), f.lastOut, 4)
	content := answer(t, f.postOK(cmd), f.lastOut, 4)
	if !strings.Contains(content, "already") {
		t.Fatalf("repeated command answered %q", content)
	}
	f.waitFor("the message", func() bool { return f.discord.Message("M1") != nil })
	approve := f.click(member("U9", "R-RM"), "approve:1", "M1")
	answer(t, f.postOK(approve), f.lastOut, 6)
	answer(t, f.postOK(approve), f.lastOut, 6)
	f.waitFor("success", func() bool { return f.run(1).State == "succeeded" })
	time.Sleep(100 * time.Millisecond)
	if n := len(f.discord.Exact("POST", "/channels/"+testChannel+"/messages")); n != 1 {
		t.Fatalf("messages posted: %d", n)
	}
	if n := len(f.discord.Calls("POST", "/webhooks/")); n != 0 {
		t.Fatalf("the repeat was acted on: %d follow-ups", n)
	}
	if n := f.exec.Deploys(); n != 1 {
		t.Fatalf("deploys: %d", n)
	}
}

func TestConcurrentApprovals(t *testing.T) {
	f := newFlow(t)
	answer(t, f.postOK(f.deployRun(member("U1"), "demo", "4.0.0", "production")), f.lastOut, 4)
	f.waitFor("the message", func() bool { return f.discord.Message("M1") != nil })
	bodies := make([][]byte, 10)
	for i := range bodies {
		bodies[i] = f.click(member("U9", "R-RM"), "approve:1", "M1")
	}
	var wg sync.WaitGroup
	for _, b := range bodies {
		wg.Go(func() {
			status, out := f.post(b, time.Time{}, testKey())
			if status != 200 || out["type"] != float64(6) {
				t.Errorf("answer %d %v", status, out)
			}
		})
	}
	wg.Wait()
	f.waitFor("success", func() bool { return f.run(1).State == "succeeded" })
	time.Sleep(100 * time.Millisecond)
	if n := f.exec.Deploys(); n != 1 {
		t.Fatalf("deploys: %d", n)
	}
	if r := f.run(1); len(r.Approvals) != 1 {
		t.Fatalf("approvals: %d", len(r.Approvals))
	}
}

func TestCommandsGolden(t *testing.T) {
	f := newFlow(t)
	puts := f.discord.Calls("PUT", "/applications/"+testApp+"/guilds/"+testGuild+"/commands")
	if len(puts) != 1 {
		t.Fatalf("registrations: %d", len(puts))
	}
	golden(t, "commands.golden.json", puts[0].Body)
}

// golden compares JSON body, indented, with testdata/name (rewritten with
// -update).
func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	got, _ := json.MarshalIndent(v, "", "  ")
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Fatalf("registration payload (-want +got):\n%s", diff)
	}
}

// Over the gateway the same handler answers through the callback endpoint.
func TestGatewayInteraction(t *testing.T) {
	f := newFlow(t)
	var ic discordgo.Interaction
	if err := json.Unmarshal(f.deployRun(member("U1"), "demo", "5.0.0", "development"), &ic); err != nil {
		t.Fatal(err)
	}
	f.adapter.gatewayInteraction(&ic)
	calls := f.discord.Calls("POST", "/interactions/"+ic.ID+"/"+ic.Token+"/callback")
	if len(calls) != 1 {
		t.Fatalf("callbacks: %d", len(calls))
	}
	var resp struct {
		Type int `json:"type"`
		Data struct {
			Flags int `json:"flags"`
		} `json:"data"`
	}
	_ = json.Unmarshal(calls[0].Body, &resp)
	if resp.Type != 4 || resp.Data.Flags != 64 {
		t.Fatalf("callback: %s", calls[0].Body)
	}
	f.waitFor("the deploy", func() bool { return f.run(1).State == "succeeded" })
}

func TestOversizedBody(t *testing.T) {
	f := newFlow(t)
	body := append([]byte(`{"type":1,"pad":"`), bytes.Repeat([]byte("x"), maxBody)...)
	body = append(body, `"}`...)
	if status, _ := f.post(body, time.Time{}, testKey()); status != 413 {
		t.Fatalf("status %d, want 413", status)
	}
}

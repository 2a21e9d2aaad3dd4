package test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"shipmate/internal/adapters/discord/discordtest"
)

// The built bot on Discord: a configuration with a chat.discord block whose
// api_url points at a fake of Discord's REST API, and interactions signed
// with Ed25519 as Discord signs them, posted to the bot's own listener.

const (
	dcApp     = "111111111111111111"
	dcGuild   = "222222222222222222"
	dcChannel = "333333333333333333"
	dcDev     = "100000000000000001" // deployer in the fixture
	dcRM      = "100000000000000009" // release manager by guild role only
	dcRoleRM  = "876543210987654321"
)

// dcKey signs the interactions; its public half is in the configuration.
var dcKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))

// lastBody is the body of the latest call to exactly method and path.
func lastBody(api *discordtest.Server, method, path string) []byte {
	calls := api.Exact(method, path)
	if len(calls) == 0 {
		return nil
	}
	return calls[len(calls)-1].Body
}

// discordBlock is the fixture's chat.discord block for api.
func discordBlock(api *discordtest.Server) string {
	return fmt.Sprintf(`  discord:
    bot_token: test-token
    application_id: %q
    public_key: %s
    guild_id: %q
    api_url: %s
`, dcApp, hex.EncodeToString(dcKey.Public().(ed25519.PublicKey)), dcGuild, api.URL)
}

// interact posts an interaction to bot b signed with key at ts and
// returns the status and the decoded answer.
func interact(t testing.TB, b *bot, ic map[string]any, key ed25519.PrivateKey, ts time.Time) (int, map[string]any) {
	t.Helper()
	body, err := json.Marshal(ic)
	if err != nil {
		t.Fatal(err)
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, "http://"+b.addr+"/discord/interactions", bytes.NewReader(body))
	req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(key, append([]byte(stamp), body...))))
	req.Header.Set("X-Signature-Timestamp", stamp)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

var dcSeq int

// dcInteraction is an interaction of type typ by guild member who.
func dcInteraction(typ int, who string, roles []string, data map[string]any, message string) map[string]any {
	dcSeq++
	id := fmt.Sprintf("I%d", dcSeq)
	if roles == nil {
		roles = []string{}
	}
	ic := map[string]any{"id": id, "application_id": dcApp, "type": typ, "token": "tok-" + id, "version": 1,
		"channel_id": dcChannel, "guild_id": dcGuild, "data": data,
		"member": map[string]any{"user": map[string]any{"id": who, "username": "u" + who[len(who)-1:]}, "roles": roles}}
	if message != "" {
		ic["message"] = json.RawMessage(message)
	}
	return ic
}

// deployRun is /deploy run app version env.
func deployRun(who, version, env string) map[string]any {
	opts := []map[string]any{{"name": "app", "type": 3, "value": "demo"},
		{"name": "version", "type": 3, "value": version}, {"name": "env", "type": 3, "value": env}}
	return dcInteraction(2, who, nil, map[string]any{"id": "C1", "name": "deploy", "type": 1,
		"options": []map[string]any{{"name": "run", "type": 1, "options": opts}}}, "")
}

// command posts a slash command and returns its answer, which must be an
// ephemeral message.
func command(t testing.TB, b *bot, ic map[string]any) string {
	t.Helper()
	status, out := interact(t, b, ic, dcKey, time.Now())
	data, _ := out["data"].(map[string]any)
	if status != http.StatusOK || out["type"] != float64(4) || data["flags"] != float64(64) {
		t.Fatalf("answer %d %v, want an ephemeral message", status, out)
	}
	s, _ := data["content"].(string)
	return s
}

// startOnDiscord starts the fixture's bot with a chat.discord block for a
// fake Discord, and waits until it is ready.
func startOnDiscord(t *testing.T) (*discordtest.Server, *fixture, *bot) {
	t.Helper()
	api := discordtest.New(t)
	f := newFixture(t)
	f.chat = discordBlock(api)
	f.writeConfig()
	b := f.start()
	eventually(t, stateTimeout, "/readyz with Discord started", func() (bool, string) {
		code, body, err := b.get("/readyz")
		return err == nil && code == http.StatusOK, fmt.Sprint(code, body, err)
	})
	return api, f, b
}

// TestBuiltBotOnDiscord runs the bot binary with a Discord block: it
// registers its commands, answers PING and refuses bad signatures, runs a
// development deploy from /deploy with its output in a thread, and, across
// a kill -9, takes a production approval from a member with the release
// manager's guild role.
func TestBuiltBotOnDiscord(t *testing.T) {
	api, f, b := startOnDiscord(t)
	reg := lastBody(api, "PUT", "/applications/"+dcApp+"/guilds/"+dcGuild+"/commands")
	var cmds []struct {
		Name    string
		Options []struct{ Name string }
	}
	if err := json.Unmarshal(reg, &cmds); err != nil || len(cmds) != 2 || cmds[0].Name != "deploy" || cmds[1].Name != "rollback" {
		t.Fatalf("registered %s (%v), want /deploy and /rollback", reg, err)
	}
	if !bytes.Contains(reg, []byte(`"production (prod)"`)) {
		t.Errorf("the env option's choices do not come from the configuration: %s", reg)
	}

	ping := map[string]any{"id": "P1", "application_id": dcApp, "type": 1, "token": "t", "version": 1}
	if status, out := interact(t, b, ping, dcKey, time.Now()); status != http.StatusOK || out["type"] != float64(1) {
		t.Fatalf("PING answered %d %v", status, out)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	if status, _ := interact(t, b, ping, other, time.Now()); status != http.StatusUnauthorized {
		t.Fatalf("a request signed with another key answered %d, want 401", status)
	}
	if status, _ := interact(t, b, ping, dcKey, time.Now().Add(-time.Hour)); status != http.StatusUnauthorized {
		t.Fatalf("a request signed an hour ago answered %d, want 401", status)
	}

	got := command(t, b, deployRun(dcDev, "v1.0", "dev"))
	if !strings.Contains(got, "#1") {
		t.Fatalf("/deploy answered %q", got)
	}
	var m1 string
	eventually(t, stateTimeout, "run #1's message to say it succeeded", func() (bool, string) {
		m1 = api.MessageWith(`"title":"#1 demo v1.0 → development"`)
		m := string(api.Message(m1))
		return m1 != "" && strings.Contains(m, "succeeded"), m
	})
	if n := f.count("starts.log", "started 1 v1.0"); n != 1 {
		t.Errorf("deploy script ran %d times for run #1, want 1", n)
	}
	eventually(t, stateTimeout, "the output in the message's thread", func() (bool, string) {
		body := string(lastBody(api, "POST", "/channels/"+m1+"/messages"))
		return strings.Contains(body, "deployed v1.0"), body
	})

	// Production waits for a release manager; the bot is killed meanwhile.
	got = command(t, b, deployRun(dcDev, "v1.0", "production"))
	if !strings.Contains(got, "#2") {
		t.Fatalf("/deploy to production answered %q", got)
	}
	var m2, approveID string
	approveRE := regexp.MustCompile(`"custom_id":"(approve:2:[0-9a-f]+)"`)
	eventually(t, stateTimeout, "run #2's message with its Approve button", func() (bool, string) {
		m2 = api.MessageWith(`"title":"#2 demo v1.0 → production"`)
		m := string(api.Message(m2))
		if found := approveRE.FindStringSubmatch(m); found != nil {
			approveID = found[1]
		}
		return m2 != "" && approveID != "", m
	})
	shown := string(api.Message(m2))
	b.kill()
	f.starts++
	b = startBot(t, fmt.Sprintf("bot#%d", f.starts), f.dir, f.config)
	eventually(t, stateTimeout, "/readyz after the restart", func() (bool, string) {
		code, body, err := b.get("/readyz")
		return err == nil && code == http.StatusOK, fmt.Sprint(code, body, err)
	})

	var msg map[string]any
	_ = json.Unmarshal([]byte(shown), &msg)
	msg["id"], msg["channel_id"] = m2, dcChannel
	shownJSON, _ := json.Marshal(msg)
	approve := func(who string, roles ...string) map[string]any {
		return dcInteraction(3, who, roles, map[string]any{"custom_id": approveID, "component_type": 2}, string(shownJSON))
	}
	before := len(api.Calls("POST", "/webhooks/"))
	status, out := interact(t, b, approve(dcDev), dcKey, time.Now())
	if status != http.StatusOK || out["type"] != float64(6) {
		t.Fatalf("click answered %d %v, want a deferred update", status, out)
	}
	eventually(t, stateTimeout, "the refusal of the requester's approval", func() (bool, string) {
		return len(api.Calls("POST", "/webhooks/")) == before+1, fmt.Sprint(len(api.Calls("POST", "/webhooks/")))
	})
	status, out = interact(t, b, approve(dcRM, dcRoleRM), dcKey, time.Now())
	if status != http.StatusOK || out["type"] != float64(6) {
		t.Fatalf("click answered %d %v, want a deferred update", status, out)
	}
	eventually(t, stateTimeout, "run #2's message to say it succeeded", func() (bool, string) {
		m := string(api.Message(m2))
		// The approver is named by their id: no people: entry names them.
		return strings.Contains(m, "succeeded") && strings.Contains(m, "): "+dcRM), m
	})
	if n := f.count("starts.log", "started 2 v1.0"); n != 1 {
		t.Errorf("deploy script ran %d times for run #2, want 1", n)
	}
	if n := len(api.Calls("POST", "/webhooks/")); n != before+1 {
		t.Errorf("%d follow-ups, want only the one refusal", n-before)
	}
}

// Discord down when the bot starts: the console serves at once, /readyz
// says Discord is not started, and the bot keeps trying until Discord
// takes its commands.
func TestBuiltBotWaitsOutDiscordDownAtStart(t *testing.T) {
	api := discordtest.New(t)
	api.FailRegistrations(5) // more than one Start's own retries
	f := newFixture(t)
	f.chat = discordBlock(api)
	f.writeConfig()
	b := f.start()

	code, body, err := b.get("/readyz")
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "discord: not started") {
		t.Fatalf("/readyz while Discord is down: %d %q %v", code, body, err)
	}
	if code, _, err := b.get("/api/timeline"); err != nil || code != http.StatusOK {
		t.Fatalf("the console while Discord is down: %d %v", code, err)
	}
	eventually(t, 20*time.Second, "/readyz once Discord is back", func() (bool, string) {
		code, body, err := b.get("/readyz")
		return err == nil && code == http.StatusOK, fmt.Sprint(code, body, err)
	})
	if n := len(api.Calls("PUT", "/applications/")); n != 6 {
		t.Errorf("%d registrations, want 6 (5 refused, then one taken)", n)
	}
	if !strings.Contains(b.log.String(), "retrying") {
		t.Errorf("the log does not say the bot is retrying:\n%s", b.log.String())
	}
	if strings.Contains(b.log.String(), "test-token") {
		t.Errorf("the bot token is in the log")
	}
}

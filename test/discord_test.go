package test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
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

// discordAPI is the part of Discord's REST API the bot calls: command
// registration, channel messages and their edits, threads, follow-ups.
// Messages get ids M1, M2, ...; a thread started on a message takes its id.
type discordAPI struct {
	srv *httptest.Server

	mu       sync.Mutex
	calls    []string          // "METHOD /path", in order
	bodies   map[string][]byte // "METHOD /path" → the latest body
	next     int
	messages map[string][]byte // message id → its latest content
	posted   map[string][]byte // message id → its first content
	failPuts int               // answer this many registrations with 503
}

var apiPrefix = regexp.MustCompile(`^/api/v[0-9]+`)

func newDiscordAPI(t *testing.T) *discordAPI {
	d := &discordAPI{bodies: map[string][]byte{}, messages: map[string][]byte{}, posted: map[string][]byte{}}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *discordAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := apiPrefix.ReplaceAllString(r.URL.Path, "")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	d.mu.Lock()
	defer d.mu.Unlock()
	key := r.Method + " " + path
	d.calls = append(d.calls, key)
	d.bodies[key] = body
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPut && parts[0] == "applications" && d.failPuts > 0:
		d.failPuts--
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"message":"upstream connect error","code":0}`)
	case r.Method == http.MethodPut && parts[0] == "applications":
		_, _ = w.Write(body)
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "channels" && parts[2] == "messages":
		d.next++
		id := "M" + strconv.Itoa(d.next)
		d.messages[id], d.posted[id] = body, body
		fmt.Fprintf(w, `{"id":%q,"channel_id":%q}`, id, parts[1])
	case r.Method == http.MethodPatch && len(parts) == 4 && parts[2] == "messages":
		d.messages[parts[3]] = body
		fmt.Fprintf(w, `{"id":%q,"channel_id":%q}`, parts[3], parts[1])
	case r.Method == http.MethodPost && len(parts) == 5 && parts[4] == "threads":
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%q,"type":11,"parent_id":%q}`, parts[3], parts[1])
	case r.Method == http.MethodPost && parts[0] == "webhooks":
		_, _ = io.WriteString(w, `{"id":"W1"}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"message":"Unknown","code":0}`)
	}
}

// count returns how many calls started with prefix ("POST /webhooks/").
func (d *discordAPI) count(prefix string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// body returns the latest body sent as "METHOD /path".
func (d *discordAPI) body(key string) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bodies[key]
}

// message returns the latest content of message id.
func (d *discordAPI) message(id string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return string(d.messages[id])
}

// messageWith returns the id of the first message posted whose first
// content held text, or "".
func (d *discordAPI) messageWith(text string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := 1; i <= d.next; i++ {
		id := "M" + strconv.Itoa(i)
		if strings.Contains(string(d.posted[id]), text) {
			return id
		}
	}
	return ""
}

// discordBlock is the fixture's chat.discord block for api.
func discordBlock(api *discordAPI) string {
	return fmt.Sprintf(`  discord:
    bot_token: test-token
    application_id: %q
    public_key: %s
    guild_id: %q
    api_url: %s
`, dcApp, hex.EncodeToString(dcKey.Public().(ed25519.PublicKey)), dcGuild, api.srv.URL)
}

// interact posts an interaction to bot b signed with key at ts and
// returns the status and the decoded answer.
func interact(t *testing.T, b *bot, ic map[string]any, key ed25519.PrivateKey, ts time.Time) (int, map[string]any) {
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
func command(t *testing.T, b *bot, ic map[string]any) string {
	t.Helper()
	status, out := interact(t, b, ic, dcKey, time.Now())
	data, _ := out["data"].(map[string]any)
	if status != http.StatusOK || out["type"] != float64(4) || data["flags"] != float64(64) {
		t.Fatalf("answer %d %v, want an ephemeral message", status, out)
	}
	s, _ := data["content"].(string)
	return s
}

// TestBuiltBotOnDiscord runs the bot binary with a Discord block: it
// registers its commands, answers PING and refuses bad signatures, runs a
// development deploy from /deploy with its output in a thread, and, across
// a kill -9, takes a production approval from a member with the release
// manager's guild role.
func TestBuiltBotOnDiscord(t *testing.T) {
	api := newDiscordAPI(t)
	f := newFixture(t)
	f.chat = discordBlock(api)
	f.writeConfig()
	b := f.start()

	eventually(t, stateTimeout, "/readyz with Discord started", func() (bool, string) {
		code, body, err := b.get("/readyz")
		return err == nil && code == http.StatusOK, fmt.Sprint(code, body, err)
	})
	reg := "PUT /applications/" + dcApp + "/guilds/" + dcGuild + "/commands"
	var cmds []struct {
		Name    string
		Options []struct{ Name string }
	}
	if err := json.Unmarshal(api.body(reg), &cmds); err != nil || len(cmds) != 2 || cmds[0].Name != "deploy" || cmds[1].Name != "rollback" {
		t.Fatalf("registered %s (%v), want /deploy and /rollback", api.body(reg), err)
	}
	if !bytes.Contains(api.body(reg), []byte(`"production (prod)"`)) {
		t.Errorf("the env option's choices do not come from the configuration: %s", api.body(reg))
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
		m1 = api.messageWith(`"title":"#1 demo v1.0 → development"`)
		m := api.message(m1)
		return m1 != "" && strings.Contains(m, "succeeded"), m
	})
	if n := f.count("starts.log", "started 1 v1.0"); n != 1 {
		t.Errorf("deploy script ran %d times for run #1, want 1", n)
	}
	eventually(t, stateTimeout, "the output in the message's thread", func() (bool, string) {
		body := string(api.body("POST /channels/" + m1 + "/messages"))
		return strings.Contains(body, "deployed v1.0"), body
	})

	// Production waits for a release manager; the bot is killed meanwhile.
	got = command(t, b, deployRun(dcDev, "v1.0", "production"))
	if !strings.Contains(got, "#2") {
		t.Fatalf("/deploy to production answered %q", got)
	}
	var m2 string
	eventually(t, stateTimeout, "run #2's message with its Approve button", func() (bool, string) {
		m2 = api.messageWith(`"title":"#2 demo v1.0 → production"`)
		m := api.message(m2)
		return m2 != "" && strings.Contains(m, `"custom_id":"approve:2"`), m
	})
	shown := api.message(m2)
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
		return dcInteraction(3, who, roles, map[string]any{"custom_id": "approve:2", "component_type": 2}, string(shownJSON))
	}
	before := api.count("POST /webhooks/")
	status, out := interact(t, b, approve(dcDev), dcKey, time.Now())
	if status != http.StatusOK || out["type"] != float64(6) {
		t.Fatalf("click answered %d %v, want a deferred update", status, out)
	}
	eventually(t, stateTimeout, "the refusal of the requester's approval", func() (bool, string) {
		return api.count("POST /webhooks/") == before+1, fmt.Sprint(api.count("POST /webhooks/"))
	})
	status, out = interact(t, b, approve(dcRM, dcRoleRM), dcKey, time.Now())
	if status != http.StatusOK || out["type"] != float64(6) {
		t.Fatalf("click answered %d %v, want a deferred update", status, out)
	}
	eventually(t, stateTimeout, "run #2's message to say it succeeded", func() (bool, string) {
		m := api.message(m2)
		return strings.Contains(m, "succeeded") && strings.Contains(m, "u9"), m
	})
	if n := f.count("starts.log", "started 2 v1.0"); n != 1 {
		t.Errorf("deploy script ran %d times for run #2, want 1", n)
	}
	if n := api.count("POST /webhooks/"); n != before+1 {
		t.Errorf("%d follow-ups, want only the one refusal", n-before)
	}
}

// Discord down when the bot starts: the console serves at once, /readyz
// says Discord is not started, and the bot keeps trying until Discord
// takes its commands.
func TestBuiltBotWaitsOutDiscordDownAtStart(t *testing.T) {
	api := newDiscordAPI(t)
	api.failPuts = 5 // more than one Start's own retries
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
	if n := api.count("PUT /applications/"); n != 6 {
		t.Errorf("%d registrations, want 6 (5 refused, then one taken)", n)
	}
	if !strings.Contains(b.log.String(), "retrying") {
		t.Errorf("the log does not say the bot is retrying:\n%s", b.log.String())
	}
	if strings.Contains(b.log.String(), "test-token") {
		t.Errorf("the bot token is in the log")
	}
}

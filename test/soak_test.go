//go:build soak

package test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"shipmate/internal/adapters/discord/discordtest"
)

// The soak (`make soak`): many deployments through the built bot for
// SOAK_TIME (default 3m), from the console and from signed Discord
// interactions, while the bot is killed with SIGKILL and restarted on the
// same store, the fake Discord answers a share of calls with 429s and 500s,
// and slow clients trickle requests at it. After a clean restart and once
// everything has settled, it checks that nothing was lost or done twice.

// Soak people: one identity on each chat.
const (
	soakBob   = "100000000000000001" // deployer
	soakAlice = "100000000000000002" // tech lead
	soakRita  = "100000000000000003" // release manager
)

var (
	soakApps = []string{"demo", "api", "web"}
	soakEnvs = []string{"development", "staging", "qa", "canary", "production"}
	// approvers names who approves runs in each environment, in order.
	approvers = map[string][]string{"staging": {"alice"}, "qa": {"alice", "rita"}, "production": {"rita"}}
	discordID = map[string]string{"bob": soakBob, "alice": soakAlice, "rita": soakRita}
)

// soakConfig is the configuration: three apps on one set of scripts, five
// environments with their approvals.
func soakConfig(f *fixture, api *discordtest.Server) string {
	q := strconv.Quote
	var apps strings.Builder
	for _, app := range soakApps {
		fmt.Fprintf(&apps, `  %s:
    executor: exec
    on_failure: rollback
    exec:
      deploy:   ["sh", %s]
      rollback: ["sh", %s]
      resolve:  ["sh", %s]
      timeout: 1m
      grace: 1s
`, app, q(filepath.Join(f.dir, "deploy.sh")), q(filepath.Join(f.dir, "rollback.sh")), q(filepath.Join(f.dir, "resolve.sh")))
	}
	return fmt.Sprintf(`listen: "127.0.0.1:0"
store: %s
people:
  bob:   {web: bob,   discord: %q}
  alice: {web: alice, discord: %q}
  rita:  {web: rita,  discord: %q}
roles:
  deployer:        {people: [bob, alice, rita]}
  tech-lead:       {people: [alice]}
  release-manager: {people: [rita]}
checklist:
  merged: "Code merged to release branch"
  tests:  "All tests passing"
environments:
  development:
    deployers: [deployer]
    approval: none
    rollback: [requester]
  staging:
    deployers: [deployer]
    approval: {roles: [tech-lead], count: 1}
    checklist: [merged, tests]
    rollback: [requester]
  qa:
    deployers: [deployer]
    approval: {roles: [tech-lead, release-manager], count: 2}
    rollback: [requester]
  canary:
    deployers: [deployer]
    approval: none
    monitor: 3s
    rollback: [requester]
  production:
    deployers: [deployer]
    approval: {roles: [release-manager], count: 1, allow_self: false}
    windows: [%q]
    rollback: [release-manager]
apps:
%schat:
  web:
    enabled: true
%s`, q(f.store), soakBob, soakAlice, soakRita, openWindow, apps.String(), discordBlock(api))
}

// The soak's scripts append one line per start to a file per run, so that a
// run's starts can be counted. A deploy takes the tenths of a second its
// version ends with (v12.17: 1.7 s), long enough to be killed in; a version
// containing "fail" fails.
const (
	soakDeploy = `d=$(dirname "$0")
echo $$ >> "$d/pids"
echo "deploy $SHIPMATE_VERSION $$" >> "$d/starts/$SHIPMATE_RUN_ID"
echo "deploying $SHIPMATE_APP $SHIPMATE_VERSION to $SHIPMATE_ENV"
n=${SHIPMATE_VERSION##*.}
sleep "$((n / 10)).$((n % 10))"
case "$SHIPMATE_VERSION" in
*fail*) echo "$SHIPMATE_VERSION does not start"; exit 1 ;;
esac
echo "deployed $SHIPMATE_VERSION"
`
	soakRollback = `d=$(dirname "$0")
echo $$ >> "$d/pids"
echo "rollback $SHIPMATE_VERSION $$" >> "$d/rollbacks/$SHIPMATE_RUN_ID"
sleep 0.3
echo "rolled back to $SHIPMATE_VERSION"
`
	soakResolve = `echo "artifact-$SHIPMATE_VERSION"
`
)

// soakTime is SOAK_TIME, default 3 minutes.
func soakTime(t *testing.T) time.Duration {
	s := os.Getenv("SOAK_TIME")
	if s == "" {
		return 3 * time.Minute
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("SOAK_TIME=%q: want a duration such as 3m", s)
	}
	return d
}

// soak is the harness: the bot now running and what was done to it.
type soak struct {
	t   *testing.T
	f   *fixture
	api *discordtest.Server

	mu      sync.Mutex
	b       *bot // the bot now running (or just killed)
	rnd     *rand.Rand
	kills   int
	slowest time.Duration // slowest Discord interaction answered
	answers int           // Discord interactions answered
	late    int           // answered after Discord's 3 seconds
	fail    []string      // interactions answered with an error by a running bot

	versions             atomic.Int64
	consoleOK, refused   atomic.Int64
	discordSent, trickle atomic.Int64
	peakKiB              atomic.Int64 // the highest VmHWM of any bot of the soak
	clicks, consoleActs  atomic.Int64
}

func (s *soak) bot() *bot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b
}

// intn and chance roll the soak's dice.
func (s *soak) intn(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rnd.IntN(n)
}

func (s *soak) chance(p float64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rnd.Float64() < p
}

// between is a random duration in [lo, hi).
func (s *soak) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.intn(int(hi-lo)))
}

// pause waits d or until ctx ends; it reports whether ctx is still live.
func pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// call sends a request to the console API of the bot now running; a
// transport error (the bot was killed) is returned, never fatal.
func (s *soak) call(method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, "http://"+s.bot().consoleAddr()+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, out); err != nil {
			return 0, fmt.Errorf("%s %s: decode %q: %w", method, path, data, err)
		}
	}
	return resp.StatusCode, nil
}

var soakSeq atomic.Int64

// soakInteraction is an interaction by Discord user who, with an id no other
// soak interaction has (the bot remembers ids across restarts).
func soakInteraction(typ int, who string, data map[string]any, message json.RawMessage) map[string]any {
	id := fmt.Sprintf("S%d", soakSeq.Add(1))
	ic := map[string]any{"id": id, "application_id": dcApp, "type": typ, "token": "tok-" + id, "version": 1,
		"channel_id": dcChannel, "guild_id": dcGuild, "data": data,
		"member": map[string]any{"user": map[string]any{"id": who, "username": "u" + who[len(who)-1:]}, "roles": []string{}}}
	if message != nil {
		ic["message"] = message
	}
	return ic
}

// interact posts a signed interaction to the bot now running and notes how
// long the answer took. It returns the answer's type, or an error.
func (s *soak) interact(ic map[string]any) (float64, error) {
	body, _ := json.Marshal(ic)
	stamp := strconv.FormatInt(time.Now().Unix(), 10)
	b := s.bot()
	req, _ := http.NewRequest(http.MethodPost, "http://"+b.addr+"/discord/interactions", bytes.NewReader(body))
	req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(dcKey, append([]byte(stamp), body...))))
	req.Header.Set("X-Signature-Timestamp", stamp)
	began := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	took := time.Since(began)
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	s.mu.Lock()
	defer s.mu.Unlock()
	if resp.StatusCode != http.StatusOK {
		if b.running() {
			s.fail = append(s.fail, fmt.Sprintf("interaction %s answered %d %v", ic["id"], resp.StatusCode, out))
		}
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	s.answers++
	s.slowest = max(s.slowest, took)
	if took > 3*time.Second {
		s.late++
	}
	typ, _ := out["type"].(float64)
	return typ, nil
}

// submit requests one deploy of a random app to a random environment, from
// the console or from Discord. A refusal (the app+env is busy) is counted.
func (s *soak) submit() {
	app, env := soakApps[s.intn(len(soakApps))], soakEnvs[s.intn(len(soakEnvs))]
	version := fmt.Sprintf("v%d.%d", s.versions.Add(1), 1+s.intn(30))
	if s.chance(0.15) {
		version = fmt.Sprintf("v%d-fail.%d", s.versions.Add(1), s.intn(10))
	}
	if s.chance(0.5) {
		var rep reply
		code, err := s.call("POST", "/api/command", map[string]string{"user": "bob", "text": fmt.Sprintf("/deploy %s %s %s", app, version, env)}, &rep)
		switch {
		case err != nil || code != http.StatusOK:
		case rep.RunID != 0 && !rep.Error:
			s.consoleOK.Add(1)
		default:
			s.refused.Add(1)
		}
		return
	}
	opts := []map[string]any{{"name": "app", "type": 3, "value": app},
		{"name": "version", "type": 3, "value": version}, {"name": "env", "type": 3, "value": env}}
	ic := soakInteraction(2, soakBob, map[string]any{"id": "C1", "name": "deploy", "type": 1,
		"options": []map[string]any{{"name": "run", "type": 1, "options": opts}}}, nil)
	if _, err := s.interact(ic); err == nil {
		s.discordSent.Add(1)
	}
}

// soakRun is the part of a run the shepherd reads.
type soakRun struct {
	ID        uint64 `json:"id"`
	App       string `json:"app"`
	Env       string `json:"env"`
	Version   string `json:"version"`
	State     string `json:"state"`
	Note      string `json:"note"`
	Requester user   `json:"requester"`
	Origin    struct {
		Platform   string `json:"platform"`
		MessageRef string `json:"message_ref"`
	} `json:"origin"`
	Checklist []checkItem `json:"checklist"`
	Approvals []struct {
		By user `json:"by"`
	} `json:"approvals"`
}

func (r soakRun) title() string {
	return fmt.Sprintf("#%d %s %s → %s", r.ID, r.App, r.Version, r.Env)
}

func (r soakRun) approvedBy(person string) bool {
	return slices.ContainsFunc(r.Approvals, func(a struct {
		By user `json:"by"`
	}) bool {
		return a.By.ID == person || a.By.ID == discordID[person]
	})
}

// shepherd finds every run the bot took and plays its people: ticks the
// checklist, approves (on Discord for Discord runs, by the button the
// message shows) and now and then rejects. It keeps the last state seen of
// each run.
type shepherd struct {
	s     *soak
	next  uint64
	runs  map[uint64]soakRun
	acted map[uint64]time.Time
	seen  map[uint64]time.Time // when each run was first seen
	doom  map[uint64]bool      // runs to reject
}

func newShepherd(s *soak) *shepherd {
	return &shepherd{s: s, next: 1, runs: map[uint64]soakRun{}, acted: map[uint64]time.Time{},
		seen: map[uint64]time.Time{}, doom: map[uint64]bool{}}
}

func (h *shepherd) get(id uint64) (soakRun, int, error) {
	var rec struct {
		Run *soakRun `json:"run"`
	}
	code, err := h.s.call("GET", fmt.Sprintf("/api/runs/%d", id), nil, &rec)
	if err != nil || code != http.StatusOK || rec.Run == nil {
		return soakRun{}, code, err
	}
	return *rec.Run, code, nil
}

// round looks at every unfinished run once; it reports whether every run
// it knows is finished.
func (h *shepherd) round() bool {
	for gap := 0; gap < 3; {
		r, code, err := h.get(h.next + uint64(gap))
		if err != nil {
			return false
		}
		if code == http.StatusNotFound {
			gap++
			continue
		}
		for i := h.next; i <= r.ID; i++ {
			h.seen[i] = time.Now()
		}
		h.runs[r.ID] = r
		h.next, gap = r.ID+1, 0
	}
	done := true
	for id, r := range h.runs {
		if terminal[r.State] {
			continue
		}
		cur, code, err := h.get(id)
		if err != nil {
			return false
		}
		if code != http.StatusOK {
			continue
		}
		h.runs[id] = cur
		if terminal[cur.State] {
			continue
		}
		done = false
		if time.Since(h.acted[id]) > 1500*time.Millisecond {
			h.act(cur)
		}
	}
	return done
}

// act does what the run waits for.
func (h *shepherd) act(r soakRun) {
	h.acted[r.ID] = time.Now()
	switch r.State {
	case "checklist":
		for _, it := range r.Checklist {
			if !it.Done {
				h.console(r.ID, "alice", "tick", it.Key)
			}
		}
	case "awaiting_approval":
		if _, decided := h.doom[r.ID]; !decided {
			h.doom[r.ID] = h.s.chance(0.05)
		}
		if h.doom[r.ID] {
			h.console(r.ID, approvers[r.Env][0], "reject", "")
			return
		}
		for _, who := range approvers[r.Env] {
			if r.approvedBy(who) {
				continue
			}
			// On Discord, by the message's button; the console after a
			// while, for a run whose message has not shown it.
			if r.Origin.Platform != "discord" || !h.click(r, who) && time.Since(h.seen[r.ID]) > 20*time.Second {
				h.console(r.ID, who, "approve", "")
			}
			return
		}
	}
}

func (h *shepherd) console(id uint64, who, action, item string) {
	body := map[string]string{"user": who, "action": action, "item": item}
	if _, err := h.s.call("POST", fmt.Sprintf("/api/runs/%d/action", id), body, nil); err == nil {
		h.s.consoleActs.Add(1)
	}
}

// click presses Approve on run r's Discord message as who, if the message
// shows the button.
func (h *shepherd) click(r soakRun, who string) bool {
	ids := h.s.api.MessagesWith(`"title":"` + r.title() + `"`)
	if len(ids) == 0 {
		return false
	}
	shown := h.s.api.Message(ids[0])
	found := regexp.MustCompile(`"custom_id":"(approve:` + strconv.FormatUint(r.ID, 10) + `:[0-9a-f]+)"`).FindSubmatch(shown)
	if found == nil {
		return false
	}
	var msg map[string]any
	if json.Unmarshal(shown, &msg) != nil {
		return false
	}
	msg["id"], msg["channel_id"] = ids[0], dcChannel
	raw, _ := json.Marshal(msg)
	typ, err := h.s.interact(soakInteraction(3, discordID[who], map[string]any{"custom_id": string(found[1]), "component_type": 2}, raw))
	if err == nil {
		h.s.clicks.Add(1)
	}
	return err == nil && typ == 6
}

// killer kills the bot with SIGKILL every 10-25 s, at most max times, and
// starts another on the same store at once.
func (s *soak) killer(ctx context.Context, limit int) {
	for s.kills < limit && pause(ctx, s.between(10*time.Second, 25*time.Second)) {
		s.notePeak(s.bot())
		s.bot().kill()
		s.mu.Lock()
		s.kills++
		s.mu.Unlock()
		s.f.starts++
		b, err := launch(s.t, fmt.Sprintf("bot#%d", s.f.starts), s.f.dir, s.f.config)
		if err != nil {
			s.t.Errorf("restart after kill -9: %v", err)
			return
		}
		s.mu.Lock()
		s.b = b
		s.mu.Unlock()
	}
}

// notePeak keeps the highest resident memory any bot of the soak reached
// (its VmHWM), read before the bot is killed or stopped.
func (s *soak) notePeak(b *bot) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.cmd.Process.Pid))
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d", &kib); err == nil && kib > s.peakKiB.Load() {
				s.peakKiB.Store(kib)
			}
		}
	}
}

// trickler opens slow connections at the bot now and then, each sending a
// request body a byte a second for a few seconds.
func (s *soak) trickler(ctx context.Context) {
	for pause(ctx, s.between(10*time.Second, 20*time.Second)) {
		var conns []net.Conn
		addr := s.bot().addr
		for range 40 {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				break
			}
			head := "POST /discord/interactions HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\n" +
				"X-Signature-Ed25519: 00\r\nX-Signature-Timestamp: 1\r\nContent-Length: 100000\r\n\r\n"
			if _, err := conn.Write([]byte(head)); err != nil {
				conn.Close()
				break
			}
			conns = append(conns, conn)
			s.trickle.Add(1)
		}
		for range 8 {
			if !pause(ctx, time.Second) {
				break
			}
			for _, c := range conns {
				_, _ = c.Write([]byte("x"))
			}
		}
		for _, c := range conns {
			c.Close()
		}
	}
}

func TestSoak(t *testing.T) {
	length := soakTime(t)
	api := discordtest.New(t)
	f := newFixture(t)
	for _, dir := range []string{"starts", "rollbacks"} {
		if err := os.Mkdir(filepath.Join(f.dir, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.script("deploy.sh", soakDeploy)
	f.script("rollback.sh", soakRollback)
	f.script("resolve.sh", soakResolve)
	f.write("config.yaml", soakConfig(f, api))
	seed := uint64(time.Now().UnixNano())
	t.Logf("soak for %s, seed %d", length, seed)
	s := &soak{t: t, f: f, api: api, rnd: rand.New(rand.NewPCG(seed, 1))}
	s.b = f.start()
	s.waitReady()
	api.InjectFaults(discordtest.Faults{RateLimit: 0.06, ServerError: 0.03, Seed: seed})

	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), length)
	defer cancel()
	h := newShepherd(s)
	shepherdCtx, stopShepherd := context.WithCancel(context.Background())
	defer stopShepherd()
	shepherdDone := make(chan struct{})
	go func() {
		defer close(shepherdDone)
		for pause(shepherdCtx, 300*time.Millisecond) {
			h.round()
		}
	}()
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for pause(ctx, s.between(200*time.Millisecond, 900*time.Millisecond)) {
				s.submit()
			}
		})
	}
	wg.Go(func() { s.killer(ctx, int(length/(10*time.Second))+1) })
	wg.Go(func() { s.trickler(ctx) })
	wg.Wait()
	stopShepherd()
	<-shepherdDone
	if t.Failed() {
		t.FailNow()
	}
	rateLimited, serverErrors := api.Injected()
	api.InjectFaults(discordtest.Faults{})

	// A final clean restart, then everything settles: the shepherd goes on
	// approving until every run is finished.
	stop(t, s.bot())
	s.f.starts++
	s.b = f.start()
	s.waitReady()
	settled := false
	deadline := time.Now().Add(3 * time.Minute)
	for !settled && time.Now().Before(deadline) {
		settled = h.round() && s.messagesOut(h)
		if !settled {
			time.Sleep(300 * time.Millisecond)
		}
	}
	h.round()
	s.check(h, settled)
	s.notePeak(s.bot())
	stop(t, s.bot())
	s.checkStore()

	states := map[string]int{}
	discordRuns := 0
	for _, r := range h.runs {
		states[r.State]++
		if r.Origin.Platform == "discord" {
			discordRuns++
		}
	}
	t.Logf("soak figures: %s of load; %d runs (%d from Discord, %d from the console; %d requests refused as busy); final states %v; "+
		"%d kill -9 restarts; injected %d Discord 429s and %d 500s; %d slow clients trickled; "+
		"%d Discord interactions answered (%d button clicks), the slowest in %s, %d after 3 s; %d console actions; bot peak RSS %d MiB",
		length, len(h.runs), discordRuns, len(h.runs)-discordRuns, s.refused.Load(), states,
		s.kills, rateLimited, serverErrors, s.trickle.Load(),
		s.answers, s.clicks.Load(), s.slowest.Round(time.Millisecond), s.late, s.consoleActs.Load(), s.peakKiB.Load()>>10)
	t.Logf("soak took %s in all", time.Since(began).Round(time.Second))
}

func (s *soak) waitReady() {
	b := s.bot()
	eventually(s.t, 30*time.Second, "/readyz of "+b.name, func() (bool, string) {
		code, body, err := b.get("/readyz")
		return err == nil && code == http.StatusOK, fmt.Sprint(code, body, err)
	})
}

// messagesOut reports whether every Discord run's message has been posted.
func (s *soak) messagesOut(h *shepherd) bool {
	for _, r := range h.runs {
		if r.Origin.Platform == "discord" && len(s.api.MessagesWith(`"title":"`+r.title()+`"`)) == 0 {
			return false
		}
	}
	return true
}

// waiting lists the states a run rests in until people or the clock move it.
var waiting = map[string]bool{"checklist": true, "awaiting_approval": true, "monitoring": true}

// check checks, through the running bot, the runs and their messages.
func (s *soak) check(h *shepherd, settled bool) {
	t := s.t
	if !settled {
		t.Errorf("the runs did not settle within 3 minutes after the final restart")
	}
	if len(h.runs) == 0 {
		t.Fatalf("no run was made")
	}
	var stuck, twice, never, missing, doubled []string
	for id := uint64(1); id < h.next; id++ {
		r, ok := h.runs[id]
		if !ok {
			missing = append(missing, fmt.Sprintf("#%d (never seen)", id))
			continue
		}
		if !terminal[r.State] && !waiting[r.State] {
			stuck = append(stuck, fmt.Sprintf("#%d %s (%s)", id, r.State, r.Note))
		}
		starts := s.f.count(filepath.Join("starts", strconv.FormatUint(id, 10)), "deploy ")
		if starts > 1 {
			twice = append(twice, fmt.Sprintf("%s started %d times", r.title(), starts))
		}
		if r.State == "succeeded" && starts != 1 {
			never = append(never, fmt.Sprintf("#%d succeeded with %d starts", id, starts))
		}
		if r.Origin.Platform == "discord" {
			switch n := len(s.api.MessagesWith(`"title":"` + r.title() + `"`)); {
			case n == 0:
				missing = append(missing, fmt.Sprintf("%s (%s): no Discord message", r.title(), r.State))
			case n > 1:
				doubled = append(doubled, fmt.Sprintf("%s: %d Discord messages", r.title(), n))
			}
		}
	}
	report := func(what string, list []string) {
		if len(list) > 0 {
			t.Errorf("%s (%d):\n  %s", what, len(list), strings.Join(list, "\n  "))
		}
	}
	report("runs stuck in a state no one waits in", stuck)
	report("runs whose deploy command ran more than once", twice)
	report("succeeded runs whose deploy did not run exactly once", never)
	report("runs without their chat message", missing)
	report("runs whose chat message was posted more than once", doubled)

	// The console's timeline (its latest runs) shows each run once.
	var entries []timelineEntry
	if code, err := s.call("GET", "/api/timeline", nil, &entries); err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/timeline: %d %v", code, err)
	}
	count := map[string]int{}
	for _, e := range entries {
		count[e.Ref]++
	}
	var dup, absent []string
	for ref, n := range count {
		if n > 1 {
			dup = append(dup, fmt.Sprintf("%s ×%d", ref, n))
		}
	}
	for id := h.next - 1; id >= 1 && id+uint64(soakTimeline) >= h.next; id-- {
		if h.runs[id].Origin.Platform == "web" && count[fmt.Sprintf("run-%d", id)] == 0 {
			absent = append(absent, fmt.Sprintf("#%d", id))
		}
	}
	report("runs shown more than once in the console's timeline", dup)
	report("console runs missing from the console's timeline", absent)
}

// soakTimeline is how many runs the console's timeline shows.
const soakTimeline = 50

// checkStore checks the store file of the stopped bot: bbolt's own
// consistency check, and no run lock or active mark left by a finished run.
func (s *soak) checkStore() {
	t := s.t
	db, err := bolt.Open(s.f.store, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	defer db.Close()
	var problems []string
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			problems = append(problems, "bbolt check: "+err.Error())
		}
		runs, locks, active := tx.Bucket([]byte("runs")), tx.Bucket([]byte("run_locks")), tx.Bucket([]byte("active"))
		if runs == nil || locks == nil || active == nil {
			return errors.New("the store lacks the runs, run_locks or active bucket")
		}
		state := func(id []byte) string {
			var r struct {
				State string `json:"state"`
			}
			if v := runs.Get(id); v == nil || json.Unmarshal(v, &r) != nil {
				return "missing"
			}
			return r.State
		}
		_ = locks.ForEach(func(k, v []byte) error {
			app, env, _ := bytes.Cut(k, []byte{0})
			if st := state(v); terminal[st] || st == "missing" || active.Get(v) == nil {
				problems = append(problems, fmt.Sprintf("lock on %s in %s left by run #%d, which is %s", app, env, u64of(v), st))
			}
			return nil
		})
		return active.ForEach(func(k, _ []byte) error {
			if st := state(k); terminal[st] || st == "missing" {
				problems = append(problems, fmt.Sprintf("run #%d is marked active but is %s", u64of(k), st))
			}
			return nil
		})
	})
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		t.Errorf("the store (%d problems):\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
}

func u64of(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}

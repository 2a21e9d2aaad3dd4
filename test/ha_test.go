package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"shipmate/internal/adapters/discord/discordtest"
)

// Shipmate as three replicas on a real three-member etcd cluster: any
// replica takes commands and clicks, one leader runs the steps, and a
// leader that dies or stalls is replaced without anything running twice.

// haLease is the replicas' leader lease in these tests: a stalled leader
// is replaced within it (and 2 s more).
const haLease = 2 * time.Second

// startReplicas starts n bots on the fixture's configuration, storing in
// etcd cluster cl, and waits until one of them leads.
func startReplicas(t *testing.T, f *fixture, cl *etcdCluster, n int) []*bot {
	t.Helper()
	f.store = cl.url("shipmate")
	if !strings.Contains(f.top, "leader_lease:") {
		f.top += fmt.Sprintf("leader_lease: %s\n", haLease)
	}
	f.writeConfig()
	var bots []*bot
	for range n {
		bots = append(bots, f.start())
	}
	leaderOf(t, bots)
	return bots
}

// role is what bot b's /readyz says of its part ("leading: …" or
// "following …"), or the error.
func role(b *bot) string {
	if !b.running() {
		return "exited"
	}
	code, body, err := b.get("/readyz")
	if err != nil {
		return err.Error()
	}
	_, part, _ := strings.Cut(body, "\n")
	return fmt.Sprintf("%d %s", code, part)
}

// leaderOf waits until exactly one of the running bots leads and every
// other running one follows it, and returns the leader.
func leaderOf(t *testing.T, bots []*bot) *bot {
	t.Helper()
	var leader *bot
	eventually(t, stateTimeout, "one replica to lead", func() (bool, string) {
		leader = nil
		var parts []string
		leading := 0
		for _, b := range bots {
			p := role(b)
			parts = append(parts, b.name+": "+p)
			if strings.HasPrefix(p, "200 leading") {
				leading++
				leader = b
			}
		}
		return leading == 1, strings.Join(parts, "; ")
	})
	return leader
}

// failover waits for one of bots to lead after the leader was lost at
// since, and checks that it took no longer than the lease and 2 s.
func failover(t *testing.T, bots []*bot, since time.Time) *bot {
	t.Helper()
	next := leaderOf(t, bots)
	if took := time.Since(since); took > haLease+2*time.Second {
		t.Errorf("a new leader took %s, want within the lease (%s) and 2 s", took, haLease)
	}
	return next
}

// others are the bots but b that still run.
func others(bots []*bot, b *bot) []*bot {
	var out []*bot
	for _, o := range bots {
		if o != b && o.running() {
			out = append(out, o)
		}
	}
	return out
}

// starter reads the pid of the process that ran run id's deploy step
// from starts.log ("started ID VERSION PID").
func starter(f *fixture, id uint64) string {
	for _, l := range f.lines("starts.log") {
		if parts := strings.Fields(l); len(parts) == 4 && parts[1] == fmt.Sprint(id) {
			return parts[3]
		}
	}
	return ""
}

// haDeployScript is the fixture's deploy script, also recording the pid of
// the bot that runs it; it waits for the file "gate" for versions
// containing "gated".
const haDeployScript = `d=$(dirname "$0")
echo $$ >> "$d/pids"
echo "started $SHIPMATE_RUN_ID $SHIPMATE_VERSION $PPID" >> "$d/starts.log"
echo "deploying $SHIPMATE_APP $SHIPMATE_VERSION to $SHIPMATE_ENV"
case "$SHIPMATE_VERSION" in
*gated*) while [ ! -e "$d/gate" ]; do sleep 0.05; done ;;
esac
echo "deployed $SHIPMATE_VERSION"
`

// streamOf follows bot b's live console stream (GET /api/stream) in the
// background, as an open console page does, and returns what it has
// received so far.
func streamOf(t *testing.T, b *bot) func() string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.consoleAddr()+"/api/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET /api/stream: %v %v", b.name, resp, err)
	}
	var mu sync.Mutex
	var got strings.Builder
	go func() {
		defer resp.Body.Close()
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			mu.Lock()
			got.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return got.String()
	}
}

func TestReplicasRequestOnOneApproveOnAnotherLeaderDeploys(t *testing.T) {
	cl := newEtcdCluster(t)
	f := newFixture(t)
	f.script("deploy.sh", haDeployScript)
	bots := startReplicas(t, f, cl, 3)
	leader := leaderOf(t, bots)
	fl := others(bots, leader)
	a, b := fl[0], fl[1]
	// A console page open on a follower sees the run the leader moves on.
	page := streamOf(t, a)

	id := a.request("bob", "/deploy demo v1 staging")
	b.waitState(id, "checklist")
	for _, item := range []string{"merged", "tests"} {
		b.mustAct(id, "bob", "tick", item)
	}
	b.mustAct(id, "alice", "approve", "")
	rec := a.waitState(id, "succeeded")
	if n := f.startsOf(id); n != 1 {
		t.Fatalf("the deploy of run #%d started %d times, want once", id, n)
	}
	if got, want := starter(f, id), fmt.Sprint(leader.cmd.Process.Pid); got != want {
		t.Errorf("run #%d was deployed by pid %s, want the leader %s (%s)", id, got, want, leader.name)
	}
	if !rec.transitionedTo("approved") || len(rec.Run.Approvals) != 1 || rec.Run.Approvals[0].By.ID != "alice" {
		t.Errorf("approvals %+v", rec.Run.Approvals)
	}
	eventually(t, stateTimeout, "the follower's console page to show the run succeeded", func() (bool, string) {
		frames := page()
		return strings.Contains(frames, `"ref":"run-1"`) && strings.Contains(frames, `"status":"succeeded"`), tail(frames, 3)
	})
	// Each replica's metrics say whether it leads, and time its store.
	for _, o := range bots {
		want := "shipmate_leader 0"
		if o == leader {
			want = "shipmate_leader 1"
		}
		code, body, err := o.get("/metrics")
		if err != nil || code != http.StatusOK || !strings.Contains(body, want) ||
			!strings.Contains(body, `shipmate_store_request_duration_seconds_count{backend="etcd",op="create_run"}`) && o == a {
			t.Errorf("%s /metrics: %d %v; want %q and the store's request durations", o.name, code, err, want)
		}
	}
	// Every replica reads the same record, once the leader has recorded
	// its call to the requester, which follows the run's end.
	eventually(t, stateTimeout, "every replica to read the same record", func() (bool, string) {
		want := leader.record(id)
		for _, o := range bots {
			if got := o.record(id); got.Run.State != "succeeded" || len(got.Events) != len(want.Events) ||
				got.Events[len(got.Events)-1].Type != "call" {
				return false, fmt.Sprintf("%s reads run #%d as %s with %d events, want succeeded with %d, the last a call",
					o.name, id, got.Run.State, len(got.Events), len(want.Events))
			}
		}
		return true, ""
	})
}

func TestPausedLeaderIsFencedAndDoesNotAct(t *testing.T) {
	cl := newEtcdCluster(t)
	f := newFixture(t)
	f.script("deploy.sh", haDeployScript)
	bots := startReplicas(t, f, cl, 3)
	old := leaderOf(t, bots)
	rest := others(bots, old)

	id := rest[0].request("bob", "/deploy demo v1-gated dev")
	f.waitLine("starts.log", fmt.Sprintf("started %d v1-gated %d", id, old.cmd.Process.Pid))
	rest[0].waitState(id, "deploying")

	// The leader stalls past its lease: another replica leads within the
	// lease and 2 s, and, unable to follow a command run on another
	// machine, ends the run as interrupted.
	if err := old.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	next := failover(t, rest, time.Now())
	rec := next.waitState(id, "interrupted")
	if !strings.Contains(rec.Run.Note, "deploying v1-gated: the deploy command ran beside the replica that led before") {
		t.Errorf("note %q", rec.Run.Note)
	}
	// The new leader tells the requester, which follows the run's end.
	eventually(t, stateTimeout, "the new leader to record its call to the requester", func() (bool, string) {
		rec = next.record(id)
		last := rec.Events[len(rec.Events)-1]
		return last.Type == "call", fmt.Sprintf("last event %s: %s", last.Type, last.Detail)
	})

	// The old leader wakes up with its step's command done: its writes are
	// refused, and the run stays as the new leader left it.
	f.write("gate", "")
	if err := old.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	eventually(t, stateTimeout, "the old leader to follow", func() (bool, string) {
		p := role(old)
		return strings.HasPrefix(p, "200 following"), p
	})
	final := next.record(id)
	if final.Run.State != "interrupted" || len(final.Events) != len(rec.Events) {
		t.Errorf("run #%d after the old leader woke: %s with %d events (was interrupted with %d): %+v",
			id, final.Run.State, len(final.Events), len(rec.Events), final.Events[len(rec.Events):])
	}
	if n := f.startsOf(id); n != 1 {
		t.Errorf("the deploy of run #%d started %d times, want once", id, n)
	}
	// And the replicas go on working, the old leader among them.
	id2 := old.request("bob", "/deploy demo v2 dev")
	next.waitState(id2, "succeeded")
}

func TestEtcdMemberLossAndQuorumLoss(t *testing.T) {
	cl := newEtcdCluster(t)
	f := newFixture(t)
	f.script("deploy.sh", haDeployScript)
	bots := startReplicas(t, f, cl, 3)

	// One member down changes nothing.
	cl.kill(0)
	id := bots[0].request("bob", "/deploy demo v1 dev")
	bots[1].waitState(id, "succeeded")

	// Two down: no quorum. Commands get a clear answer, nothing crashes.
	cl.kill(1)
	// The store's requests wait 5 s for an answer before giving up.
	patient := &http.Client{Timeout: 30 * time.Second}
	var rep reply
	code := bots[2].doWith(patient, "POST", "/api/command", map[string]string{"user": "bob", "text": "/deploy demo v2 dev"}, &rep)
	if !rep.Error || !strings.Contains(rep.Text, "the store is unavailable") {
		t.Fatalf("a command without quorum answered %d %+v", code, rep)
	}
	eventually(t, stateTimeout, "/readyz to report the store", func() (bool, string) {
		c, body, err := bots[2].get("/readyz")
		return err == nil && c == http.StatusServiceUnavailable && strings.Contains(body, "store"), fmt.Sprint(c, body, err)
	})
	for _, b := range bots {
		if !b.running() {
			t.Fatalf("%s exited without quorum:\n%s", b.name, b.log.String())
		}
	}

	// Quorum back: the replicas work again, and nothing was half-written.
	cl.restart(0)
	cl.restart(1)
	cl.waitHealthy(0, 1, 2)
	leaderOf(t, bots)
	var id2 uint64
	eventually(t, 30*time.Second, "a command to be taken again", func() (bool, string) {
		var rep reply
		bots[0].do("POST", "/api/command", map[string]string{"user": "bob", "text": "/deploy demo v3 dev"}, &rep)
		id2 = rep.RunID
		return !rep.Error && id2 != 0, rep.Text
	})
	bots[2].waitState(id2, "succeeded")
	// A write etcd took but could not confirm may still land once quorum
	// is back (the answer said it was unavailable, not that it failed):
	// whatever landed is whole, a run with its trail.
	for between := id + 1; between < id2; between++ {
		if rec := bots[0].record(between); len(rec.Events) == 0 || rec.Events[0].Type != "requested" {
			t.Errorf("run #%d was half-written: %+v", between, rec)
		}
	}
}

// Slack and Discord may deliver one click to any replica, and retry it on
// another: the same signed click reaching all three at once acts once.
func TestSameSignedClickOnEveryReplicaActsOnce(t *testing.T) {
	cl := newEtcdCluster(t)
	f := newFixture(t)
	f.script("deploy.sh", haDeployScript)
	api := discordtest.New(t)
	f.chat = discordBlock(api)
	bots := startReplicas(t, f, cl, 3)

	if got := command(t, bots[0], deployRun(dcDev, "v1.0", "production")); !strings.Contains(got, "#1") {
		t.Fatalf("/deploy answered %q", got)
	}
	var msgID, approveID string
	approveRE := regexp.MustCompile(`"custom_id":"(approve:1:[0-9a-f]+)"`)
	eventually(t, stateTimeout, "run #1's message with its Approve button", func() (bool, string) {
		msgID = api.MessageWith(`"title":"#1 demo v1.0 → production"`)
		m := string(api.Message(msgID))
		if found := approveRE.FindStringSubmatch(m); found != nil {
			approveID = found[1]
		}
		return msgID != "" && approveID != "", m
	})
	var msg map[string]any
	_ = json.Unmarshal(api.Message(msgID), &msg)
	msg["id"], msg["channel_id"] = msgID, dcChannel
	shown, _ := json.Marshal(msg)
	click := dcInteraction(3, dcRM, []string{dcRoleRM}, map[string]any{"custom_id": approveID, "component_type": 2}, string(shown))
	now := time.Now()

	var wg sync.WaitGroup
	answers := make([]string, len(bots))
	for i, b := range bots {
		wg.Go(func() {
			status, out := interact(t, b, click, dcKey, now)
			answers[i] = fmt.Sprint(status, " ", out["type"])
		})
	}
	wg.Wait()
	for i, a := range answers {
		if a != "200 6" {
			t.Errorf("%s answered %s, want 200 and a deferred update", bots[i].name, a)
		}
	}
	rec := bots[1].waitState(1, "succeeded")
	if n := len(rec.Run.Approvals); n != 1 {
		t.Errorf("%d approvals, want 1: %+v", n, rec.Run.Approvals)
	}
	if n := countTransitions(rec, "approved"); n != 1 {
		t.Errorf("%d transitions to approved, want 1", n)
	}
	if n := f.startsOf(1); n != 1 {
		t.Errorf("the deploy started %d times, want once", n)
	}
	if n := len(api.Calls("POST", "/webhooks/")); n != 0 {
		t.Errorf("%d follow-up messages to the approver, want none", n)
	}
}

// SIGTERM to the leader drains it as it does a lone bot: its running step
// finishes, and then it hands over at once rather than when its lease
// would expire; what was asked meanwhile runs on the next leader.
func TestLeaderDrainsThenHandsOver(t *testing.T) {
	cl := newEtcdCluster(t)
	f := newFixture(t)
	f.script("deploy.sh", haDeployScript)
	f.top += "leader_lease: 30s\n" // longer than the test waits: the hand-over must not wait for it
	bots := startReplicas(t, f, cl, 3)
	old := leaderOf(t, bots)
	rest := others(bots, old)

	first := rest[0].request("bob", "/deploy demo v1-gated dev")
	f.waitLine("starts.log", fmt.Sprintf("started %d v1-gated %d", first, old.cmd.Process.Pid))
	if err := old.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	second := rest[1].request("bob", "/deploy demo v2 staging")
	rest[1].waitState(second, "checklist")
	f.write("gate", "")
	if code, _ := old.wait(time.Now()); code != 0 {
		t.Fatalf("the drained leader exited with %d", code)
	}
	rest[0].waitState(first, "succeeded")
	next := leaderOf(t, rest)
	for _, item := range []string{"merged", "tests"} {
		next.mustAct(second, "bob", "tick", item)
	}
	next.mustAct(second, "alice", "approve", "")
	rest[0].waitState(second, "succeeded")
	if got, want := starter(f, second), fmt.Sprint(next.cmd.Process.Pid); got != want {
		t.Errorf("run #%d was deployed by pid %s, want the new leader %s", second, got, want)
	}
	if n := f.startsOf(first); n != 1 {
		t.Errorf("the deploy of run #%d started %d times, want once", first, n)
	}
}

package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKill9MidDeployResumesAsInterrupted kills the bot while a deploy step
// runs, and the step with it. After the restart the step's outcome is
// unknown: the run must end as interrupted (never run a second time) and
// release its lock.
func TestKill9MidDeployResumesAsInterrupted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.script("deploy.sh", `d=$(dirname "$0")
echo $$ >> "$d/pids"
echo $$ > "$d/deploy.pid"
echo "started $SHIPMATE_RUN_ID $SHIPMATE_VERSION" >> "$d/starts.log"
if [ "$SHIPMATE_VERSION" = v1 ]; then sleep 30; fi
echo "deployed $SHIPMATE_VERSION"
`)

	// bot export finds a running bot through the configured address, so
	// this bot listens on a port fixed in its configuration.
	b := f.startOnFixedPort()
	id := b.request("bob", "/deploy demo v1 dev")
	f.waitLine("starts.log", fmt.Sprintf("started %d v1", id))
	b.waitState(id, "deploying")
	b.kill()

	// The step outlives the bot in its own process group; here it dies
	// too, as on a machine's reboot.
	pid := readPid(t, filepath.Join(f.dir, "deploy.pid"))
	pgid, err := syscall.Getpgid(pid)
	if err != nil {
		t.Fatalf("the deploy script (pid %d) should still run after the bot was killed: %v", pid, err)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)

	b = f.start()
	rec := b.waitState(id, "interrupted")
	if !strings.Contains(rec.Run.Note, "outcome is unknown") {
		t.Errorf("note of the interrupted run = %q, want it to say the outcome is unknown", rec.Run.Note)
	}
	if n := f.startsOf(id); n != 1 {
		t.Errorf("deploy of run #%d started %d times, want once; starts.log: %q", id, n, f.lines("starts.log"))
	}
	if !b.timelineHas(id) {
		t.Errorf("GET /api/timeline does not show run #%d after the restart", id)
	}

	// The lock is released: the next deploy goes through.
	id2 := b.request("bob", "/deploy demo v2 dev")
	b.waitState(id2, "succeeded")
	if n := f.startsOf(id); n != 1 {
		t.Errorf("deploy of run #%d started %d times, want once", id, n)
	}

	// While the bot holds the store, bot export asks it over HTTP.
	checkExport(t, f, id, "while the bot runs")

	code, took := b.terminate()
	if code != 0 {
		t.Errorf("after SIGTERM the bot exited with %d, want 0", code)
	}
	if took > 5*time.Second {
		t.Errorf("with nothing running the bot took %s to exit after SIGTERM", took)
	}
	// Now bot export reads the file itself.
	checkExport(t, f, id, "after the bot stopped")
}

// TestKill9MidDeployReattaches kills the bot while a deploy step runs and
// the step goes on without it. The restarted bot follows the same process
// to its end: the run succeeds with the step run once, and the output
// printed before, while and after the bot was down is in its trail.
func TestKill9MidDeployReattaches(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gate := filepath.Join(f.dir, "gate")
	f.script("deploy.sh", `d=$(dirname "$0")
echo $$ >> "$d/pids"
echo "started $SHIPMATE_RUN_ID $SHIPMATE_VERSION" >> "$d/starts.log"
echo "migrating the database"
while [ ! -e "$d/gate" ]; do sleep 0.05; done
echo "switched traffic to $SHIPMATE_VERSION"
`)
	b := f.start()
	id := b.request("bob", "/deploy demo v1 dev")
	f.waitLine("starts.log", fmt.Sprintf("started %d v1", id))
	b.waitState(id, "deploying")
	b.kill()

	b = f.start()
	eventually(t, stateTimeout, "the restarted bot to re-attach to the step", func() (bool, string) {
		rec := b.record(id)
		for _, ev := range rec.Events {
			if ev.Type == "output" && strings.Contains(ev.Detail, "re-attached to the deploy command") {
				return rec.Run.State == "deploying", rec.Run.State
			}
		}
		return false, rec.Run.State + ": " + rec.Run.Note
	})
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := b.waitState(id, "succeeded")
	if n := f.startsOf(id); n != 1 {
		t.Errorf("deploy of run #%d started %d times, want once", id, n)
	}
	var out []string
	for _, ev := range rec.Events {
		if ev.Type == "output" {
			out = append(out, ev.Detail)
		}
	}
	all := strings.Join(out, "\n")
	for _, want := range []string{"migrating the database", "re-attached to the deploy command", "switched traffic to v1"} {
		if !strings.Contains(all, want) {
			t.Errorf("run #%d's output has no %q:\n%s", id, want, all)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(f.dir, "data", "steps")); len(entries) != 0 {
		t.Errorf("step folders left behind: %v", entries)
	}
}

// checkExport runs bot export for the interrupted run id and checks its
// record.
func checkExport(t *testing.T, f *fixture, id uint64, when string) {
	t.Helper()
	res := runOnce(t, f.dir, 10*time.Second, "export", "--config", f.config, strconv.FormatUint(id, 10))
	if res.code != 0 {
		t.Fatalf("bot export %d %s: exit %d\nstderr: %s", id, when, res.code, res.stderr)
	}
	var rec record
	if err := json.Unmarshal([]byte(res.stdout), &rec); err != nil || rec.Run == nil {
		t.Fatalf("bot export %d %s printed no record (%v):\n%s", id, when, err, res.stdout)
	}
	if rec.Run.ID != id || rec.Run.State != "interrupted" {
		t.Errorf("bot export %d %s: run #%d is %q, want #%d interrupted", id, when, rec.Run.ID, rec.Run.State, id)
	}
	if !rec.transitionedTo("deploying") {
		t.Errorf("bot export %d %s: no transition to deploying in %d events", id, when, len(rec.Events))
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		t.Fatalf("%s: bad pid %q", path, data)
	}
	return pid
}

// TestKill9WhileAwaitingApprovalThenApprove kills the bot while a staging
// run waits for approval with its checklist done; after the restart the
// run still waits, with the ticks, and an approval deploys it once.
func TestKill9WhileAwaitingApprovalThenApprove(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.start()
	id := b.request("bob", "/deploy demo v1 staging")
	b.waitState(id, "checklist")
	b.mustAct(id, "alice", "tick", "merged")
	b.mustAct(id, "alice", "tick", "tests")
	b.waitState(id, "awaiting_approval")
	b.kill()

	b = f.start()
	rec := b.record(id)
	if rec.Run.State != "awaiting_approval" {
		t.Fatalf("after the restart run #%d is %s (%s), want awaiting_approval", id, rec.Run.State, rec.Run.Note)
	}
	checkTicked(t, rec, "alice", "merged", "tests")
	ticks := 0
	for _, e := range rec.Events {
		if e.Type == "checklist_tick" && e.Actor != nil && e.Actor.ID == "alice" {
			ticks++
		}
	}
	if ticks != 2 {
		t.Errorf("the audit trail has %d ticks by alice, want 2", ticks)
	}

	b.mustAct(id, "alice", "approve", "")
	rec = b.waitState(id, "succeeded")
	if n := f.startsOf(id); n != 1 {
		t.Errorf("deploy of run #%d started %d times, want once", id, n)
	}
	if n := countTransitions(rec, "deploying"); n != 1 {
		t.Errorf("run #%d went to deploying %d times, want once", id, n)
	}
}

// checkTicked checks that the run's checklist is exactly the items keys,
// each ticked by who.
func checkTicked(t *testing.T, rec record, who string, keys ...string) {
	t.Helper()
	var got []string
	for _, it := range rec.Run.Checklist {
		if !it.Done {
			continue
		}
		got = append(got, it.Key)
		if it.By == nil || it.By.ID != who {
			t.Errorf("checklist item %s ticked by %v, want %s", it.Key, it.By, who)
		}
	}
	if strings.Join(got, ",") != strings.Join(keys, ",") {
		t.Errorf("ticked checklist items = %v, want %v", got, keys)
	}
}

func countTransitions(rec record, to string) int {
	n := 0
	for _, e := range rec.Events {
		if e.Type == "transition" && e.To == to {
			n++
		}
	}
	return n
}

// crashCase brings a run into a state, kills the bot there, restarts it
// and checks how the run goes on.
type crashCase struct {
	name  string
	state string // the run's state when the bot is killed
	// before starts a bot and brings a run into state.
	before func(t *testing.T, f *fixture) (*bot, uint64)
	// after checks the restarted bot and takes the run to its end; it
	// returns the bot then running.
	after func(t *testing.T, f *fixture, b *bot, id uint64) *bot
	// starts is how often the deploy step must have run for the run.
	starts int
	// kept says the restart leaves the run in state: it waits for people
	// or the clock, not for a step.
	kept bool
}

// TestKill9InEveryWaitingStateLosesNothing kills the bot in each state a
// run can rest in, and checks that a restart keeps the run where it was
// (or, for a step cut off, ends it as interrupted) and never deploys twice.
func TestKill9InEveryWaitingStateLosesNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []crashCase{
		{
			// Killed while preparing: the resolve step hangs, so the run is
			// caught in requested. Resolving only reads, so it runs again.
			name: "requested", state: "requested", starts: 1,
			before: func(t *testing.T, f *fixture) (*bot, uint64) {
				f.write("resolve.block", "")
				b := f.start()
				id := b.request("bob", "/deploy demo v1 dev")
				f.waitLine("resolves.log", fmt.Sprintf("resolve %d v1", id))
				b.waitState(id, "requested")
				// The hanging resolve has read the block; the next one will not.
				if err := os.Remove(filepath.Join(f.dir, "resolve.block")); err != nil {
					t.Fatal(err)
				}
				return b, id
			},
			after: func(t *testing.T, f *fixture, b *bot, id uint64) *bot {
				b.waitState(id, "succeeded")
				if n := f.count("resolves.log", fmt.Sprintf("resolve %d ", id)); n < 2 {
					t.Errorf("resolve ran %d times for run #%d, want again after the restart", n, id)
				}
				return b
			},
		},
		{
			name: "checklist", state: "checklist", starts: 1, kept: true,
			before: func(t *testing.T, f *fixture) (*bot, uint64) {
				b := f.start()
				id := b.request("bob", "/deploy demo v1 staging")
				b.waitState(id, "checklist")
				b.mustAct(id, "alice", "tick", "merged")
				return b, id
			},
			after: func(t *testing.T, f *fixture, b *bot, id uint64) *bot {
				rec := b.record(id)
				checkTicked(t, rec, "alice", "merged")
				b.mustAct(id, "alice", "tick", "tests")
				b.waitState(id, "awaiting_approval")
				b.mustAct(id, "alice", "approve", "")
				b.waitState(id, "succeeded")
				return b
			},
		},
		{
			// qa needs two approvals; one is given before the kill.
			name: "awaiting_approval", state: "awaiting_approval", starts: 1, kept: true,
			before: func(t *testing.T, f *fixture) (*bot, uint64) {
				b := f.start()
				id := b.request("bob", "/deploy demo v1 qa")
				b.waitState(id, "awaiting_approval")
				b.mustAct(id, "alice", "approve", "")
				return b, id
			},
			after: func(t *testing.T, f *fixture, b *bot, id uint64) *bot {
				rec := b.record(id)
				if len(rec.Run.Approvals) != 1 || rec.Run.Approvals[0].By.ID != "alice" || rec.Run.Approvals[0].Artifact != "artifact-v1" {
					t.Errorf("approvals after the restart = %+v, want alice's for artifact-v1", rec.Run.Approvals)
				}
				if rep := b.act(id, "alice", "approve", ""); !rep.Error {
					t.Errorf("alice approved run #%d a second time after the restart: %q", id, rep.Text)
				}
				b.mustAct(id, "rita", "approve", "")
				b.waitState(id, "succeeded")
				return b
			},
		},
		{
			// A request is only taken while production's window is open, so
			// the window closes (by a configuration change and a restart)
			// between the request and the approval.
			name: "approved waiting for the window", state: "approved", starts: 1, kept: true,
			before: func(t *testing.T, f *fixture) (*bot, uint64) {
				b := f.start()
				id := b.request("bob", "/deploy demo v1 production")
				b.waitState(id, "awaiting_approval")
				stop(t, b)
				f.window = closedWindow()
				f.writeConfig()
				b = f.start()
				b.mustAct(id, "rita", "approve", "")
				b.waitNote(id, "approved", "waiting for the production deployment window")
				return b, id
			},
			after: func(t *testing.T, f *fixture, b *bot, id uint64) *bot {
				// Several ticks pass; none may start the deploy.
				b.stays(id, "approved", 5*200*time.Millisecond)
				if n := f.startsOf(id); n != 0 {
					t.Fatalf("run #%d deployed %d times outside its window", id, n)
				}
				stop(t, b)
				f.window = openWindow
				f.writeConfig()
				b = f.start()
				b.waitState(id, "succeeded")
				return b
			},
		},
		{
			name: "monitoring", state: "monitoring", starts: 1, kept: true,
			before: func(t *testing.T, f *fixture) (*bot, uint64) {
				b := f.start()
				id := b.request("bob", "/deploy demo v1 canary")
				b.waitState(id, "monitoring")
				return b, id
			},
			after: func(t *testing.T, f *fixture, b *bot, id uint64) *bot {
				b.stays(id, "monitoring", 3*200*time.Millisecond)
				if rep := b.command("bob", fmt.Sprintf("/deploy cancel %d", id)); rep.Error {
					t.Fatalf("/deploy cancel %d: %s", id, rep.Text)
				}
				rec := b.waitState(id, "succeeded")
				if !strings.Contains(rec.Run.Note, "monitoring ended early") {
					t.Errorf("note = %q, want it to say monitoring ended early", rec.Run.Note)
				}
				return b
			},
		},
		{
			// v1 is live; v2 fails to deploy and rolls back to v1, slowly.
			name: "rolling_back", state: "rolling_back", starts: 1,
			before: func(t *testing.T, f *fixture) (*bot, uint64) {
				b := f.start()
				first := b.request("bob", "/deploy demo v1 dev")
				b.waitState(first, "succeeded")
				id := b.request("bob", "/deploy demo v2-fail-hangrb dev")
				b.waitState(id, "rolling_back")
				f.waitLine("rollbacks.log", fmt.Sprintf("rollback %d v1", id))
				return b, id
			},
			after: func(t *testing.T, f *fixture, b *bot, id uint64) *bot {
				rec := b.waitState(id, "interrupted")
				if !strings.Contains(rec.Run.Note, "rolling back to v1") || !strings.Contains(rec.Run.Note, "outcome is unknown") {
					t.Errorf("note = %q, want it to say the rollback to v1 has an unknown outcome", rec.Run.Note)
				}
				if n := f.count("rollbacks.log", fmt.Sprintf("rollback %d ", id)); n != 1 {
					t.Errorf("rollback of run #%d started %d times, want once", id, n)
				}
				// The lock is released.
				next := b.request("bob", "/deploy demo v3 dev")
				b.waitState(next, "succeeded")
				return b
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			b, id := tc.before(t, f)
			if rec := b.record(id); rec.Run.State != tc.state {
				t.Fatalf("before the kill run #%d is %s (%s), want %s", id, rec.Run.State, rec.Run.Note, tc.state)
			}
			startsBefore := f.startsOf(id)
			b.kill()
			f.killScripts()

			b = f.start()
			if !b.timelineHas(id) {
				t.Errorf("GET /api/timeline does not show run #%d after the restart", id)
			}
			if rec := b.record(id); tc.kept && rec.Run.State != tc.state {
				t.Errorf("right after the restart run #%d is %s (%s), want %s", id, rec.Run.State, rec.Run.Note, tc.state)
			}
			if n := f.startsOf(id); n != startsBefore {
				t.Errorf("the restart alone started the deploy of run #%d again (%d → %d)", id, startsBefore, n)
			}
			b = tc.after(t, f, b, id)
			if n := f.startsOf(id); n != tc.starts {
				t.Errorf("deploy of run #%d started %d times, want %d; starts.log: %q", id, n, tc.starts, f.lines("starts.log"))
			}
			if !b.timelineHas(id) {
				t.Errorf("GET /api/timeline does not show run #%d at the end", id)
			}
		})
	}
}

// stop stops the bot with SIGTERM, as an operator would before changing its
// configuration, and checks that it exits cleanly.
func stop(t *testing.T, b *bot) {
	t.Helper()
	if code, _ := b.terminate(); code != 0 {
		t.Fatalf("%s exited with %d after SIGTERM, want 0", b.name, code)
	}
}

// waitNote polls run id until it is in state with a note containing text.
func (b *bot) waitNote(id uint64, state, text string) record {
	b.t.Helper()
	var rec record
	eventually(b.t, stateTimeout, fmt.Sprintf("run #%d to be %s with note %q", id, state, text), func() (bool, string) {
		rec = b.record(id)
		return rec.Run.State == state && strings.Contains(rec.Run.Note, text), rec.Run.State + ": " + rec.Run.Note
	})
	return rec
}

// stays checks that run id is in state now and for the next d.
func (b *bot) stays(id uint64, state string, d time.Duration) {
	b.t.Helper()
	for end := time.Now().Add(d); ; {
		if rec := b.record(id); rec.Run.State != state {
			b.t.Fatalf("run #%d is %s (%s), want it to stay %s", id, rec.Run.State, rec.Run.Note, state)
		}
		if time.Now().After(end) {
			return
		}
		time.Sleep(pollEvery)
	}
}

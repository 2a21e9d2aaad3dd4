package test

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMDrainsRunningStep stops the bot while a deploy step runs: the
// bot must stop taking work, let the step finish and record it, then exit 0.
func TestSIGTERMDrainsRunningStep(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.start()
	id := b.request("bob", "/deploy demo v1-drain dev") // its deploy takes 2s
	f.waitLine("starts.log", fmt.Sprintf("started %d ", id))

	began := time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "/readyz to report draining after SIGTERM", func() (bool, string) {
		code, body, err := b.get("/readyz")
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusServiceUnavailable && strings.Contains(body, "draining"), fmt.Sprintf("%d %q", code, body)
	})
	rep := b.command("bob", "/deploy demo v2 staging")
	if !rep.Error || !strings.Contains(rep.Text, "restarting") {
		t.Errorf("/deploy while draining = %+v, want it refused because Shipmate is restarting", rep)
	}
	if !b.running() {
		t.Fatalf("the bot exited before its deploy step finished")
	}

	code, took := b.wait(began)
	if code != 0 {
		t.Errorf("the bot exited with %d after SIGTERM, want 0", code)
	}
	t.Logf("the bot drained and exited %s after SIGTERM", took.Round(time.Millisecond))
	if !strings.Contains(f.lines("starts.log")[0], "v1-drain") || len(f.lines("starts.log")) != 1 {
		t.Errorf("starts.log = %q, want the one deploy", f.lines("starts.log"))
	}

	// The store, read by bot export now that the bot is gone, has the
	// step's outcome.
	res := runOnce(t, f.dir, 10*time.Second, "export", "--config", f.config, fmt.Sprint(id))
	if res.code != 0 || !strings.Contains(res.stdout, `"state": "succeeded"`) {
		t.Errorf("bot export %d: exit %d, want the run succeeded:\n%s%s", id, res.code, res.stdout, res.stderr)
	}
	if res := runOnce(t, f.dir, 10*time.Second, "export", "--config", f.config, fmt.Sprint(id+1)); res.code == 0 {
		t.Errorf("a run #%d exists after the refused /deploy:\n%s", id+1, res.stdout)
	}
}

// TestSecondInstanceRefused starts a second bot on a store a running bot
// holds: it must give up quickly with a clear message, and the first bot
// must go on undisturbed.
func TestSecondInstanceRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.start()

	began := time.Now()
	res := runOnce(t, f.dir, 15*time.Second, "--config", f.config, "--tick", tick)
	took := time.Since(began)
	if res.code == 0 {
		t.Errorf("the second bot exited 0, want a failure")
	}
	if !strings.Contains(res.stderr, "store is in use by another process") {
		t.Errorf("the second bot's stderr does not say the store is in use:\n%s", res.stderr)
	}
	if took > 5*time.Second {
		t.Errorf("the second bot took %s to give up", took)
	}

	if code, body, err := b.get("/readyz"); err != nil || code != http.StatusOK {
		t.Errorf("first bot /readyz = %d %q %v, want 200", code, body, err)
	}
	id := b.request("bob", "/deploy demo v1 dev")
	b.waitState(id, "succeeded")
}

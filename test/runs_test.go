package test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// bot runs lists the runs a release engineer asks for, from the running
// bot (which holds the store) and from the file once it stopped, and
// refuses a filter it cannot read.
func TestRunsListsWhatWasAskedFor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.startOnFixedPort()
	ok := b.request("bob", "/deploy demo v1 dev")
	b.waitState(ok, "succeeded")
	failed := b.request("bob", "/deploy demo v2-fail dev")
	b.waitState(failed, "rolled_back")
	waiting := b.request("bob", "/deploy demo v1 staging")
	b.waitState(waiting, "checklist")

	check := func(when string) {
		t.Helper()
		res := runOnce(t, f.dir, 10*time.Second, "runs", "--config", f.config, "--env", "development", "--json")
		var runs []struct {
			ID    uint64 `json:"id"`
			State string `json:"state"`
		}
		if res.code != 0 || json.Unmarshal([]byte(res.stdout), &runs) != nil {
			t.Fatalf("bot runs --env development --json %s: exit %d\nstdout: %s\nstderr: %s", when, res.code, res.stdout, res.stderr)
		}
		if len(runs) != 2 || runs[0].ID != failed || runs[0].State != "rolled_back" || runs[1].ID != ok || runs[1].State != "succeeded" {
			t.Errorf("bot runs --env development %s = %+v, want run #%d rolled back, then #%d succeeded", when, runs, failed, ok)
		}

		res = runOnce(t, f.dir, 10*time.Second, "runs", "--config", f.config, "--state", "checklist,awaiting_approval", "--since", "1d")
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		if res.code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "RUN ") ||
			!strings.Contains(lines[1], "demo") || !strings.Contains(lines[1], "staging") || !strings.Contains(lines[1], "checklist") {
			t.Errorf("bot runs --state checklist,awaiting_approval %s: exit %d\n%s\nstderr: %s\nwant the header and run #%d waiting in staging",
				when, res.code, res.stdout, res.stderr, waiting)
		}
	}
	check("while the bot runs")
	if code, _ := b.terminate(); code != 0 {
		t.Fatalf("the bot exited %d on SIGTERM", code)
	}
	check("with the bot stopped")

	for _, tc := range []struct{ args, stderr string }{
		{"--state done", `shipmate: --state: unknown state "done"`},
		{"--since 3w", `shipmate: --since: "3w": want an age`},
		{"--limit 0", `shipmate: --limit 0: want a number from 1 to 1000`},
	} {
		args := append([]string{"runs", "--config", f.config}, strings.Fields(tc.args)...)
		res := runOnce(t, f.dir, 10*time.Second, args...)
		if res.code != 2 || !strings.HasPrefix(res.stderr, tc.stderr) {
			t.Errorf("bot runs %s: exit %d, stderr %q; want 2 and %q", tc.args, res.code, res.stderr, tc.stderr)
		}
	}
}

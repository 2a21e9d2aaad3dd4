package runbook_test

import (
	"fmt"
	"strings"
	"testing"

	"shipmate/internal/runbook"
)

// /deploy status lists the newest active runs and counts the rest, so its
// answer stays readable (and cheap) with hundreds waiting; naming an app
// shows that app's alone.
func TestStatusListsTheNewestActiveRuns(t *testing.T) {
	fx := newExec()
	const apps = 25
	h := newHarnessWith(t, fx, func(c *runbook.Config) {
		for i := range apps {
			name := fmt.Sprintf("app-%02d", i)
			c.Policy.Apps[name] = runbook.App{Name: name, Executor: "fake"}
			c.Executors[name] = fx.Executor()
		}
	})
	h.Restart() // with the apps added
	ids := make([]uint64, apps)
	for i := range apps {
		ids[i] = h.Must("bob", fmt.Sprintf("/deploy app-%02d v1 staging", i))
	}
	rep, err := h.Do("bob", "/deploy status")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, rep.Text, fmt.Sprintf("Active runs: %d, the newest 20 shown:", apps))
	contains(t, rep.Text, "… and 5 more: /deploy status <app> shows one app's")
	for i, id := range ids {
		shown := strings.Contains(rep.Text, fmt.Sprintf("#%d ", id))
		if want := i >= apps-20; shown != want {
			t.Errorf("run #%d (app-%02d) shown = %v, want %v:\n%s", id, i, shown, want, rep.Text)
		}
	}
	if first, last := strings.Index(rep.Text, fmt.Sprintf("#%d ", ids[apps-1])), strings.Index(rep.Text, fmt.Sprintf("#%d ", ids[apps-20])); first > last {
		t.Errorf("not newest first:\n%s", rep.Text)
	}

	one, err := h.Do("bob", "/deploy status app-03")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(one.Text, "Active runs:\n") || strings.Count(one.Text, "\n• ") != 1 || !strings.Contains(one.Text, fmt.Sprintf("#%d ", ids[3])) {
		t.Errorf("status of app-03 = %q, want its one run", one.Text)
	}
	none, err := h.Do("bob", "/deploy status demo")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, none.Text, "No active runs for demo.")
}

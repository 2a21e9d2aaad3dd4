package runbook_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

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

// /deploy status lists the newest 20 locks, newest first, and counts the
// rest, so a thousand locks do not make a reply too long for a chat
// message; naming an app shows its own lock.
func TestStatusListsTheNewestLocks(t *testing.T) {
	const locks = 25
	h := newHarnessWith(t, newExec(), func(c *runbook.Config) {
		for i := range locks {
			name := fmt.Sprintf("app-%02d", i)
			c.Policy.Apps[name] = runbook.App{Name: name, Executor: "fake"}
		}
	})
	for i := range locks {
		l := runbook.Lock{App: fmt.Sprintf("app-%02d", i), Env: "staging", Holder: user("alice"), Reason: "release freeze",
			Since: h.Clock.Now().Add(time.Duration(i) * time.Minute)}
		if err := h.Store.Hold(context.Background(), l); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := h.Do("bob", "/deploy status")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, rep.Text, "• … and 5 more locks: /deploy status <app> shows one app's")
	for i := range locks {
		shown := strings.Contains(rep.Text, fmt.Sprintf("app-%02d in staging is locked by alice", i))
		if want := i >= locks-20; shown != want {
			t.Errorf("lock of app-%02d shown = %v, want %v:\n%s", i, shown, want, rep.Text)
		}
	}
	if first, last := strings.Index(rep.Text, "app-24 in"), strings.Index(rep.Text, "app-05 in"); first > last {
		t.Errorf("not newest first:\n%s", rep.Text)
	}

	one, err := h.Do("bob", "/deploy status app-02")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(one.Text, "app-02 in staging is locked by alice") || strings.Contains(one.Text, "more locks") {
		t.Errorf("status of app-02 = %q, want its lock alone", one.Text)
	}
}

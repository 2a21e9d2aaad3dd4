package runbook_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"shipmate/internal/runbook"
	"shipmate/internal/store/dump"
)

// historyReads records the limit of every History read the engine makes.
type historyReads struct {
	runbook.Store
	mu     sync.Mutex
	limits []int
}

func (s *historyReads) History(ctx context.Context, app, env string, limit int) ([]*runbook.Run, error) {
	s.mu.Lock()
	s.limits = append(s.limits, limit)
	s.mu.Unlock()
	return s.Store.History(ctx, app, env, limit)
}

// take returns the limits asked since the last take, and forgets them.
func (s *historyReads) take() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.limits
	s.limits = nil
	return out
}

// A rollback of an environment with a long history reads only its newest
// runs when the answer is among them, from the command as from the Roll
// back button; a version named from far back is still found.
func TestRollbackReadsOnlyTheNewestRuns(t *testing.T) {
	fx := newExec()
	var reads *historyReads
	h := newHarnessWith(t, fx, func(c *runbook.Config) {
		reads = &historyReads{Store: c.Store}
		c.Store = reads
	})
	const runs = 300
	loadDeploys(t, h, runs)
	ids := make([]uint64, runs)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	small := func(what string) {
		t.Helper()
		limits := reads.take()
		if len(limits) == 0 || slices.Max(limits) > 10 {
			t.Errorf("%s read the history with limits %v, want one small page", what, limits)
		}
	}

	reads.take()
	if err := h.Act("bob", ids[runs-1], runbook.ButtonRollback, ""); err != nil {
		t.Fatal(err)
	}
	small("Roll back on the newest run")
	if j := fx.LastJob(); j.Action != runbook.ActionRollback || j.Version != "v299" || j.PreviousVersion != "v300" {
		t.Fatalf("Roll back on v300 ran %+v, want a rollback to v299", j)
	}

	h.Must("bob", "/deploy demo v301 dev")
	reads.take()
	h.Must("bob", "/rollback demo dev")
	small("/rollback")
	if j := fx.LastJob(); j.Version != "v299" || j.PreviousVersion != "v301" {
		t.Fatalf("/rollback ran %+v, want v301 back to v299", j)
	}

	h.Must("bob", "/rollback demo dev to v1")
	if d, _, _ := h.Store.Deployed(context.Background(), "demo", "development"); d.Version != "v1" {
		t.Fatalf("development runs %s after a rollback to v1", d.Version)
	}
	contains(t, h.Refused("bob", "/rollback demo dev to v9999"), "v9999 never ran there successfully")
}

// loadDeploys gives demo in development a history of n succeeded deploys
// by bob, v1 to vn, loaded straight into the store (deploying them one by
// one through the engine would take seconds), then restarts the engine on it.
func loadDeploys(t *testing.T, h *harness, n int) {
	t.Helper()
	items := []dump.Item{dump.Counter{LastID: uint64(n)}}
	for i := 1; i <= n; i++ {
		at := h.Clock.Now().Add(time.Duration(i-n) * time.Minute)
		r := &runbook.Run{ID: uint64(i), Rev: 1, Action: runbook.ActionDeploy, App: "demo", Env: "development",
			Version: fmt.Sprintf("v%d", i), Requester: user("bob"), Origin: runbook.Origin{Platform: "web", Channel: "general"},
			State: runbook.StateSucceeded, CreatedAt: at, UpdatedAt: at, StateSince: at}
		if i > 1 {
			r.PreviousVersion = fmt.Sprintf("v%d", i-1)
		}
		items = append(items, dump.Run{Run: r},
			dump.Succeeded{App: "demo", Env: "development", Version: r.Version, RunID: r.ID})
	}
	items = append(items, dump.Deployed{App: "demo", Env: "development",
		Deployed: runbook.Deployed{Version: fmt.Sprintf("v%d", n), RunID: uint64(n), At: h.Clock.Now()}})
	all := func(yield func(dump.Item, error) bool) {
		for _, it := range items {
			if !yield(it, nil) {
				return
			}
		}
	}
	if err := h.Store.Load(context.Background(), all); err != nil {
		t.Fatal(err)
	}
	h.Restart()
}

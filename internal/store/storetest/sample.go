package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"shipmate/internal/runbook"
	"shipmate/internal/store/dump"
)

// Loadable is a backend that also takes in a dump, as both stores do.
type Loadable interface {
	Backend
	dump.Loader
}

// Sample is what FillSample put in a store, to ask another store the
// same questions.
type Sample struct {
	Apps, Envs, Versions []string
	// Active is the run still deploying; it holds its app's lock.
	Active *runbook.Run
	// RefNames are the names chat references are kept under.
	RefNames []string
}

// FillSample gives the empty store s a history like a year of use: apps
// in several environments, runs finished every way and one still
// deploying with a long trail, rollbacks, chat references, explicit
// holds, runs dropped by retention whose succeeded versions the
// staging-first rule still knows, and what runs in an environment whose
// run went long ago. All but that last come through the store's ordinary
// API; the last is loaded from a dump, as the API can no longer make it
// (retention now keeps the run behind what runs).
func FillSample(t *testing.T, s Loadable) Sample {
	t.Helper()
	ctx := context.Background()
	sm := Sample{
		Apps:     []string{"web", "api", "billing", "batch"},
		Envs:     []string{"dev", "staging", "production"},
		Versions: []string{"v0.9", "v1", "v2", "v3", "v4"},
		RefNames: []string{"slack.summary", "discord/message", "web"},
	}
	loadLegacy(t, s)

	// Runs are made in the order of their days, as the bot makes them.
	// api: v1 and v2 succeeded in staging two months ago, then dozens of
	// failed attempts at v3.
	walk(t, s, "api", "staging", "v1", -61, runbook.StateSucceeded)
	walk(t, s, "api", "staging", "v2", -60, runbook.StateSucceeded)
	for d := range 40 {
		walk(t, s, "api", "staging", "v3", -59+d/2, runbook.StateFailed)
	}
	// web: v1 through staging and production, then v2 fails in production
	// and rolls back, and a rollback run undoes v1 there.
	var live *runbook.Run
	for i, env := range []string{"staging", "production"} {
		r := walk(t, s, "web", env, "v1", -40+i, runbook.StateSucceeded)
		if env == "production" {
			live = r
		}
		for j, name := range sm.RefNames {
			if err := s.SetRunRef(ctx, r.ID, name, fmt.Sprintf("C%d/1700000000.%04d", j, r.ID)); err != nil {
				t.Fatal(err)
			}
		}
	}
	walk(t, s, "web", "production", "v2", -30, runbook.StateRolledBack)
	rb := NewRun("web", "production", "v0.9")
	rb.Action, rb.RollbackOf, rb.PreviousVersion = runbook.ActionRollback, live.ID, "v1"
	rb.CreatedAt, rb.UpdatedAt = T0.AddDate(0, 0, -29), T0.AddDate(0, 0, -29)
	MustCreate(t, s, rb, Ev(runbook.EvRequested, "", runbook.StateRequested))
	Finish(t, s, rb, runbook.StateRolledBack)

	// batch: runs in dev ended every other way.
	for i, end := range []runbook.State{runbook.StateRejected, runbook.StateCancelled, runbook.StateExpired,
		runbook.StateInterrupted, runbook.StateRollbackFailed, runbook.StateSucceeded} {
		walk(t, s, "batch", "dev", fmt.Sprintf("v%d", i), -5+i, end)
	}
	// api: v4 is deploying now, with a long trail.
	sm.Active = walk(t, s, "api", "staging", "v4", 0, runbook.StateDeploying)
	var out []runbook.Event
	for i := range 300 {
		e := Ev(runbook.EvOutput, "", "")
		e.Detail = fmt.Sprintf("step output line %d", i)
		out = append(out, e)
	}
	if err := s.AppendEvents(ctx, sm.Active.ID, out...); err != nil {
		t.Fatal(err)
	}

	// Retention drops what ended over 45 days ago but the newest of each
	// app and environment and the runs behind what runs: api's v1 run
	// goes, and with it most failed v3 runs, but not that v1 succeeded.
	if n, err := s.PruneRuns(ctx, T0.AddDate(0, 0, -45), 1); err != nil || n == 0 {
		t.Fatalf("PruneRuns = %d, %v; want some pruned", n, err)
	}
	holdSome(t, s)
	return sm
}

// loadLegacy loads what is left of a store whose first five runs
// retention dropped long ago: what the fifth deployed still runs.
func loadLegacy(t *testing.T, s Loadable) {
	t.Helper()
	ctx := context.Background()
	legacy := []dump.Item{
		dump.Counter{LastID: 5},
		dump.Deployed{App: "billing", Env: "production", Deployed: runbook.Deployed{Version: "v0.9", RunID: 5, At: T0.AddDate(-1, 0, 0)}},
		dump.Succeeded{App: "billing", Env: "staging", Version: "v0.9", RunID: 4},
	}
	items := func(yield func(dump.Item, error) bool) {
		for _, it := range legacy {
			if !yield(it, nil) {
				return
			}
		}
	}
	if err := s.Load(ctx, items); err != nil {
		t.Fatalf("Load: %v", err)
	}
}

// holdSome places a freeze on production and a hold on web in staging.
func holdSome(t *testing.T, s Backend) {
	t.Helper()
	ctx := context.Background()
	for _, l := range []runbook.Lock{
		{App: "all", Env: "production", Holder: bob, Reason: "quarter-end freeze", Since: T0},
		{App: "web", Env: "staging", Holder: alice, Reason: "load test", Since: T0.Add(time.Hour)},
	} {
		if err := s.Hold(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
}

// walk makes a run of app at version in env created d days from T0 and
// takes it through the usual states to end, each step with its event.
func walk(t *testing.T, s Backend, app, env, version string, d int, end runbook.State) *runbook.Run {
	t.Helper()
	r := NewRun(app, env, version)
	r.PreviousVersion = "v0.9"
	r.CreatedAt = T0.AddDate(0, 0, d)
	r.UpdatedAt = r.CreatedAt
	MustCreate(t, s, r, Ev(runbook.EvRequested, "", runbook.StateRequested))
	path := []runbook.State{runbook.StateChecklist, runbook.StateAwaitingApproval, runbook.StateApproved, runbook.StateDeploying}
	for _, st := range path {
		if st == end {
			break
		}
		from := r.State
		r.State, r.UpdatedAt = st, r.UpdatedAt.Add(time.Minute)
		if st == runbook.StateApproved {
			r.Approvals = append(r.Approvals, runbook.Approval{By: bob, At: r.UpdatedAt, Artifact: "sha256:" + version})
		}
		MustSave(t, s, r, Ev(runbook.EvTransition, from, st))
	}
	if end.Terminal() {
		Finish(t, s, r, end)
	} else if r.State != end {
		from := r.State
		r.State = end
		MustSave(t, s, r, Ev(runbook.EvTransition, from, end))
	}
	return r
}

// Answers is what a store answers to the bot's reads about a Sample.
type Answers struct {
	// Records has every run up to one past the last id; nil for a run
	// that is not there.
	Records map[uint64]*runbook.Record
	History map[string][]uint64
	// Deployed and Succeeded are keyed "app/env" and "app/env/version".
	Deployed  map[string]runbook.Deployed
	Succeeded map[string]bool
	Refs      map[string]string
	Locks     []runbook.Lock
	Active    []uint64
}

// Ask asks s everything the bot reads, about what sm made.
func Ask(t testing.TB, s Backend, sm Sample) Answers {
	t.Helper()
	ctx := context.Background()
	a := Answers{Records: map[uint64]*runbook.Record{}, History: map[string][]uint64{},
		Deployed: map[string]runbook.Deployed{}, Succeeded: map[string]bool{}, Refs: map[string]string{}}
	recent, err := s.Recent(ctx, 1)
	if err != nil || len(recent) == 0 {
		t.Fatalf("Recent = %v, %v", recent, err)
	}
	for id := uint64(1); id <= recent[0].ID+1; id++ {
		rec, err := s.Record(ctx, id)
		if err != nil && !errors.Is(err, runbook.ErrRunNotFound) {
			t.Fatalf("Record(%d): %v", id, err)
		}
		a.Records[id] = rec
		for _, name := range sm.RefNames {
			if v, ok, err := s.RunRef(ctx, id, name); err != nil {
				t.Fatal(err)
			} else if ok {
				a.Refs[fmt.Sprintf("%d/%s", id, name)] = v
			}
		}
	}
	for _, app := range sm.Apps {
		for _, env := range append([]string{""}, sm.Envs...) {
			h, err := s.History(ctx, app, env, 0)
			if err != nil {
				t.Fatal(err)
			}
			a.History[app+"/"+env] = IDs(h)
			if env == "" {
				continue
			}
			if d, ok, err := s.Deployed(ctx, app, env); err != nil {
				t.Fatal(err)
			} else if ok {
				a.Deployed[app+"/"+env] = d
			}
			for _, v := range sm.Versions {
				ok, err := s.Succeeded(ctx, app, env, v)
				if err != nil {
					t.Fatal(err)
				}
				a.Succeeded[app+"/"+env+"/"+v] = ok
			}
		}
	}
	if a.Locks, err = s.Locks(ctx); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(a.Locks, func(x, y runbook.Lock) int {
		return cmp.Or(cmp.Compare(x.App, y.App), cmp.Compare(x.Env, y.Env))
	})
	a.Active = ActiveIDs(t, s)
	return a
}

// IgnoreRev compares runs but for Rev, each store's own guard against
// lost updates.
var IgnoreRev = cmpopts.IgnoreFields(runbook.Run{}, "Rev")

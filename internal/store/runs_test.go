package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
)

func newRun(app, env, version string) *runbook.Run {
	return &runbook.Run{
		Action:    runbook.ActionDeploy,
		App:       app,
		Env:       env,
		Version:   version,
		Requester: alice,
		Reason:    "release",
		Origin:    runbook.Origin{Platform: "slack", Channel: "C1"},
		State:     runbook.StateRequested,
		CreatedAt: t0,
		UpdatedAt: t0,
	}
}

func ev(typ string, from, to runbook.State) runbook.Event {
	return runbook.Event{At: t0, Type: typ, Actor: &alice, From: from, To: to}
}

func mustCreate(t testing.TB, s *Store, r *runbook.Run, evs ...runbook.Event) {
	t.Helper()
	if err := s.CreateRun(context.Background(), r, evs...); err != nil {
		t.Fatalf("CreateRun(%s/%s): %v", r.App, r.Env, err)
	}
}

func mustSave(t testing.TB, s *Store, r *runbook.Run, evs ...runbook.Event) {
	t.Helper()
	if err := s.SaveRun(context.Background(), r, evs...); err != nil {
		t.Fatalf("SaveRun(%d): %v", r.ID, err)
	}
}

// finish moves r to a terminal state and saves it.
func finish(t testing.TB, s *Store, r *runbook.Run, st runbook.State) {
	t.Helper()
	from := r.State
	r.State, r.UpdatedAt, r.FinishedAt = st, r.UpdatedAt.Add(time.Minute), r.UpdatedAt.Add(time.Minute)
	mustSave(t, s, r, ev(runbook.EvTransition, from, st))
}

func ids(runs []*runbook.Run) []uint64 {
	out := []uint64{}
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

func activeIDs(t testing.TB, s *Store) []uint64 {
	t.Helper()
	runs, err := s.ActiveRuns(context.Background())
	if err != nil {
		t.Fatalf("ActiveRuns: %v", err)
	}
	got := ids(runs)
	slices.Sort(got)
	return got
}

// runLock is the lock an active run r holds, but for its Reason text.
func runLock(r *runbook.Run) runbook.Lock {
	return runbook.Lock{App: r.App, Env: r.Env, Holder: r.Requester, Since: r.CreatedAt, RunID: r.ID}
}

var ignoreReason = cmpopts.IgnoreFields(runbook.Lock{}, "Reason")

// lockedBy asserts that err is a *runbook.LockedError for want.
func lockedBy(t testing.TB, err error, want runbook.Lock, opts ...cmp.Option) {
	t.Helper()
	var le *runbook.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("error = %v, want a *runbook.LockedError", err)
	}
	if d := cmp.Diff(want, le.Lock, opts...); d != "" {
		t.Errorf("LockedError.Lock (-want +got):\n%s", d)
	}
}

func TestCreateRunAssignsIDsAndStoresRun(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	var prev uint64
	for i, app := range []string{"web", "api", "worker"} {
		r := newRun(app, "prod", fmt.Sprintf("v%d", i))
		r.Rev = 7 // whatever the caller had is replaced
		mustCreate(t, s, r, ev(runbook.EvRequested, "", ""))
		if r.ID <= prev {
			t.Errorf("run %d got id %d after %d", i, r.ID, prev)
		}
		if r.Rev != 1 {
			t.Errorf("Rev = %d, want 1", r.Rev)
		}
		prev = r.ID
		got, err := s.Run(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(r, got); d != "" {
			t.Errorf("Run(%d) (-want +got):\n%s", r.ID, d)
		}
	}
	if _, err := s.Run(ctx, 999); !errors.Is(err, runbook.ErrRunNotFound) {
		t.Errorf("Run(999) error = %v, want ErrRunNotFound", err)
	}
}

func TestCreateRunTakesRunLock(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	first := newRun("web", "prod", "v1")
	first.CreatedAt = t0.Add(-time.Hour)
	mustCreate(t, s, first)

	second := newRun("web", "prod", "v2")
	second.Requester = bob
	err := s.CreateRun(ctx, second, ev(runbook.EvRequested, "", ""))
	lockedBy(t, err, runLock(first), ignoreReason)
	var le *runbook.LockedError
	if errors.As(err, &le) && !strings.Contains(le.Lock.Reason, first.Ref()) {
		t.Errorf("lock reason %q does not name the holder run %s", le.Lock.Reason, first.Ref())
	}
	if second.ID != 0 || second.Rev != 0 {
		t.Errorf("refused run got ID %d, Rev %d", second.ID, second.Rev)
	}

	// Other environments and other apps are free; the refused run stored
	// nothing, not even an id.
	other := newRun("web", "staging", "v2")
	mustCreate(t, s, other)
	if other.ID != first.ID+1 {
		t.Errorf("next id = %d, want %d (the refused run must not use one)", other.ID, first.ID+1)
	}
	mustCreate(t, s, newRun("web-api", "prod", "v1"))
	h, err := s.History(ctx, "web", "prod", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(h); !cmp.Equal(got, []uint64{first.ID}) {
		t.Errorf("History(web, prod) = %v, want only the first run", got)
	}

	// A finished run frees the lock.
	finish(t, s, first, runbook.StateCancelled)
	mustCreate(t, s, second)
}

func TestHoldBlocksCreateRun(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	hold := runbook.Lock{App: "web", Env: "prod", Holder: bob, Reason: "incident 42", Since: t0}
	if err := s.Hold(ctx, hold); err != nil {
		t.Fatal(err)
	}
	lockedBy(t, s.CreateRun(ctx, newRun("web", "prod", "v1")), hold)
	mustCreate(t, s, newRun("web", "staging", "v1"))
	mustCreate(t, s, newRun("api", "prod", "v1"))

	// Holding twice fails and names the existing hold.
	again := hold
	again.Holder, again.Reason = alice, "mine"
	lockedBy(t, s.Hold(ctx, again), hold)

	got, ok, err := s.Release(ctx, "web", "prod")
	if err != nil || !ok {
		t.Fatalf("Release = %v, %v", ok, err)
	}
	if d := cmp.Diff(hold, got); d != "" {
		t.Errorf("Release returned (-want +got):\n%s", d)
	}
	if _, ok, err := s.Release(ctx, "web", "prod"); err != nil || ok {
		t.Errorf("second Release = %v, %v; want ok=false", ok, err)
	}
	if _, ok, err := s.Release(ctx, "never", "held"); err != nil || ok {
		t.Errorf("Release of an unknown lock = %v, %v; want ok=false", ok, err)
	}
	mustCreate(t, s, newRun("web", "prod", "v1"))
}

func TestHoldAllBlocksEveryAppInEnv(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	freeze := runbook.Lock{App: "all", Env: "prod", Holder: bob, Reason: "code freeze", Since: t0}
	if err := s.Hold(ctx, freeze); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"web", "api", "all"} {
		lockedBy(t, s.CreateRun(ctx, newRun(app, "prod", "v1")), freeze)
	}
	mustCreate(t, s, newRun("web", "staging", "v1"))
	lockedBy(t, s.Hold(ctx, freeze), freeze)

	if got, ok, err := s.Release(ctx, "all", "prod"); err != nil || !ok || !cmp.Equal(got, freeze) {
		t.Fatalf("Release(all, prod) = %+v, %v, %v", got, ok, err)
	}
	mustCreate(t, s, newRun("web", "prod", "v1"))
}

func TestSaveRunRejectsStaleCopy(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	r := newRun("web", "prod", "v1")
	mustCreate(t, s, r, ev(runbook.EvRequested, "", ""))

	a, _ := s.Run(ctx, r.ID)
	b, _ := s.Run(ctx, r.ID)
	a.State, a.Note = runbook.StateChecklist, "from a"
	mustSave(t, s, a, ev(runbook.EvTransition, runbook.StateRequested, runbook.StateChecklist))
	if a.Rev != 2 {
		t.Errorf("Rev after save = %d, want 2", a.Rev)
	}

	b.State, b.Note = runbook.StateCancelled, "from b"
	err := s.SaveRun(ctx, b, ev(runbook.EvTransition, runbook.StateRequested, runbook.StateCancelled))
	if !errors.Is(err, runbook.ErrStale) {
		t.Fatalf("saving a stale copy: err = %v, want ErrStale", err)
	}
	if b.Rev != 1 {
		t.Errorf("stale copy's Rev changed to %d", b.Rev)
	}
	got, err := s.Run(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(a, got); d != "" {
		t.Errorf("stored run after a stale save (-want +got):\n%s", d)
	}
	evs, _ := s.Events(ctx, r.ID)
	if len(evs) != 2 {
		t.Errorf("stale save appended events: %+v", evs)
	}
	// The stale copy was terminal: it must not have released the lock.
	if got := activeIDs(t, s); !cmp.Equal(got, []uint64{r.ID}) {
		t.Errorf("ActiveRuns after a stale terminal save = %v", got)
	}
	if _, ok, _ := s.Deployed(ctx, "web", "prod"); ok {
		t.Errorf("stale save recorded a deployment")
	}

	ghost := newRun("web", "prod", "v1")
	ghost.ID, ghost.Rev = 999, 1
	if err := s.SaveRun(ctx, ghost); !errors.Is(err, runbook.ErrRunNotFound) {
		t.Errorf("SaveRun of an unknown run: err = %v, want ErrRunNotFound", err)
	}
}

func TestSaveRunTerminalReleasesRunLock(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	r := newRun("web", "prod", "v1")
	mustCreate(t, s, r)
	other := newRun("web", "staging", "v1")
	mustCreate(t, s, other)

	// Moving between active states keeps the lock.
	for _, st := range []runbook.State{runbook.StateChecklist, runbook.StateAwaitingApproval, runbook.StateDeploying} {
		r.State = st
		mustSave(t, s, r)
		lockedBy(t, s.CreateRun(ctx, newRun("web", "prod", "v2")), runLock(r), ignoreReason)
	}
	if got := activeIDs(t, s); !cmp.Equal(got, []uint64{r.ID, other.ID}) {
		t.Errorf("ActiveRuns = %v, want [%d %d]", got, r.ID, other.ID)
	}

	finish(t, s, r, runbook.StateSucceeded)
	if got := activeIDs(t, s); !cmp.Equal(got, []uint64{other.ID}) {
		t.Errorf("ActiveRuns after finishing = %v, want [%d]", got, other.ID)
	}
	locks, err := s.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]runbook.Lock{runLock(other)}, locks, ignoreReason); d != "" {
		t.Errorf("Locks after finishing (-want +got):\n%s", d)
	}
	mustCreate(t, s, newRun("web", "prod", "v2"))
}

func TestFinishingOldRunKeepsNewerRunsLock(t *testing.T) {
	// A run created in a terminal state takes no lock; saving it must not
	// release the lock of the active run of the same app and env.
	s := openTemp(t)
	old := newRun("web", "prod", "v0")
	old.State = runbook.StateRejected
	mustCreate(t, s, old)
	cur := newRun("web", "prod", "v1")
	mustCreate(t, s, cur)

	old.Note = "annotated"
	mustSave(t, s, old)
	lockedBy(t, s.CreateRun(context.Background(), newRun("web", "prod", "v2")), runLock(cur), ignoreReason)
	if got := activeIDs(t, s); !cmp.Equal(got, []uint64{cur.ID}) {
		t.Errorf("ActiveRuns = %v, want [%d]", got, cur.ID)
	}
}

func TestSaveRunRecordsLandedVersion(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		action   runbook.Action
		previous string
		end      runbook.State
		want     string // "" means Deployed is unchanged
	}{
		{"succeeded deploy", runbook.ActionDeploy, "v1", runbook.StateSucceeded, "v2"},
		{"rolled-back deploy", runbook.ActionDeploy, "v1", runbook.StateRolledBack, "v1"},
		{"rolled-back deploy without previous", runbook.ActionDeploy, "", runbook.StateRolledBack, ""},
		{"rollback run", runbook.ActionRollback, "v3", runbook.StateRolledBack, "v2"},
		{"failed deploy", runbook.ActionDeploy, "v1", runbook.StateFailed, ""},
		{"failed rollback", runbook.ActionDeploy, "v1", runbook.StateRollbackFailed, ""},
		{"failed rollback run", runbook.ActionRollback, "v3", runbook.StateRollbackFailed, ""},
		{"cancelled deploy", runbook.ActionDeploy, "v1", runbook.StateCancelled, ""},
		{"interrupted deploy", runbook.ActionDeploy, "v1", runbook.StateInterrupted, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t)
			// Something was deployed before: run 1 left "v0".
			base := newRun("web", "prod", "v0")
			mustCreate(t, s, base)
			finish(t, s, base, runbook.StateSucceeded)
			before, ok, err := s.Deployed(ctx, "web", "prod")
			if err != nil || !ok || before.Version != "v0" {
				t.Fatalf("Deployed after base run = %+v, %v, %v", before, ok, err)
			}

			r := newRun("web", "prod", "v2")
			r.Action, r.PreviousVersion = tt.action, tt.previous
			r.UpdatedAt = t0.Add(time.Hour)
			mustCreate(t, s, r)
			r.State = runbook.StateDeploying
			mustSave(t, s, r)
			if d, _, _ := s.Deployed(ctx, "web", "prod"); !cmp.Equal(d, before) {
				t.Errorf("an active run changed Deployed to %+v", d)
			}
			finish(t, s, r, tt.end)

			got, ok, err := s.Deployed(ctx, "web", "prod")
			if err != nil || !ok {
				t.Fatalf("Deployed = %v, %v", ok, err)
			}
			want := before
			if tt.want != "" {
				want = runbook.Deployed{Version: tt.want, RunID: r.ID, At: r.UpdatedAt}
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("Deployed (-want +got):\n%s", d)
			}
			if _, ok, _ := s.Deployed(ctx, "web", "staging"); ok {
				t.Errorf("Deployed(web, staging) set by a prod run")
			}
		})
	}
}

func TestEventsAppendInOrder(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	r := newRun("web", "prod", "v1")
	mustCreate(t, s, r, ev(runbook.EvRequested, "", ""), ev(runbook.EvNote, "", ""))
	other := newRun("api", "prod", "v1")
	mustCreate(t, s, other, ev(runbook.EvRequested, "", ""))

	r.State = runbook.StateChecklist
	mustSave(t, s, r, ev(runbook.EvTransition, runbook.StateRequested, runbook.StateChecklist))
	mustSave(t, s, r) // no events
	if err := s.AppendEvents(ctx, r.ID, ev(runbook.EvOutput, "", ""), ev(runbook.EvOutput, "", "")); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, other.ID, ev(runbook.EvOutput, "", "")); err != nil {
		t.Fatal(err)
	}
	r.State = runbook.StateCancelled
	mustSave(t, s, r, ev(runbook.EvTransition, runbook.StateChecklist, runbook.StateCancelled))

	got, err := s.Events(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []runbook.Event{
		ev(runbook.EvRequested, "", ""),
		ev(runbook.EvNote, "", ""),
		ev(runbook.EvTransition, runbook.StateRequested, runbook.StateChecklist),
		ev(runbook.EvOutput, "", ""),
		ev(runbook.EvOutput, "", ""),
		ev(runbook.EvTransition, runbook.StateChecklist, runbook.StateCancelled),
	}
	for i := range want {
		want[i].Seq = uint64(i + 1)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Events (-want +got):\n%s", d)
	}
	if got, _ := s.Events(ctx, other.ID); len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 2 {
		t.Errorf("Events of the other run = %+v", got)
	}

	// A run created without events has an empty trail.
	quiet := newRun("worker", "prod", "v1")
	mustCreate(t, s, quiet)
	if got, err := s.Events(ctx, quiet.ID); err != nil || len(got) != 0 {
		t.Errorf("Events of a run without events = %+v, %v", got, err)
	}

	if err := s.AppendEvents(ctx, 999, ev(runbook.EvNote, "", "")); !errors.Is(err, runbook.ErrRunNotFound) {
		t.Errorf("AppendEvents(999) error = %v, want ErrRunNotFound", err)
	}
	if _, err := s.Events(ctx, 999); !errors.Is(err, runbook.ErrRunNotFound) {
		t.Errorf("Events(999) error = %v, want ErrRunNotFound", err)
	}
}

func TestHistoryNewestFirstPerAppAndEnv(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	// Apps and envs whose names are prefixes of each other.
	want := map[[2]string][]uint64{}
	apps := []string{"web", "web-api", "we", "webx", "web\x01"}
	envs := []string{"prod", "prod-eu", "pro", "staging"}
	for round := range 3 {
		for _, app := range apps {
			for _, env := range envs {
				r := newRun(app, env, fmt.Sprintf("v%d", round))
				mustCreate(t, s, r)
				finish(t, s, r, runbook.StateSucceeded)
				want[[2]string{app, ""}] = append([]uint64{r.ID}, want[[2]string{app, ""}]...)
				want[[2]string{app, env}] = append([]uint64{r.ID}, want[[2]string{app, env}]...)
			}
		}
	}
	// One still active run shows up too.
	live := newRun("web", "prod", "v9")
	mustCreate(t, s, live)
	want[[2]string{"web", ""}] = append([]uint64{live.ID}, want[[2]string{"web", ""}]...)
	want[[2]string{"web", "prod"}] = append([]uint64{live.ID}, want[[2]string{"web", "prod"}]...)

	for k, w := range want {
		app, env := k[0], k[1]
		for _, limit := range []int{0, 1, 2, len(w), len(w) + 5} {
			h, err := s.History(ctx, app, env, limit)
			if err != nil {
				t.Fatal(err)
			}
			exp := w
			if limit > 0 && limit < len(w) {
				exp = w[:limit]
			}
			if got := ids(h); !cmp.Equal(got, exp) {
				t.Errorf("History(%q, %q, %d) = %v, want %v", app, env, limit, got, exp)
			}
			for _, r := range h {
				if r.App != app || (env != "" && r.Env != env) {
					t.Errorf("History(%q, %q) returned run %d of %s/%s", app, env, r.ID, r.App, r.Env)
				}
			}
		}
	}
	for _, q := range [][2]string{{"w", ""}, {"webs", ""}, {"web", "pr"}, {"web", "dev"}, {"", ""}} {
		if h, err := s.History(ctx, q[0], q[1], 0); err != nil || len(h) != 0 {
			t.Errorf("History(%q, %q) = %v, %v; want none", q[0], q[1], ids(h), err)
		}
	}
}

func TestLocksListsHoldsAndRunLocks(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if locks, err := s.Locks(ctx); err != nil || len(locks) != 0 {
		t.Fatalf("Locks of an empty store = %v, %v", locks, err)
	}
	holdA := runbook.Lock{App: "all", Env: "prod", Holder: bob, Reason: "freeze", Since: t0}
	holdB := runbook.Lock{App: "api", Env: "staging", Holder: alice, Reason: "testing", Since: t0.Add(time.Minute)}
	for _, l := range []runbook.Lock{holdA, holdB} {
		if err := s.Hold(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	web := newRun("web", "staging", "v1")
	web.CreatedAt = t0.Add(-time.Hour)
	mustCreate(t, s, web)
	worker := newRun("worker", "dev", "v1")
	worker.Requester = bob
	mustCreate(t, s, worker)
	done := newRun("cron", "dev", "v1")
	mustCreate(t, s, done)
	finish(t, s, done, runbook.StateSucceeded)

	locks, err := s.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Explicit holds first, then run locks; each group in key order.
	want := []runbook.Lock{holdA, holdB, runLock(web), runLock(worker)}
	if d := cmp.Diff(want, locks, cmpopts.IgnoreFields(runbook.Lock{}, "Reason")); d != "" {
		t.Errorf("Locks (-want +got):\n%s", d)
	}
	if len(locks) == 4 {
		if locks[0].Reason != "freeze" || locks[1].Reason != "testing" {
			t.Errorf("hold reasons = %q, %q", locks[0].Reason, locks[1].Reason)
		}
		for i, r := range []*runbook.Run{web, worker} {
			if l := locks[2+i]; !strings.Contains(l.Reason, r.Ref()) {
				t.Errorf("run lock reason %q does not name %s", l.Reason, r.Ref())
			}
		}
	}
}

func TestOpenRepairsIndexesOfFinishedRuns(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	done := newRun("web", "prod", "v1")
	mustCreate(t, s, done)
	finish(t, s, done, runbook.StateSucceeded)
	live := newRun("api", "prod", "v1")
	mustCreate(t, s, live)
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Damage the file as a crash of an older version might have: index
	// entries and run locks for a finished run and for a missing one.
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return errors.Join(
			tx.Bucket(bActive).Put(u64(done.ID), nil),
			tx.Bucket(bRunLocks).Put(key("web", "prod"), u64(done.ID)),
			tx.Bucket(bActive).Put(u64(404), nil),
			tx.Bucket(bRunLocks).Put(key("ghost", "prod"), u64(404)),
		)
	})
	rawView(t, path, func(tx *bolt.Tx) error {
		if tx.Bucket(bActive).Stats().KeyN != 3 || tx.Bucket(bRunLocks).Stats().KeyN != 3 {
			t.Fatalf("damage not written")
		}
		return nil
	})

	s = openAt(t, path)
	if got := activeIDs(t, s); !cmp.Equal(got, []uint64{live.ID}) {
		t.Errorf("ActiveRuns after repair = %v, want [%d]", got, live.ID)
	}
	locks, err := s.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]runbook.Lock{runLock(live)}, locks, ignoreReason); d != "" {
		t.Errorf("Locks after repair (-want +got):\n%s", d)
	}
	mustCreate(t, s, newRun("web", "prod", "v2"))
	mustCreate(t, s, newRun("ghost", "prod", "v1"))
	lockedBy(t, s.CreateRun(ctx, newRun("api", "prod", "v2")), runLock(live), ignoreReason)
}

func TestConcurrentWritesAllLand(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	const savers, creators, steps = 25, 25, 4
	runs := make([]*runbook.Run, savers)
	for i := range runs {
		runs[i] = newRun(fmt.Sprintf("saver-%02d", i), "prod", "v1")
		mustCreate(t, s, runs[i], ev(runbook.EvRequested, "", ""))
	}
	states := []runbook.State{runbook.StateChecklist, runbook.StateAwaitingApproval, runbook.StateApproved, runbook.StateSucceeded}

	created := make([][]*runbook.Run, creators)
	var wg sync.WaitGroup
	errs := make(chan error, (savers+creators)*steps)
	for i, r := range runs {
		wg.Go(func() {
			for step, st := range states {
				from := r.State
				r.State, r.Note = st, fmt.Sprintf("step %d", step)
				if err := s.SaveRun(ctx, r, ev(runbook.EvTransition, from, st)); err != nil {
					errs <- fmt.Errorf("saver %d step %d: %w", i, step, err)
					return
				}
			}
		})
	}
	for i := range creators {
		wg.Go(func() {
			for step := range steps {
				r := newRun(fmt.Sprintf("creator-%02d", i), fmt.Sprintf("env-%d", step), "v1")
				if err := s.CreateRun(ctx, r, ev(runbook.EvRequested, "", "")); err != nil {
					errs <- fmt.Errorf("creator %d step %d: %w", i, step, err)
					return
				}
				created[i] = append(created[i], r)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	seen := map[uint64]bool{}
	for _, r := range runs {
		seen[r.ID] = true
		got, err := s.Run(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Rev != 1+steps || got.State != runbook.StateSucceeded {
			t.Errorf("run %d: Rev %d, state %s; want Rev %d, succeeded", r.ID, got.Rev, got.State, 1+steps)
		}
		if evs, _ := s.Events(ctx, r.ID); len(evs) != 1+steps {
			t.Errorf("run %d has %d events, want %d", r.ID, len(evs), 1+steps)
		}
		if d, ok, _ := s.Deployed(ctx, r.App, "prod"); !ok || d.RunID != r.ID {
			t.Errorf("Deployed(%s) = %+v, %v", r.App, d, ok)
		}
	}
	for i, rs := range created {
		if len(rs) != steps {
			t.Errorf("creator %d stored %d runs, want %d", i, len(rs), steps)
		}
		for _, r := range rs {
			if seen[r.ID] {
				t.Errorf("id %d handed out twice", r.ID)
			}
			seen[r.ID] = true
			if got, err := s.Run(ctx, r.ID); err != nil || got.App != r.App || got.Env != r.Env {
				t.Errorf("Run(%d) = %+v, %v", r.ID, got, err)
			}
		}
	}
	if got, want := len(activeIDs(t, s)), creators*steps; got != want {
		t.Errorf("%d active runs, want %d", got, want)
	}
	if locks, _ := s.Locks(ctx); len(locks) != creators*steps {
		t.Errorf("%d locks, want %d", len(locks), creators*steps)
	}
}

func TestConcurrentSavesOfSameRevision(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	r := newRun("web", "prod", "v1")
	mustCreate(t, s, r)

	const n = 20
	results := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		c := *r // each writer has its own copy of the same revision
		c.Note = fmt.Sprintf("writer %d", i)
		wg.Go(func() {
			<-start
			e := ev(runbook.EvNote, "", "")
			e.Detail = c.Note
			results[i] = s.SaveRun(ctx, &c, e)
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range results {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("writers %d and %d both saved revision 1", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, runbook.ErrStale):
			t.Errorf("writer %d: err = %v, want ErrStale", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer succeeded")
	}
	got, err := s.Run(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("writer %d", winner); got.Rev != 2 || got.Note != want {
		t.Errorf("stored Rev %d, Note %q; want 2, %q", got.Rev, got.Note, want)
	}
	evs, _ := s.Events(ctx, r.ID)
	if len(evs) != 1 || evs[0].Detail != got.Note {
		t.Errorf("events = %+v, want only the winner's", evs)
	}
}

func TestStartupReadsOnlyActiveRuns(t *testing.T) {
	ctx := context.Background()
	path := dbPath(t)
	s := openAt(t, path)
	active := seedHistory(t, s, 20_000, false)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Overwrite some finished runs with garbage: start-up must not decode
	// them, because it must not read history at all.
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		runs := tx.Bucket(bRuns)
		// Only in the older half, so that History below reads clean runs.
		for id := uint64(1); id <= 10_000; id += 997 {
			if !slices.Contains(active, id) {
				if err := runs.Put(u64(id), []byte("not json")); err != nil {
					return err
				}
			}
		}
		return nil
	})

	s = openAt(t, path)
	if got := activeIDs(t, s); !cmp.Equal(got, active) {
		t.Errorf("ActiveRuns = %v, want %v", got, active)
	}
	// The history is there all the same, in the store's own layout.
	h, err := s.History(ctx, "app-003", "", 5)
	if err != nil || len(h) != 5 {
		t.Fatalf("History(app-003) = %d runs, %v", len(h), err)
	}
	for i := 1; i < len(h); i++ {
		if h[i].ID >= h[i-1].ID {
			t.Errorf("History not newest first: %v", ids(h))
		}
	}
	if evs, err := s.Events(ctx, h[0].ID); err != nil || len(evs) == 0 {
		t.Errorf("Events(%d) = %d, %v", h[0].ID, len(evs), err)
	}
}

func TestRecentAndRecord(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	var want []uint64
	for _, app := range []string{"web", "api", "web-api", "worker"} {
		r := newRun(app, "prod", "v1")
		mustCreate(t, s, r, ev(runbook.EvRequested, "", ""))
		want = append([]uint64{r.ID}, want...)
	}
	for _, limit := range []int{1, 3, 4, 10} {
		runs, err := s.Recent(ctx, limit)
		if err != nil {
			t.Fatal(err)
		}
		exp := want[:min(limit, len(want))]
		if got := ids(runs); !cmp.Equal(got, exp) {
			t.Errorf("Recent(%d) = %v, want %v", limit, got, exp)
		}
	}

	rec, err := s.Record(ctx, want[0])
	if err != nil {
		t.Fatal(err)
	}
	if rec.Run.ID != want[0] || len(rec.Events) != 1 || rec.Events[0].Type != runbook.EvRequested {
		t.Errorf("Record(%d) = %+v", want[0], rec)
	}
	quiet := newRun("cron", "prod", "v1")
	mustCreate(t, s, quiet)
	if rec, err := s.Record(ctx, quiet.ID); err != nil || rec.Events == nil || len(rec.Events) != 0 {
		t.Errorf("Record of a run without events = %+v, %v; want an empty, non-nil trail", rec, err)
	}
	if _, err := s.Record(ctx, 999); !errors.Is(err, runbook.ErrRunNotFound) {
		t.Errorf("Record(999) error = %v, want ErrRunNotFound", err)
	}
}

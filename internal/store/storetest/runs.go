package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/runbook"
)

func createRunAssignsIDs(t *testing.T, s Backend) {
	ctx := context.Background()
	var prev uint64
	for i, app := range []string{"web", "api", "worker"} {
		r := NewRun(app, "prod", fmt.Sprintf("v%d", i))
		r.Rev = 7 // whatever the caller had is replaced
		MustCreate(t, s, r, ev(runbook.EvRequested, "", ""))
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

func createRunTakesRunLock(t *testing.T, s Backend) {
	ctx := context.Background()
	first := NewRun("web", "prod", "v1")
	first.CreatedAt = T0.Add(-time.Hour)
	MustCreate(t, s, first)

	second := NewRun("web", "prod", "v2")
	second.Requester = bob
	err := s.CreateRun(ctx, second, ev(runbook.EvRequested, "", ""))
	LockedBy(t, err, RunLock(first), IgnoreReason)
	var le *runbook.LockedError
	if errors.As(err, &le) && !strings.Contains(le.Lock.Reason, first.Ref()) {
		t.Errorf("lock reason %q does not name the holder run %s", le.Lock.Reason, first.Ref())
	}
	if second.ID != 0 || second.Rev != 0 {
		t.Errorf("refused run got ID %d, Rev %d", second.ID, second.Rev)
	}

	// Other environments and other apps are free; the refused run stored
	// nothing, not even an id.
	other := NewRun("web", "staging", "v2")
	MustCreate(t, s, other)
	if other.ID != first.ID+1 {
		t.Errorf("next id = %d, want %d (the refused run must not use one)", other.ID, first.ID+1)
	}
	MustCreate(t, s, NewRun("web-api", "prod", "v1"))
	h, err := s.History(ctx, "web", "prod", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := IDs(h); !cmp.Equal(got, []uint64{first.ID}) {
		t.Errorf("History(web, prod) = %v, want only the first run", got)
	}

	// A finished run frees the lock.
	Finish(t, s, first, runbook.StateCancelled)
	MustCreate(t, s, second)
}

func holdBlocksCreateRun(t *testing.T, s Backend) {
	ctx := context.Background()
	// An incident freeze is a hold too: the run that froze is kept with it.
	hold := runbook.Lock{App: "web", Env: "prod", Holder: bob, Reason: "incident 42", Since: T0, IncidentRun: 7}
	if err := s.Hold(ctx, hold); err != nil {
		t.Fatal(err)
	}
	LockedBy(t, s.CreateRun(ctx, NewRun("web", "prod", "v1")), hold)
	MustCreate(t, s, NewRun("web", "staging", "v1"))
	MustCreate(t, s, NewRun("api", "prod", "v1"))

	// Holding twice fails and names the existing hold.
	again := hold
	again.Holder, again.Reason = alice, "mine"
	LockedBy(t, s.Hold(ctx, again), hold)

	got, ok, err := s.Release(ctx, "web", "prod", time.Time{})
	if err != nil || !ok {
		t.Fatalf("Release = %v, %v", ok, err)
	}
	if d := cmp.Diff(hold, got); d != "" {
		t.Errorf("Release returned (-want +got):\n%s", d)
	}
	if _, ok, err := s.Release(ctx, "web", "prod", time.Time{}); err != nil || ok {
		t.Errorf("second Release = %v, %v; want ok=false", ok, err)
	}
	if _, ok, err := s.Release(ctx, "never", "held", time.Time{}); err != nil || ok {
		t.Errorf("Release of an unknown lock = %v, %v; want ok=false", ok, err)
	}
	MustCreate(t, s, NewRun("web", "prod", "v1"))
}

func holdAllBlocksEveryApp(t *testing.T, s Backend) {
	ctx := context.Background()
	freeze := runbook.Lock{App: "all", Env: "prod", Holder: bob, Reason: "code freeze", Since: T0}
	if err := s.Hold(ctx, freeze); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"web", "api", "all"} {
		LockedBy(t, s.CreateRun(ctx, NewRun(app, "prod", "v1")), freeze)
	}
	MustCreate(t, s, NewRun("web", "staging", "v1"))
	LockedBy(t, s.Hold(ctx, freeze), freeze)

	if got, ok, err := s.Release(ctx, "all", "prod", time.Time{}); err != nil || !ok || !cmp.Equal(got, freeze) {
		t.Fatalf("Release(all, prod) = %+v, %v, %v", got, ok, err)
	}
	MustCreate(t, s, NewRun("web", "prod", "v1"))
}

func saveRunRejectsStale(t *testing.T, s Backend) {
	ctx := context.Background()
	r := NewRun("web", "prod", "v1")
	MustCreate(t, s, r, ev(runbook.EvRequested, "", ""))

	a, _ := s.Run(ctx, r.ID)
	b, _ := s.Run(ctx, r.ID)
	a.State, a.Note = runbook.StateChecklist, "from a"
	MustSave(t, s, a, ev(runbook.EvTransition, runbook.StateRequested, runbook.StateChecklist))
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
	if got := ActiveIDs(t, s); !cmp.Equal(got, []uint64{r.ID}) {
		t.Errorf("ActiveRuns after a stale terminal save = %v", got)
	}
	if _, ok, _ := s.Deployed(ctx, "web", "prod"); ok {
		t.Errorf("stale save recorded a deployment")
	}

	ghost := NewRun("web", "prod", "v1")
	ghost.ID, ghost.Rev = 999, 1
	if err := s.SaveRun(ctx, ghost); !errors.Is(err, runbook.ErrRunNotFound) {
		t.Errorf("SaveRun of an unknown run: err = %v, want ErrRunNotFound", err)
	}
}

func concurrentSavesOfSameRev(t *testing.T, s Backend) {
	ctx := context.Background()
	r := NewRun("web", "prod", "v1")
	MustCreate(t, s, r)

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

func concurrentWritesAllLand(t *testing.T, s Backend) {
	ctx := context.Background()
	const savers, creators, steps = 25, 25, 4
	runs := make([]*runbook.Run, savers)
	for i := range runs {
		runs[i] = NewRun(fmt.Sprintf("saver-%02d", i), "prod", "v1")
		MustCreate(t, s, runs[i], ev(runbook.EvRequested, "", ""))
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
				r := NewRun(fmt.Sprintf("creator-%02d", i), fmt.Sprintf("env-%d", step), "v1")
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
	if got, want := len(ActiveIDs(t, s)), creators*steps; got != want {
		t.Errorf("%d active runs, want %d", got, want)
	}
	if locks, _ := s.Locks(ctx); len(locks) != creators*steps {
		t.Errorf("%d locks, want %d", len(locks), creators*steps)
	}
}

func terminalReleasesRunLock(t *testing.T, s Backend) {
	ctx := context.Background()
	r := NewRun("web", "prod", "v1")
	MustCreate(t, s, r)
	other := NewRun("web", "staging", "v1")
	MustCreate(t, s, other)

	// Moving between active states keeps the lock.
	for _, st := range []runbook.State{runbook.StateChecklist, runbook.StateAwaitingApproval, runbook.StateDeploying} {
		r.State = st
		MustSave(t, s, r)
		LockedBy(t, s.CreateRun(ctx, NewRun("web", "prod", "v2")), RunLock(r), IgnoreReason)
	}
	if got := ActiveIDs(t, s); !cmp.Equal(got, []uint64{r.ID, other.ID}) {
		t.Errorf("ActiveRuns = %v, want [%d %d]", got, r.ID, other.ID)
	}

	Finish(t, s, r, runbook.StateSucceeded)
	if got := ActiveIDs(t, s); !cmp.Equal(got, []uint64{other.ID}) {
		t.Errorf("ActiveRuns after finishing = %v, want [%d]", got, other.ID)
	}
	locks, err := s.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]runbook.Lock{RunLock(other)}, locks, IgnoreReason); d != "" {
		t.Errorf("Locks after finishing (-want +got):\n%s", d)
	}
	MustCreate(t, s, NewRun("web", "prod", "v2"))
}

func finishingOldRunKeepsLock(t *testing.T, s Backend) {
	// A run created in a terminal state takes no lock; saving it must not
	// release the lock of the active run of the same app and env.
	old := NewRun("web", "prod", "v0")
	old.State = runbook.StateRejected
	MustCreate(t, s, old)
	cur := NewRun("web", "prod", "v1")
	MustCreate(t, s, cur)

	old.Note = "annotated"
	MustSave(t, s, old)
	LockedBy(t, s.CreateRun(context.Background(), NewRun("web", "prod", "v2")), RunLock(cur), IgnoreReason)
	if got := ActiveIDs(t, s); !cmp.Equal(got, []uint64{cur.ID}) {
		t.Errorf("ActiveRuns = %v, want [%d]", got, cur.ID)
	}
}

func recordsLandedVersion(t *testing.T, s Backend) {
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
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each case has an app of its own in the one store. Something
			// was deployed before: its first run left "v0".
			app := fmt.Sprintf("web-%d", i)
			base := NewRun(app, "prod", "v0")
			MustCreate(t, s, base)
			Finish(t, s, base, runbook.StateSucceeded)
			before, ok, err := s.Deployed(ctx, app, "prod")
			if err != nil || !ok || before.Version != "v0" {
				t.Fatalf("Deployed after base run = %+v, %v, %v", before, ok, err)
			}

			r := NewRun(app, "prod", "v2")
			r.Action, r.PreviousVersion = tt.action, tt.previous
			r.UpdatedAt = T0.Add(time.Hour)
			MustCreate(t, s, r)
			r.State = runbook.StateDeploying
			MustSave(t, s, r)
			if d, _, _ := s.Deployed(ctx, app, "prod"); !cmp.Equal(d, before) {
				t.Errorf("an active run changed Deployed to %+v", d)
			}
			Finish(t, s, r, tt.end)

			got, ok, err := s.Deployed(ctx, app, "prod")
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
			if _, ok, _ := s.Deployed(ctx, app, "staging"); ok {
				t.Errorf("Deployed(web, staging) set by a prod run")
			}
		})
	}
}

package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"shipmate/internal/runbook"
)

// runAt creates a run of app in env created at day d after t0 and, unless
// end is empty, finished an hour later in state end.
func runAt(t *testing.T, s *Store, app, env, version string, d int, end runbook.State) *runbook.Run {
	t.Helper()
	r := newRun(app, env, version)
	r.CreatedAt = t0.AddDate(0, 0, d)
	r.UpdatedAt = r.CreatedAt
	mustCreate(t, s, r, ev(runbook.EvRequested, "", runbook.StateRequested))
	if end != "" {
		from := r.State
		r.State, r.UpdatedAt, r.FinishedAt = end, r.CreatedAt.Add(time.Hour), r.CreatedAt.Add(time.Hour)
		mustSave(t, s, r, ev(runbook.EvTransition, from, end))
	}
	return r
}

func TestPruneRunsKeepsWhatIsStillNeeded(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	var old []*runbook.Run
	// Days 0-9: ten finished staging runs of web, the first two succeeded.
	for d := range 10 {
		state := runbook.StateFailed
		if d <= 1 {
			state = runbook.StateSucceeded
		}
		old = append(old, runAt(t, s, "web", "staging", "v"+string(rune('a'+d)), d, state))
	}
	// Day 3: the production deploy that put what runs there now.
	live := runAt(t, s, "web", "production", "va", 3, runbook.StateSucceeded)
	// Day 4: an api run that never finished (monitoring, say).
	stuck := runAt(t, s, "api", "staging", "v1", 4, "")
	// Day 100: recent runs.
	recent := runAt(t, s, "web", "staging", "vz", 100, runbook.StateCancelled)

	for _, r := range []*runbook.Run{old[0], old[1]} {
		if err := s.SetRunRef(ctx, r.ID, "slack.summary", "C1/1700000000.0001"); err != nil {
			t.Fatal(err)
		}
	}
	s = reopen(t, s)

	n, err := s.PruneRuns(ctx, t0.AddDate(0, 0, 50), 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.RunRef(ctx, old[0].ID, "slack.summary"); ok || err != nil {
		t.Errorf("the chat reference of pruned run #%d stayed (%v)", old[0].ID, err)
	}
	if v, ok, err := s.RunRef(ctx, old[1].ID, "slack.summary"); !ok || err != nil || v != "C1/1700000000.0001" {
		t.Errorf("the chat reference of kept run #%d = %q %v %v", old[1].ID, v, ok, err)
	}
	if _, ok, _ := s.RunRef(ctx, old[1].ID, "discord.summary"); ok {
		t.Error("a reference never set was found")
	}
	// Staging keeps its newest three (days 100, 9 and 8) and the run of
	// day 1, whose vb is what staging runs now (the later ones failed):
	// days 0 and 2-7 go.
	if n != 7 {
		t.Errorf("pruned %d runs, want 7", n)
	}
	for _, r := range append([]*runbook.Run{old[0]}, old[2:8]...) {
		if _, err := s.Run(ctx, r.ID); !errors.Is(err, runbook.ErrRunNotFound) {
			t.Errorf("run #%d (day %s) was kept: %v", r.ID, r.CreatedAt.Format("01-02"), err)
		}
		if _, err := s.Events(ctx, r.ID); !errors.Is(err, runbook.ErrRunNotFound) {
			t.Errorf("the trail of run #%d was kept: %v", r.ID, err)
		}
	}
	for _, r := range []*runbook.Run{old[1], old[8], old[9], live, stuck, recent} {
		if _, err := s.Run(ctx, r.ID); err != nil {
			t.Errorf("run #%d (%s %s) was pruned: %v", r.ID, r.App, r.Env, err)
		}
		if evs, err := s.Events(ctx, r.ID); err != nil || len(evs) == 0 {
			t.Errorf("the trail of run #%d: %d events (%v)", r.ID, len(evs), err)
		}
	}
	hist, err := s.History(ctx, "web", "staging", 100)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(hist), []uint64{recent.ID, old[9].ID, old[8].ID, old[1].ID}; !slices.Equal(got, want) {
		t.Errorf("staging history %v, want %v", got, want)
	}
	// Staging first still knows what succeeded there, pruned or not.
	for _, v := range []string{"va", "vb", "vc"} {
		want := v != "vc"
		if ok, err := s.Succeeded(ctx, "web", "staging", v); err != nil || ok != want {
			t.Errorf("Succeeded(web, staging, %s) = %v, %v; want %v", v, ok, err, want)
		}
	}
	if d, ok, err := s.Deployed(ctx, "web", "production"); err != nil || !ok || d.RunID != live.ID {
		t.Errorf("Deployed(web, production) = %+v %v %v", d, ok, err)
	}
	// A second prune finds nothing more.
	if n, err := s.PruneRuns(ctx, t0.AddDate(0, 0, 50), 3); err != nil || n != 0 {
		t.Errorf("second prune: %d, %v", n, err)
	}
	// New runs still get new ids.
	next := runAt(t, s, "web", "staging", "vy", 101, "")
	if next.ID <= recent.ID {
		t.Errorf("a run created after pruning got id %d, not above %d", next.ID, recent.ID)
	}
}

// A long history goes in several transactions, all of it.
func TestPruneRunsInBatches(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	const total = pruneBatch*2 + 37
	runs := make([]*runbook.Run, total)
	for i := range runs {
		r := newRun("web", "dev", "v1")
		r.State, r.FinishedAt = runbook.StateSucceeded, t0.Add(time.Minute)
		runs[i] = r
	}
	createMany(t, s, runs, func(*runbook.Run) []runbook.Event { return trail(runbook.StateSucceeded) })
	n, err := s.PruneRuns(ctx, t0.AddDate(0, 0, 1), 5)
	if err != nil || n != total-5 {
		t.Fatalf("PruneRuns = %d, %v; want %d", n, err, total-5)
	}
	left, err := s.Recent(ctx, total)
	if err != nil || len(left) != 5 {
		t.Fatalf("%d runs left (%v), want 5", len(left), err)
	}
}

package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"shipmate/internal/runbook"
)

func succeededIndex(t *testing.T, s Backend) {
	ctx := context.Background()
	ok := func(app, env, version string) bool {
		t.Helper()
		got, err := s.Succeeded(ctx, app, env, version)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	r := NewRun("web", "staging", "v1")
	MustCreate(t, s, r)
	r.State = runbook.StateMonitoring
	MustSave(t, s, r)
	if ok("web", "staging", "v1") {
		t.Fatal("a run still monitoring counts as succeeded")
	}
	r.State = runbook.StateSucceeded
	MustSave(t, s, r)
	if !ok("web", "staging", "v1") || ok("web", "staging", "v2") || ok("web", "production", "v1") || ok("web-api", "staging", "v1") {
		t.Fatal("the index answers for other versions, environments or apps")
	}
	failed := NewRun("web", "staging", "v2")
	MustCreate(t, s, failed)
	failed.State = runbook.StateRolledBack
	MustSave(t, s, failed)
	if ok("web", "staging", "v2") {
		t.Fatal("a rolled-back deploy counts as succeeded")
	}
}

func once(t *testing.T, s Backend) {
	ctx := context.Background()
	const ttl = 10 * time.Minute
	steps := []struct {
		key  string
		at   time.Duration
		want bool
	}{
		{"evt-1", 0, true},
		{"evt-1", time.Second, false},
		{"evt-2", time.Second, true}, // other keys are independent
		{"evt-1", ttl - time.Nanosecond, false},
		{"evt-1", ttl, true}, // the first sighting has expired
		{"evt-1", ttl + time.Minute, false},
		{"evt-2", ttl + time.Minute, true},
		{"slack/T1:evt 3%", 0, true}, // keys are opaque text
		{"slack/T1:evt 3%", 0, false},
	}
	for _, st := range steps {
		got, err := s.Once(ctx, st.key, ttl, T0.Add(st.at))
		if err != nil {
			t.Fatal(err)
		}
		if got != st.want {
			t.Errorf("Once(%s) at +%v = %v, want %v", st.key, st.at, got, st.want)
		}
	}

	// Many deliveries of one key at once: exactly one is the first.
	var wg sync.WaitGroup
	firsts := make(chan bool, 20)
	for range 20 {
		wg.Go(func() {
			first, err := s.Once(ctx, "evt-race", ttl, T0)
			if err != nil {
				t.Error(err)
			}
			firsts <- first
		})
	}
	wg.Wait()
	close(firsts)
	n := 0
	for f := range firsts {
		if f {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d of 20 concurrent deliveries were first, want 1", n)
	}
}

func pruneIdempotency(t *testing.T, s Backend) {
	ctx := context.Background()
	const n = 200
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			for i := w; i < n; i += 10 {
				ttl := time.Minute
				if i%2 == 1 {
					ttl = time.Hour
				}
				if first, err := s.Once(ctx, fmt.Sprintf("key-%05d", i), ttl, T0); err != nil || !first {
					t.Errorf("Once(key-%05d) = %v, %v", i, first, err)
				}
			}
		})
	}
	wg.Wait()

	removed, err := s.PruneIdempotency(T0.Add(2 * time.Minute))
	if err != nil || removed != n/2 {
		t.Errorf("PruneIdempotency = %d, %v; want %d", removed, err, n/2)
	}
	// The long-lived keys are still seen; the expired ones were dropped.
	for _, i := range []int{0, 1, n - 2, n - 1} {
		first, err := s.Once(ctx, fmt.Sprintf("key-%05d", i), time.Hour, T0.Add(3*time.Minute))
		if err != nil || first != (i%2 == 0) {
			t.Errorf("Once(key-%05d) after prune = %v, %v; want %v", i, first, err, i%2 == 0)
		}
	}
	if removed, err := s.PruneIdempotency(T0.Add(2 * time.Minute)); err != nil || removed != 0 {
		t.Errorf("second prune = %d, %v; want 0", removed, err)
	}
	// Left: the n/2 long-lived keys and the two seen again above.
	if removed, err := s.PruneIdempotency(T0.Add(3 * time.Hour)); err != nil || removed != n/2+2 {
		t.Errorf("prune after every ttl = %d, %v; want %d", removed, err, n/2+2)
	}
}

func runRefs(t *testing.T, s Backend) {
	ctx := context.Background()
	r := NewRun("web", "prod", "v1")
	MustCreate(t, s, r)
	other := NewRun("api", "prod", "v1")
	MustCreate(t, s, other)
	if _, ok, err := s.RunRef(ctx, r.ID, "slack.summary"); ok || err != nil {
		t.Errorf("RunRef before any was set = %v, %v", ok, err)
	}
	for _, set := range [][2]string{{"slack.summary", "C1/1"}, {"discord.summary", "D1/9"}, {"slack.summary", "C1/2"}} {
		if err := s.SetRunRef(ctx, r.ID, set[0], set[1]); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{"slack.summary": "C1/2", "discord.summary": "D1/9"} {
		if v, ok, err := s.RunRef(ctx, r.ID, name); !ok || err != nil || v != want {
			t.Errorf("RunRef(%s) = %q, %v, %v; want %q", name, v, ok, err, want)
		}
	}
	if _, ok, _ := s.RunRef(ctx, other.ID, "slack.summary"); ok {
		t.Error("another run's reference was found")
	}
}

// runAt creates a run of app in env created at day d after T0 and, unless
// end is empty, finished an hour later in state end.
func runAt(t *testing.T, s Backend, app, env, version string, d int, end runbook.State) *runbook.Run {
	t.Helper()
	r := NewRun(app, env, version)
	r.CreatedAt = T0.AddDate(0, 0, d)
	r.UpdatedAt = r.CreatedAt
	MustCreate(t, s, r, ev(runbook.EvRequested, "", runbook.StateRequested))
	if end != "" {
		from := r.State
		r.State, r.UpdatedAt, r.FinishedAt = end, r.CreatedAt.Add(time.Hour), r.CreatedAt.Add(time.Hour)
		MustSave(t, s, r, ev(runbook.EvTransition, from, end))
	}
	return r
}

func pruneRunsKeeps(t *testing.T, s Backend) {
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

	n, err := s.PruneRuns(ctx, T0.AddDate(0, 0, 50), 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.RunRef(ctx, old[0].ID, "slack.summary"); ok || err != nil {
		t.Errorf("the chat reference of pruned run #%d stayed (%v)", old[0].ID, err)
	}
	if v, ok, err := s.RunRef(ctx, old[1].ID, "slack.summary"); !ok || err != nil || v != "C1/1700000000.0001" {
		t.Errorf("the chat reference of kept run #%d = %q %v %v", old[1].ID, v, ok, err)
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
	if got, want := IDs(hist), []uint64{recent.ID, old[9].ID, old[8].ID, old[1].ID}; !slices.Equal(got, want) {
		t.Errorf("staging history %v, want %v", got, want)
	}
	if h, err := s.History(ctx, "web", "", 100); err != nil || len(h) != 5 {
		t.Errorf("History(web) after prune = %v, %v; want 5 runs", IDs(h), err)
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
	if n, err := s.PruneRuns(ctx, T0.AddDate(0, 0, 50), 3); err != nil || n != 0 {
		t.Errorf("second prune: %d, %v", n, err)
	}
	// New runs still get new ids.
	next := runAt(t, s, "web", "staging", "vy", 101, "")
	if next.ID <= recent.ID {
		t.Errorf("a run created after pruning got id %d, not above %d", next.ID, recent.ID)
	}
}

// forget: a forgotten key counts as new at its next sighting; other keys
// and a key never seen are left as they are.
func forget(t *testing.T, s Backend) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, k := range []string{"evt-1", "evt-2"} {
		if first, err := s.Once(ctx, k, time.Hour, now); err != nil || !first {
			t.Fatalf("Once(%s) = %v, %v", k, first, err)
		}
	}
	if err := s.Forget(ctx, "evt-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget(ctx, "never-seen"); err != nil {
		t.Fatalf("Forget of an unknown key: %v", err)
	}
	for _, st := range []struct {
		key  string
		want bool
	}{{"evt-1", true}, {"evt-1", false}, {"evt-2", false}} {
		got, err := s.Once(ctx, st.key, time.Hour, now.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if got != st.want {
			t.Errorf("Once(%s) after Forget = %v, want %v", st.key, got, st.want)
		}
	}
}

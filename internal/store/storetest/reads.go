package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"shipmate/internal/runbook"
)

func eventsAppendInOrder(t *testing.T, s Backend) {
	ctx := context.Background()
	r := NewRun("web", "prod", "v1")
	MustCreate(t, s, r, ev(runbook.EvRequested, "", ""), ev(runbook.EvNote, "", ""))
	other := NewRun("api", "prod", "v1")
	MustCreate(t, s, other, ev(runbook.EvRequested, "", ""))

	r.State = runbook.StateChecklist
	MustSave(t, s, r, ev(runbook.EvTransition, runbook.StateRequested, runbook.StateChecklist))
	MustSave(t, s, r) // no events
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
	MustSave(t, s, r, ev(runbook.EvTransition, runbook.StateChecklist, runbook.StateCancelled))

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
	quiet := NewRun("worker", "prod", "v1")
	MustCreate(t, s, quiet)
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

func historyNewestFirst(t *testing.T, s Backend) {
	ctx := context.Background()
	// Apps and envs whose names are prefixes of each other.
	want := map[[2]string][]uint64{}
	apps := []string{"web", "web-api", "we", "webx", "web\x01"}
	envs := []string{"prod", "prod-eu", "pro", "staging"}
	for round := range 3 {
		for _, app := range apps {
			for _, env := range envs {
				r := NewRun(app, env, fmt.Sprintf("v%d", round))
				MustCreate(t, s, r)
				Finish(t, s, r, runbook.StateSucceeded)
				want[[2]string{app, ""}] = append([]uint64{r.ID}, want[[2]string{app, ""}]...)
				want[[2]string{app, env}] = append([]uint64{r.ID}, want[[2]string{app, env}]...)
			}
		}
	}
	// One still active run shows up too.
	live := NewRun("web", "prod", "v9")
	MustCreate(t, s, live)
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
			if got := IDs(h); !cmp.Equal(got, exp) {
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
			t.Errorf("History(%q, %q) = %v, %v; want none", q[0], q[1], IDs(h), err)
		}
	}
}

func locksListsHoldsAndRunLocks(t *testing.T, s Backend) {
	ctx := context.Background()
	if locks, err := s.Locks(ctx); err != nil || len(locks) != 0 {
		t.Fatalf("Locks of an empty store = %v, %v", locks, err)
	}
	holdA := runbook.Lock{App: "all", Env: "prod", Holder: bob, Reason: "freeze", Since: T0}
	holdB := runbook.Lock{App: "api", Env: "staging", Holder: alice, Reason: "testing", Since: T0.Add(time.Minute)}
	for _, l := range []runbook.Lock{holdA, holdB} {
		if err := s.Hold(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	web := NewRun("web", "staging", "v1")
	web.CreatedAt = T0.Add(-time.Hour)
	MustCreate(t, s, web)
	worker := NewRun("worker", "dev", "v1")
	worker.Requester = bob
	MustCreate(t, s, worker)
	done := NewRun("cron", "dev", "v1")
	MustCreate(t, s, done)
	Finish(t, s, done, runbook.StateSucceeded)

	locks, err := s.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Explicit holds first, then run locks; each group in key order.
	want := []runbook.Lock{holdA, holdB, RunLock(web), RunLock(worker)}
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

func recentAndRecord(t *testing.T, s Backend) {
	ctx := context.Background()
	var want []uint64
	for _, app := range []string{"web", "api", "web-api", "worker"} {
		r := NewRun(app, "prod", "v1")
		MustCreate(t, s, r, ev(runbook.EvRequested, "", ""))
		want = append([]uint64{r.ID}, want...)
	}
	for _, limit := range []int{1, 3, 4, 10} {
		runs, err := s.Recent(ctx, limit)
		if err != nil {
			t.Fatal(err)
		}
		exp := want[:min(limit, len(want))]
		if got := IDs(runs); !cmp.Equal(got, exp) {
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
	quiet := NewRun("cron", "prod", "v1")
	MustCreate(t, s, quiet)
	if rec, err := s.Record(ctx, quiet.ID); err != nil || rec.Events == nil || len(rec.Events) != 0 {
		t.Errorf("Record of a run without events = %+v, %v; want an empty, non-nil trail", rec, err)
	}
	if _, err := s.Record(ctx, 999); !errors.Is(err, runbook.ErrRunNotFound) {
		t.Errorf("Record(999) error = %v, want ErrRunNotFound", err)
	}
}

// historySinceStopsAtWindow: HistorySince gives the runs of one app and
// environment created at or after since, newest first, up to the limit,
// past pages of older history and of other apps.
func historySinceStopsAtWindow(t *testing.T, s Backend) {
	ctx := context.Background()
	var inWindow []uint64 // newest first
	for i := range 40 {
		for _, app := range []string{"web", "web-api"} {
			r := NewRun(app, "prod", fmt.Sprintf("v%d", i))
			r.CreatedAt = T0.Add(time.Duration(i) * time.Hour)
			MustCreate(t, s, r)
			Finish(t, s, r, runbook.StateSucceeded)
			if app == "web" && i >= 15 {
				inWindow = append([]uint64{r.ID}, inWindow...)
			}
		}
	}
	since := T0.Add(15 * time.Hour)
	for _, limit := range []int{0, 1, 20, 25, 100} {
		h, err := s.HistorySince(ctx, "web", "prod", since, limit)
		if err != nil {
			t.Fatal(err)
		}
		want := inWindow
		if limit > 0 && limit < len(want) {
			want = want[:limit]
		}
		if got := IDs(h); !cmp.Equal(got, want) {
			t.Errorf("HistorySince(web, prod, +15h, %d) = %v, want %v", limit, got, want)
		}
	}
	if h, err := s.HistorySince(ctx, "web", "prod", T0.Add(100*time.Hour), 0); err != nil || len(h) != 0 {
		t.Errorf("HistorySince after the last run = %v, %v; want none", IDs(h), err)
	}
	if h, err := s.HistorySince(ctx, "web", "staging", T0, 0); err != nil || len(h) != 0 {
		t.Errorf("HistorySince of an environment with no runs = %v, %v; want none", IDs(h), err)
	}
}

// newestActiveCountsTheRest: NewestActive gives the newest unfinished runs,
// newest first, and counts them all; finished runs are in neither.
func newestActiveCountsTheRest(t *testing.T, s Backend) {
	ctx := context.Background()
	if runs, total, err := s.NewestActive(ctx, 5); err != nil || total != 0 || len(runs) != 0 {
		t.Fatalf("NewestActive of an empty store = %v, %d, %v", IDs(runs), total, err)
	}
	var active []uint64 // newest first
	for i := range 12 {
		r := NewRun(fmt.Sprintf("app-%d", i), "prod", "v1")
		MustCreate(t, s, r)
		if i%4 == 3 {
			Finish(t, s, r, runbook.StateSucceeded)
			continue
		}
		active = append([]uint64{r.ID}, active...)
	}
	for _, limit := range []int{0, 1, 5, len(active), 50} {
		runs, total, err := s.NewestActive(ctx, limit)
		if err != nil {
			t.Fatal(err)
		}
		want := active[:min(limit, len(active))]
		if total != len(active) || !cmp.Equal(IDs(runs), want, cmpopts.EquateEmpty()) {
			t.Errorf("NewestActive(%d) = %v, %d; want %v, %d", limit, IDs(runs), total, want, len(active))
		}
	}
}

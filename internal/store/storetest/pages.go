package storetest

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"shipmate/internal/runbook"
)

// runsPageWalksAnIndex: RunsPage gives runs newest first, restricted to an
// app, or to an app in one environment, up to its limit; a page asked for
// below the last run of the previous one goes on from there, and the pages
// together are the whole listing, nothing left out or given twice.
func runsPageWalksAnIndex(t *testing.T, s Backend) {
	ctx := context.Background()
	want := map[runbook.RunPage][]uint64{} // by App and Env, newest first
	// Apps and envs whose names are prefixes of each other.
	apps := []string{"web", "web-api", "we", "web/x"}
	envs := []string{"prod", "pro", "staging"}
	for i := range 60 {
		app, env := apps[i%len(apps)], envs[i/len(apps)%len(envs)]
		r := NewRun(app, env, "v1")
		MustCreate(t, s, r)
		Finish(t, s, r, runbook.StateSucceeded)
		for _, q := range []runbook.RunPage{{}, {App: app}, {App: app, Env: env}} {
			want[q] = append([]uint64{r.ID}, want[q]...)
		}
	}
	for _, q := range []runbook.RunPage{{}, {App: "web"}, {App: "web", Env: "pro"}, {App: "web/x", Env: "staging"}} {
		all := want[q]
		got, err := s.RunsPage(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(IDs(got), all) {
			t.Errorf("RunsPage(%+v) = %v, want %v", q, IDs(got), all)
		}
		for _, limit := range []int{1, 4, 7, len(all), 100} {
			var walked []uint64
			for page := q; ; {
				page.Limit = limit
				runs, err := s.RunsPage(ctx, page)
				if err != nil {
					t.Fatal(err)
				}
				if len(runs) > limit {
					t.Fatalf("RunsPage(%+v) gave %d runs", page, len(runs))
				}
				walked = append(walked, IDs(runs)...)
				if len(walked) > len(all) {
					t.Fatalf("pages of %d of %+v gave %v, more than the %d runs there are", limit, q, walked, len(all))
				}
				if len(runs) < limit {
					break
				}
				page.Before = runs[len(runs)-1].ID
			}
			if !cmp.Equal(walked, all) {
				t.Errorf("pages of %d of %+v = %v, want %v", limit, q, walked, all)
			}
		}
	}
	// Before need not be a run of the index: an id in between starts below it.
	q := runbook.RunPage{App: "web", Before: want[runbook.RunPage{App: "web"}][2] + 1, Limit: 2}
	if got, err := s.RunsPage(ctx, q); err != nil || !cmp.Equal(IDs(got), want[runbook.RunPage{App: "web"}][2:4]) {
		t.Errorf("RunsPage(%+v) = %v, %v; want %v", q, IDs(got), err, want[runbook.RunPage{App: "web"}][2:4])
	}
	for _, q := range []runbook.RunPage{
		{App: "nobody"}, {App: "nobody", Env: "prod"}, {App: "web", Env: "dev"}, {App: "web", Before: 1}, {Before: 1},
	} {
		if got, err := s.RunsPage(ctx, q); err != nil || len(got) != 0 {
			t.Errorf("RunsPage(%+v) = %v, %v; want nothing", q, IDs(got), err)
		}
	}
	if got, err := s.RunsPage(ctx, runbook.RunPage{Before: 1 << 40, Limit: 3}); err != nil ||
		!cmp.Equal(IDs(got), want[runbook.RunPage{}][:3], cmpopts.EquateEmpty()) {
		t.Errorf("RunsPage below an id not yet handed out = %v, %v; want the newest 3", IDs(got), err)
	}
}

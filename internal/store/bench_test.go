package store

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
)

// These benchmarks write to a real file in a temporary folder with fsync on,
// as the bot does, and with default Options. A lone write commits at once;
// writes arriving during a commit share the next one (groupCommit).

// realisticRun is a run of the size the engine stores mid-deployment: a
// checklist, approvals and the last lines of output (the engine keeps 12).
func realisticRun(app, env string) *runbook.Run {
	r := newRun(app, env, "v1.42.0")
	r.PreviousVersion = "v1.41.3"
	r.Artifact = "sha256:4f6c1b0e6a2f4d1c9e0b7a5d3c2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e"
	r.Origin.MessageRef = "1712345678.000100"
	r.State = runbook.StateDeploying
	r.Checklist = []runbook.CheckItem{
		{Key: "notes", Label: "Release notes reviewed", Done: true, By: &bob, At: t0},
		{Key: "migrations", Label: "Database migrations applied", Done: true, By: &bob, At: t0},
		{Key: "oncall", Label: "On-call engineer informed", Done: true, By: &alice, At: t0},
	}
	r.Approvals = []runbook.Approval{{By: bob, At: t0, Artifact: r.Artifact}}
	for i := range 12 {
		r.Log = append(r.Log, fmt.Sprintf("deployment %q rollout: %d of 12 updated replicas are available", app, i))
	}
	r.ExpiresAt = t0.Add(time.Hour)
	return r
}

// trail is the audit trail of a finished run: its request, checklist ticks,
// an approval, its transitions and a short deploy step's output (the engine
// stores every output line as an event).
func trail(end runbook.State) []runbook.Event {
	evs := []runbook.Event{ev(runbook.EvRequested, "", "")}
	for range 3 {
		evs = append(evs, ev(runbook.EvTick, "", ""))
	}
	evs = append(evs, ev(runbook.EvApproval, "", ""), ev(runbook.EvTransition, "", runbook.StateApproved),
		ev(runbook.EvTransition, "", runbook.StateDeploying))
	for i := range 12 {
		out := ev(runbook.EvOutput, "", "")
		out.Actor, out.Detail = nil, fmt.Sprintf("deploy: rollout: %d of 12 updated replicas are available", i)
		evs = append(evs, out)
	}
	return append(evs, ev(runbook.EvTransition, "", runbook.StateVerifying), ev(runbook.EvTransition, "", end))
}

// createMany stores runs through the store's API from many goroutines at
// once, so that each commit carries up to maxGroup of them.
func createMany(tb testing.TB, s *Store, runs []*runbook.Run, evs func(*runbook.Run) []runbook.Event) {
	tb.Helper()
	const workers = 1000
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(runs) {
					return
				}
				var e []runbook.Event
				if evs != nil {
					e = evs(runs[i])
				}
				if err := s.CreateRun(context.Background(), runs[i], e...); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		tb.Fatalf("CreateRun: %v", err)
	}
}

// seedHistory fills s with n finished runs of 40 apps in 3 environments and
// 5 active runs spread through the history (first, last and in between). It
// returns the active runs' ids, sorted. Heavy runs are of realistic size,
// with a 21-event audit trail; light ones are small, with one event, for
// tests that only need many of them.
//
// The runs go through CreateRun, so the file has exactly the store's own
// layout; finished runs are stored directly in their end state (no lock is
// taken, as for any terminal run), a thousand to a commit.
func seedHistory(tb testing.TB, s *Store, n int, heavy bool) []uint64 {
	tb.Helper()
	ends := []runbook.State{
		runbook.StateSucceeded, runbook.StateSucceeded, runbook.StateSucceeded, runbook.StateFailed,
		runbook.StateRolledBack, runbook.StateCancelled, runbook.StateRejected, runbook.StateExpired,
	}
	envs := []string{"dev", "staging", "prod"}
	var active []uint64
	const chunks = 4
	for c := range chunks + 1 {
		r := realisticRun(fmt.Sprintf("live-%d", c), "prod")
		mustCreate(tb, s, r, ev(runbook.EvRequested, "", ""))
		active = append(active, r.ID)
		if c == chunks {
			break
		}
		lo, hi := c*n/chunks, (c+1)*n/chunks
		runs := make([]*runbook.Run, 0, hi-lo)
		for i := lo; i < hi; i++ {
			app, env := fmt.Sprintf("app-%03d", i%40), envs[i%len(envs)]
			r := newRun(app, env, "v1")
			if heavy {
				r = realisticRun(app, env)
			}
			r.State = ends[i%len(ends)]
			r.FinishedAt = t0.Add(time.Hour)
			runs = append(runs, r)
		}
		createMany(tb, s, runs, func(r *runbook.Run) []runbook.Event {
			if heavy {
				return trail(r.State)
			}
			return []runbook.Event{ev(runbook.EvRequested, "", "")}
		})
	}
	slices.Sort(active)
	return active
}

// perSecond reports ops per second of wall-clock time under name.
func perSecond(b *testing.B, name string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), name)
}

// writerCounts are the numbers of concurrent writers the parallel
// benchmarks try, as multiples of GOMAXPROCS (b.SetParallelism).
func writerCounts() []int {
	return []int{1, 8, 64}
}

// BenchmarkCreateRun stores one new run (with its "requested" event) at a
// time: the latency of a single command, and a lone writer's throughput.
func BenchmarkCreateRun(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		r := realisticRun(fmt.Sprintf("app-%d", i), "prod")
		if err := s.CreateRun(ctx, r, ev(runbook.EvRequested, "", "")); err != nil {
			b.Fatal(err)
		}
	}
	perSecond(b, "runs/s")
}

// BenchmarkCreateRunParallel stores new runs from many writers at once, each
// for its own app so that no run lock is in the way.
func BenchmarkCreateRunParallel(b *testing.B) {
	for _, p := range writerCounts() {
		b.Run(fmt.Sprintf("writers=%d", p*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			s := openTemp(b)
			ctx := context.Background()
			var next atomic.Int64
			b.SetParallelism(p)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := realisticRun(fmt.Sprintf("app-%d", next.Add(1)), "prod")
					if err := s.CreateRun(ctx, r, ev(runbook.EvRequested, "", "")); err != nil {
						b.Error(err)
						return
					}
				}
			})
			perSecond(b, "runs/s")
		})
	}
}

// BenchmarkSaveRunParallel moves runs between states from many writers at
// once, each writer driving its own run, as the engine does for concurrent
// deployments: each op is one SaveRun with one event.
func BenchmarkSaveRunParallel(b *testing.B) {
	for _, p := range writerCounts() {
		b.Run(fmt.Sprintf("writers=%d", p*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			s := openTemp(b)
			ctx := context.Background()
			runs := make([]*runbook.Run, p*runtime.GOMAXPROCS(0))
			for i := range runs {
				runs[i] = realisticRun(fmt.Sprintf("app-%d", i), "prod")
			}
			createMany(b, s, runs, nil)
			var next atomic.Int64
			b.SetParallelism(p)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := runs[next.Add(1)-1]
				for pb.Next() {
					from, to := r.State, runbook.StateVerifying
					if from == to {
						to = runbook.StateDeploying
					}
					r.State, r.UpdatedAt = to, r.UpdatedAt.Add(time.Second)
					r.Log = append(r.Log[1:], fmt.Sprintf("step output after %d transitions", r.Rev))
					if err := s.SaveRun(ctx, r, ev(runbook.EvTransition, from, to)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			perSecond(b, "transitions/s")
		})
	}
}

// BenchmarkOpenWith100kRuns times start-up: Open (which also checks the
// schema and repairs the indexes in one write transaction) + ActiveRuns +
// Close, on an empty store and on one holding 100,000 finished runs and 5
// active ones. The file is in the page cache, as after a restart.
func BenchmarkOpenWith100kRuns(b *testing.B) {
	for _, n := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("runs=%d", n), func(b *testing.B) {
			path := dbPath(b)
			s, err := Open(path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			want := 0
			if n > 0 {
				want = len(seedHistory(b, s, n, true))
			}
			// The file grows in large steps; tx.Size is how much of it is used.
			var size int64
			_ = s.db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for b.Loop() {
				s, err := Open(path, Options{})
				if err != nil {
					b.Fatal(err)
				}
				active, err := s.ActiveRuns(ctx)
				if err != nil || len(active) != want {
					b.Fatalf("ActiveRuns = %d runs, %v; want %d", len(active), err, want)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size)/1e6, "data-MB")
		})
	}
}

// BenchmarkPruneRuns100k measures a first prune of a long history: 100,000
// realistic finished runs (with their 21-event trails), all past the
// retention but the newest 10 of each of 120 app/env pairs. Later hourly
// prunes find nothing and cost one scan of the app/env index.
func BenchmarkPruneRuns100k(b *testing.B) {
	const n = 100_000
	seeded := dbPath(b)
	s, err := Open(seeded, Options{})
	if err != nil {
		b.Fatal(err)
	}
	seedHistory(b, s, n, true)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(seeded)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var pruned int
	var again time.Duration
	for b.Loop() {
		b.StopTimer()
		path := dbPath(b)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			b.Fatal(err)
		}
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		pruned, err = s.PruneRuns(ctx, t0.AddDate(0, 0, 1), 10)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		began := time.Now()
		if n, err := s.PruneRuns(ctx, t0.AddDate(0, 0, 1), 10); err != nil || n != 0 {
			b.Fatalf("second prune: %d, %v", n, err)
		}
		again = time.Since(began)
		_ = s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(pruned), "runs-pruned")
	b.ReportMetric(float64(again.Microseconds())/1000, "ms-next-prune")
}

// BenchmarkCommitAfterFirstPrune times one small commit (a delivery key)
// on a store whose first retention prune dropped 98,800 of 100,000 runs:
// with its 191,000 free pages listed in every commit ("sparse"), and after
// CompactIfSparse rewrote it without them ("compacted").
func BenchmarkCommitAfterFirstPrune(b *testing.B) {
	path := dbPath(b)
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	seedHistory(b, s, 100_000, true)
	ctx := context.Background()
	if _, err := s.PruneRuns(ctx, t0.AddDate(0, 0, 1), 10); err != nil {
		b.Fatal(err)
	}
	commits := func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := s.Once(ctx, fmt.Sprintf("slack:%d.%s", i, b.Name()), time.Hour, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(freePages(s)), "free-pages")
	}
	b.Run("sparse", commits)
	res, err := s.CompactIfSparse()
	if err != nil || !res.Done {
		b.Fatalf("CompactIfSparse = %+v, %v", res, err)
	}
	b.Logf("compacted %d → %d MB in %v", res.Before>>20, res.After>>20, res.Took)
	b.Run("compacted", commits)
}

package runbook_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/clocktest"
	rb "shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
	"shipmate/internal/store"
)

// benchEngine returns an engine on a real store (fsync on every commit)
// whose policy has n apps, so that n runs can be requested without one
// app's lock refusing the next.
func benchEngine(b *testing.B, n int) (*rb.Engine, *store.Store) {
	b.Helper()
	st, err := store.Open(filepath.Join(b.TempDir(), "bench.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	p := examplePolicy()
	p.Apps = map[string]rb.App{}
	xs := map[string]rb.Executor{}
	fx := newExec()
	for i := range n {
		name := fmt.Sprintf("app%d", i)
		p.Apps[name] = rb.App{Name: name}
		xs[name] = fx.Executor()
	}
	e := rb.New(rb.Config{Store: st, Policy: p, Executors: xs, Chats: map[string]rb.Chat{"web": &runbooktest.Chat{}},
		Clock: clocktest.New(runbooktest.Monday10), Log: zerolog.Nop()})
	b.Cleanup(func() { e.Close(); st.Close() })
	return e, st
}

// BenchmarkCommandToStoredIntent measures a chat command from text to a
// stored run: parse, policy checks, and the fsynced write, under many
// concurrent users. The engine's follow-up work (posting the message,
// moving the run to its checklist) runs meanwhile, as in production.
func BenchmarkCommandToStoredIntent(b *testing.B) {
	for _, par := range []int{1, 50} {
		b.Run(fmt.Sprintf("concurrent=%d", par), func(b *testing.B) {
			e, _ := benchEngine(b, b.N)
			var next atomic.Int64
			origin := rb.Origin{Platform: "web", Channel: "bench"}
			b.SetParallelism(par)
			if par == 1 {
				b.SetParallelism(1)
			}
			b.ResetTimer()
			run := func() {
				i := next.Add(1) - 1
				_, _, err := e.Command(context.Background(), user("bob"), origin, "/deploy", fmt.Sprintf("app%d v1.2.3 staging", i))
				if err != nil {
					b.Error(err)
				}
			}
			if par == 1 {
				for range b.N {
					run()
				}
			} else {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						run()
					}
				})
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = e.Wait(ctx)
		})
	}
}

// BenchmarkTransitions measures stored run transitions per second: each
// op ticks or unticks a checklist item of one of many runs, a state change
// written with its audit event in one fsynced transaction.
func BenchmarkTransitions(b *testing.B) {
	const runs = 200
	e, _ := benchEngine(b, runs)
	ctx := context.Background()
	for i := range runs {
		if _, _, err := e.Command(ctx, user("bob"), rb.Origin{Platform: "web"}, "/deploy", fmt.Sprintf("app%d v1 staging", i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetParallelism(25) // 50 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			id := uint64(i%runs) + 1
			action := rb.ButtonTick
			if (i/runs)%2 == 1 {
				action = rb.ButtonUntick
			}
			if _, err := e.Act(ctx, user("alice"), id, action, "merged"); err != nil {
				b.Error(err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transitions/s")
}

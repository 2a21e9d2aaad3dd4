package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"shipmate/internal/runbook"
)

// BenchCreateAndSave measures a command's writes: a new run with its
// "requested" event, then one transition with its event — by one writer,
// and by 50 at once (each on an app of its own, as 50 people deploying
// different apps). It reports runs per second (a create and a save each).
func BenchCreateAndSave(b *testing.B, open Open) {
	for _, writers := range []int{1, 50} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range writers {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if err := createAndSave(ctx, s, fmt.Sprintf("app-%d", i)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
		})
	}
}

func createAndSave(ctx context.Context, s Backend, app string) error {
	r := NewRun(app, "prod", "v1.42.0")
	if err := s.CreateRun(ctx, r, ev(runbook.EvRequested, "", runbook.StateRequested)); err != nil {
		return err
	}
	r.State = runbook.StateChecklist
	return s.SaveRun(ctx, r, ev(runbook.EvTransition, runbook.StateRequested, runbook.StateChecklist))
}

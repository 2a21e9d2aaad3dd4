package store

import (
	"context"
	"testing"
	"time"

	"shipmate/internal/runbook"
)

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

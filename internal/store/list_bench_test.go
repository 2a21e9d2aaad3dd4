package store

import (
	"context"
	"testing"

	"shipmate/internal/runbook"
)

// BenchmarkListRuns100k lists runs the way GET /api/runs and bot runs do,
// from 100,000 realistic stored runs of 40 apps over three environments:
// one app's newest 50 and 1000, and an app the store has never seen. It
// reports how many runs each listing read from the store (runs/op).
//
// Measured on 2 cores (AMD EPYC), -benchtime 3x:
//
//	                 before (newest-first pages of all runs,  after (pages of the
//	                 each read again from the newest)         app's index, going on)
//	app, limit 50    258 ms, 4,032 runs read                  5.7 ms, 50 runs read
//	app, limit 1000  7.6 s, 131,008 runs read                 187 ms, 1,000 runs read
//	unknown app      16.8 s, 231,013 runs read                0.03 ms, none read
func BenchmarkListRuns100k(b *testing.B) {
	s := openTemp(b)
	seedHistory(b, s, 100_000, true)
	ctx := context.Background()
	cases := []struct {
		name string
		f    runbook.RunFilter
		want int
	}{
		{"app-limit-50", runbook.RunFilter{App: "app-007", Limit: 50}, 50},
		{"app-limit-1000", runbook.RunFilter{App: "app-007", Limit: 1000}, 1000},
		{"unknown-app", runbook.RunFilter{App: "nobody", Limit: 50}, 0},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			st := &countingLister{s: s}
			for b.Loop() {
				got, err := runbook.ListRuns(ctx, st, c.f)
				if err != nil || len(got) != c.want {
					b.Fatalf("ListRuns(%+v) = %d runs, %v; want %d", c.f, len(got), err, c.want)
				}
			}
			b.ReportMetric(float64(st.read)/float64(b.N), "runs/op")
		})
	}
}

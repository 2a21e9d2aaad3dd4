package dump_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"shipmate/internal/store/dump"
	"shipmate/internal/store/etcd/etcdtest"
)

// BenchmarkCopyAndCheck moves a store of 10,000 runs of 20 events from a
// bbolt file to etcd and back, as bot migrate does, and reports runs per
// second for each copy and each check.
func BenchmarkCopyAndCheck(b *testing.B) {
	ctx := context.Background()
	const runs = 10000
	items := synthetic(runs, 20)
	ep := etcdtest.Start(b)
	for i := range b.N {
		src := openBolt(b)
		if err := src.Load(ctx, seq(items)); err != nil {
			b.Fatal(err)
		}
		mid := openEtcd(b, ep, fmt.Sprintf("/bench-%d", i))
		back := openBolt(b)
		for _, step := range []struct {
			name     string
			from, to target
		}{{"bbolt-to-etcd", src, mid}, {"etcd-to-bbolt", mid, back}} {
			start := time.Now()
			if _, err := dump.Copy(ctx, step.from, step.to); err != nil {
				b.Fatal(err)
			}
			copied := time.Since(start)
			start = time.Now()
			if _, err := dump.Check(ctx, step.from, step.to); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(runs/copied.Seconds(), step.name+"-copy-runs/s")
			b.ReportMetric(runs/time.Since(start).Seconds(), step.name+"-check-runs/s")
		}
	}
}

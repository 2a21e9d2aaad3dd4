package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkPruneDeliveryKeys drops 200,000 expired delivery keys (an hour
// of a busy bot's commands) while one writer claims new ones, and reports
// the prune's time and the longest the writer waited for a claim.
func BenchmarkPruneDeliveryKeys(b *testing.B) {
	const n = 200_000
	ctx := context.Background()
	var worst, took time.Duration
	for b.Loop() {
		b.StopTimer()
		s, err := Open(dbPath(b), Options{})
		if err != nil {
			b.Fatal(err)
		}
		expiry := u64(uint64(t0.Add(time.Minute).UnixNano()))
		for lo := 0; lo < n; lo += 10_000 {
			err := s.update(func(tx *bolt.Tx) error {
				for i := lo; i < lo+10_000; i++ {
					if err := tx.Bucket(bIdem).Put(fmt.Appendf(nil, "slack:%d.%d.a1b2c3d4e5", i*7919%n, i), expiry); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		worst = 0
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				began := time.Now()
				if _, err := s.Once(ctx, fmt.Sprintf("slack:new.%d", i), 2*time.Hour, t0); err != nil {
					b.Error(err)
					return
				}
				worst = max(worst, time.Since(began))
			}
		})
		began := time.Now()
		dropped, err := s.PruneIdempotency(t0.Add(time.Hour))
		took = time.Since(began)
		close(stop)
		wg.Wait()
		if err != nil || dropped != n {
			b.Fatalf("PruneIdempotency = %d, %v; want %d", dropped, err, n)
		}
		b.StopTimer()
		_ = s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(took.Milliseconds()), "ms-prune")
	b.ReportMetric(float64(worst.Microseconds())/1000, "ms-longest-claim")
}

package etcdstore

import (
	"context"
	"testing"
	"time"

	"shipmate/internal/store/storetest"
)

// Forget makes the next sighting of a key the first again; other keys stay.
func TestForget(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	t0 := storetest.T0
	for _, k := range []string{"evt-1", "evt-2"} {
		if first, err := s.Once(ctx, k, time.Hour, t0); err != nil || !first {
			t.Fatalf("Once(%s) = %v, %v", k, first, err)
		}
	}
	if err := s.Forget(ctx, "evt-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget(ctx, "never-seen"); err != nil {
		t.Errorf("Forget of an unknown key: %v", err)
	}
	if first, err := s.Once(ctx, "evt-1", time.Hour, t0.Add(time.Second)); err != nil || !first {
		t.Errorf("Once(evt-1) after Forget = %v, %v; want true", first, err)
	}
	if first, err := s.Once(ctx, "evt-2", time.Hour, t0.Add(time.Second)); err != nil || first {
		t.Errorf("Once(evt-2) = %v, %v; want false", first, err)
	}
}

package backoff

import (
	"context"
	"testing"
	"time"
)

// The waits double from Min to Max, each somewhere in the upper half of
// its step, and start over after Reset.
func TestBackoff(t *testing.T) {
	b := &Backoff{Min: time.Second, Max: time.Minute}
	steps := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for round := range 2 {
		for i, s := range steps {
			step := s * time.Second
			if d := b.Next(); d < step/2 || d > step {
				t.Fatalf("round %d, wait %d: %v, want within [%v, %v]", round, i+1, d, step/2, step)
			}
		}
		b.Reset()
	}
	// However many failures, never beyond Max.
	capped := &Backoff{Min: time.Second, Max: 10 * time.Second}
	for range 1 << 12 {
		capped.Next()
	}
	if d := capped.Next(); d < 5*time.Second || d > 10*time.Second {
		t.Errorf("after 4,096 failures: %v, want within [5s, 10s]", d)
	}
	var zero Backoff // defaults: 1 s to 1 min
	if d := zero.Next(); d < DefaultMin/2 || d > DefaultMin {
		t.Errorf("default first wait %v", d)
	}
	for range 20 {
		zero.Next()
	}
	if d := zero.Next(); d < DefaultMax/2 || d > DefaultMax {
		t.Errorf("default longest wait %v", d)
	}
}

// Wait returns false at once when its context ends.
func TestBackoffWaitEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := &Backoff{Min: time.Hour, Max: time.Hour}
	if b.Wait(ctx) {
		t.Fatal("Wait = true after its context ended")
	}
	if !(&Backoff{Min: time.Nanosecond, Max: time.Nanosecond}).Wait(context.Background()) {
		t.Fatal("Wait = false on a live context")
	}
}

package chat

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
	var zero Backoff // defaults: 1 s to 1 min
	if d := zero.Next(); d < DefaultBackoffMin/2 || d > DefaultBackoffMin {
		t.Errorf("default first wait %v", d)
	}
	for range 20 {
		zero.Next()
	}
	if d := zero.Next(); d < DefaultBackoffMax/2 || d > DefaultBackoffMax {
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

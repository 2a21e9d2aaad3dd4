package store

import (
	"context"
	"testing"
	"time"
)

// A forgotten key counts as new at its next sighting; other keys and a
// key never seen are left as they are.
func TestForget(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for _, k := range []string{"evt-1", "evt-2"} {
		if first, err := s.Once(ctx, k, time.Hour, t0); err != nil || !first {
			t.Fatalf("Once(%s) = %v, %v", k, first, err)
		}
	}
	if err := s.Forget(ctx, "evt-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget(ctx, "never-seen"); err != nil {
		t.Fatalf("Forget of an unknown key: %v", err)
	}
	steps := []struct {
		key  string
		want bool
	}{
		{"evt-1", true}, // forgotten: the retry acts
		{"evt-1", false},
		{"evt-2", false}, // still remembered
	}
	for _, st := range steps {
		got, err := s.Once(ctx, st.key, time.Hour, t0.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if got != st.want {
			t.Errorf("Once(%s) after Forget = %v, want %v", st.key, got, st.want)
		}
	}
}

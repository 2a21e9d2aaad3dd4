package chat

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff spaces out the attempts to reconnect to a platform: Min after
// the first failure, doubling up to Max after each further one. Each wait
// is drawn at random from the upper half of its step, so that bots cut
// off together do not all come back in the same instant. A Backoff is
// used by one goroutine, the one that reconnects.
type Backoff struct {
	Min, Max time.Duration
	fails    int
}

// Defaults of a Backoff.
const (
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = time.Minute
)

// Next returns how long to wait before the next attempt, and counts a
// failure.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = DefaultBackoffMin
	}
	if hi < lo {
		hi = max(lo, DefaultBackoffMax)
	}
	d := lo
	for i := 0; i < b.fails && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	b.fails++
	return d/2 + rand.N(d/2+1)
}

// Reset starts over from Min: the connection was made.
func (b *Backoff) Reset() { b.fails = 0 }

// Wait waits out Next, and reports false if ctx ended first.
func (b *Backoff) Wait(ctx context.Context) bool {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

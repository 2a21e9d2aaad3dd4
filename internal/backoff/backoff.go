// Package backoff spaces out the attempts of whatever retries an outside
// service: a chat platform's connection, a webhook's delivery.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff spaces out the attempts at something that fails: Min after the
// first failure, doubling up to Max after each further one. Each wait is
// drawn at random from the upper half of its step, so that bots cut off
// together do not all come back in the same instant. A Backoff is used by
// one goroutine, the one that retries.
type Backoff struct {
	Min, Max time.Duration
	fails    int
}

// Defaults of a Backoff.
const (
	DefaultMin = time.Second
	DefaultMax = time.Minute
)

// Next returns how long to wait before the next attempt, and counts a
// failure.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = DefaultMin
	}
	if hi < lo {
		hi = max(lo, DefaultMax)
	}
	d := lo
	for i := 0; i < b.fails && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	b.fails++
	return d/2 + rand.N(d/2+1)
}

// Reset starts over from Min: the attempt succeeded.
func (b *Backoff) Reset() { b.fails = 0 }

// Wait waits out Next, and reports false if ctx ended first.
func (b *Backoff) Wait(ctx context.Context) bool { return Sleep(ctx, b.Next()) }

// Sleep waits for d, and reports false if ctx ended first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

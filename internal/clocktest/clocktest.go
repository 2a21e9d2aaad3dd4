// Package clocktest is a clock for tests: it tells the time it is set to
// and moves only when told, waking what waits for it. Safe for concurrent
// use.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a settable clock; it implements runbook.Clock and chat.Clock.
type Clock struct {
	mu      sync.Mutex
	t       time.Time
	waiters []waiter
}

// waiter is a channel After returned, due at a time.
type waiter struct {
	at time.Time
	ch chan time.Time
}

// New returns a clock at t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
	c.wake()
}

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.wake()
}

// After returns a channel that receives the clock's time once the clock
// has been moved d on (at once when d is not positive).
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{at: c.t.Add(d), ch: ch})
	c.wake()
	return ch
}

// Waiters returns how many channels of After have not received yet,
// so that a test can tell that what it drives is waiting for the clock.
func (c *Clock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// wake sends the time to the waiters now due. Callers hold c.mu.
func (c *Clock) wake() {
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.t) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.t
	}
	clear(c.waiters[len(kept):])
	c.waiters = kept
}

package store

import (
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// maxGroup bounds how many writes share one transaction, so that one
// commit's latency stays bounded under any load (bbolt's MaxBatchSize).
const maxGroup = 1000

// groupCommit shares transactions and fsyncs between concurrent writers
// without waiting for company: a writer that finds no commit in flight
// commits at once, alone; writers that arrive while a commit is in flight
// queue, and the moment it ends the first of them leads the next commit
// for the whole queue. A lone write therefore costs one fsync, and under
// load each fsync carries everything that arrived during the previous
// one, where bbolt's Batch would wait a fixed delay.
type groupCommit struct {
	// update runs one function in a write transaction and commits it.
	update func(func(*bolt.Tx) error) error

	mu      sync.Mutex
	busy    bool // a leader is committing or about to
	pending []*write
}

// write is one writer's function and where its outcome is handed back.
type write struct {
	fn   func(*bolt.Tx) error
	done chan outcome // buffered: the committer never blocks on it
}

// outcome is either the writer's result or the word that it leads the
// next commit (its own write is still pending then).
type outcome struct {
	err  error
	lead bool
}

// do commits fn, alone or with the writes queued beside it, and returns
// fn's own error. fn may run more than once (see run), so it must compute
// everything afresh from tx.
func (g *groupCommit) do(fn func(*bolt.Tx) error) error {
	w := &write{fn: fn, done: make(chan outcome, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, w)
	lead := !g.busy
	g.busy = true
	g.mu.Unlock()
	for {
		if lead {
			g.commitNext()
		}
		o := <-w.done
		if !o.lead {
			return o.err
		}
		lead = true
	}
}

// commitNext commits the queued writes (up to maxGroup), then hands the
// lead to the first writer still queued, or marks the committer idle.
// Every write it takes is answered before it returns.
func (g *groupCommit) commitNext() {
	g.mu.Lock()
	n := min(len(g.pending), maxGroup)
	group := g.pending[:n:n]
	g.pending = g.pending[n:]
	g.mu.Unlock()

	g.run(group)

	g.mu.Lock()
	if len(g.pending) == 0 {
		g.busy = false
		g.pending = nil
	} else {
		g.pending[0].done <- outcome{lead: true}
	}
	g.mu.Unlock()
}

// run commits group in one transaction. When a function fails, the
// transaction is rolled back, the failing function is run again alone (so
// that the error it returns is its own and nobody else's), and the others
// are committed without it, as bbolt's Batch does.
func (g *groupCommit) run(group []*write) {
	for len(group) > 0 {
		failed := -1
		err := g.update(func(tx *bolt.Tx) error {
			for i, w := range group {
				if err := call(w.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			// Committed (err nil) or the commit itself failed: either way
			// it is every writer's outcome.
			for _, w := range group {
				w.done <- outcome{err: err}
			}
			return
		}
		w := group[failed]
		w.done <- outcome{err: g.update(func(tx *bolt.Tx) error { return call(w.fn, tx) })}
		group = append(group[:failed:failed], group[failed+1:]...)
	}
}

// call runs fn, turning a panic into that writer's error, so that one
// faulty function neither takes the process down nor leaves the writers
// beside it waiting.
func call(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: write panicked: %v", p)
		}
	}()
	return fn(tx)
}

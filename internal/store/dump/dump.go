// Package dump is the neutral form in which a Shipmate store streams
// everything it holds (Dump) and another store takes it in (Load), so that
// a deployment can move between the bbolt file and etcd without either
// store knowing the other. Copy moves a store into an empty one; Check
// then reads both through their ordinary API and compares.
package dump

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"

	"shipmate/internal/runbook"
)

// Item is one thing a store holds, as Dump streams it and Load writes it:
// a Counter, a Run, a Hold, a Deployed or a Succeeded. What a store derives
// from these (the active set, the run locks of active runs, the history
// indexes) is not an item: Load rebuilds it.
type Item interface{ item() }

// Counter is the last run id the store handed out. A store loaded from a
// dump hands out ids above it, so that no id is ever used twice.
type Counter struct{ LastID uint64 }

// Run is a run with its whole audit trail and the references chat
// adapters keep for it (where its summary message is).
type Run struct {
	Run *runbook.Run
	// Events are the run's trail in order, each with its own Seq.
	Events []runbook.Event
	// Refs maps a reference's name to its value; nil when there are none.
	Refs map[string]string
}

// Hold is an explicit lock placed with /deploy lock.
type Hold struct{ Lock runbook.Lock }

// Deployed is what runs for App in Env as far as Shipmate knows. It is
// kept apart from the runs: the run behind it may be gone.
type Deployed struct {
	App, Env string
	runbook.Deployed
}

// Succeeded is an entry of the index the staging-first rule reads: a
// deploy of App at Version succeeded in Env (run RunID, which retention
// may have dropped since).
type Succeeded struct {
	App, Env, Version string
	RunID             uint64
}

func (Counter) item()   {}
func (Run) item()       {}
func (Hold) item()      {}
func (Deployed) item()  {}
func (Succeeded) item() {}

// Validate says what keeps r from being loaded as it is: a run needs an
// id, and its events strictly increasing seqs, which is what keeps their
// order in a store that keys them by seq.
func (r Run) Validate() error {
	if r.Run == nil || r.Run.ID == 0 {
		return errors.New("dump: a run without an id")
	}
	var last uint64
	for _, ev := range r.Events {
		if ev.Seq <= last {
			return fmt.Errorf("dump: run #%d: event seq %d follows %d", r.Run.ID, ev.Seq, last)
		}
		last = ev.Seq
	}
	return nil
}

// Dumper streams everything a store holds to fn, one item at a time, the
// counter first and then runs in id order. It pages through the store,
// holding at most one run's trail at once, and stops at fn's first error.
type Dumper interface {
	Dump(ctx context.Context, fn func(Item) error) error
}

// Loader writes items into an empty store, several to a transaction. It
// refuses a store that holds anything with a *NotEmptyError before it
// writes; an error after that leaves part of the items written.
type Loader interface {
	Load(ctx context.Context, items iter.Seq2[Item, error]) error
}

// NotEmptyError is a Loader's refusal of a store that already holds
// something: loading into it would mix two histories, and ids would clash.
type NotEmptyError struct {
	// Where names the store (a file, an etcd prefix).
	Where                            string
	Runs, Holds, Deployed, Succeeded int
}

func (e *NotEmptyError) Error() string {
	var held []string
	for _, c := range []struct {
		n    int
		noun string
	}{{e.Runs, "run"}, {e.Holds, "hold"}, {e.Deployed, "deployed version"}, {e.Succeeded, "succeeded version"}} {
		if c.n > 0 {
			held = append(held, plural(c.n, c.noun))
		}
	}
	return fmt.Sprintf("%s is not empty: it holds %s", e.Where, strings.Join(held, ", "))
}

// Counts tallies what went through a copy.
type Counts struct {
	Runs, Events, Refs, Holds, Deployed, Succeeded int
	// LastID is the run counter.
	LastID uint64
}

func (c *Counts) add(it Item) {
	switch it := it.(type) {
	case Counter:
		c.LastID = it.LastID
	case Run:
		c.Runs++
		c.Events += len(it.Events)
		c.Refs += len(it.Refs)
	case Hold:
		c.Holds++
	case Deployed:
		c.Deployed++
	case Succeeded:
		c.Succeeded++
	}
}

// String is the summary users read: "12 runs, 40 events, 2 holds, 3
// deployed versions".
func (c Counts) String() string {
	return fmt.Sprintf("%s, %s, %s, %s", plural(c.Runs, "run"), plural(c.Events, "event"),
		plural(c.Holds, "hold"), plural(c.Deployed, "deployed version"))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// errStopped ends a Dump whose reader stopped early.
var errStopped = errors.New("dump: the reader stopped")

// Items adapts src's Dump to the sequence a Loader reads, calling seen
// with each item first. src's error, if any, comes last in the sequence.
func Items(ctx context.Context, src Dumper, seen func(Item)) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		err := src.Dump(ctx, func(it Item) error {
			if seen != nil {
				seen(it)
			}
			if !yield(it, nil) {
				return errStopped
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopped) {
			yield(nil, err)
		}
	}
}

// Copy streams src into dst, which must be empty, and returns what it
// copied. Nothing of src is held in memory beyond a page and one run.
func Copy(ctx context.Context, src Dumper, dst Loader) (Counts, error) {
	var n Counts
	err := dst.Load(ctx, Items(ctx, src, n.add))
	return n, err
}

package dump

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"shipmate/internal/runbook"
)

// Store is what Check reads of a store: its dump, and the reads the bot
// and the chat adapters make of it.
type Store interface {
	Dumper
	Record(ctx context.Context, id uint64) (*runbook.Record, error)
	RunRef(ctx context.Context, id uint64, name string) (string, bool, error)
	History(ctx context.Context, app, env string, limit int) ([]*runbook.Run, error)
	ActiveRuns(ctx context.Context) ([]*runbook.Run, error)
	Deployed(ctx context.Context, app, env string) (runbook.Deployed, bool, error)
	Succeeded(ctx context.Context, app, env, version string) (bool, error)
	Locks(ctx context.Context) ([]runbook.Lock, error)
}

// historyDepth is how much of each app's history Check compares: what
// /deploy history and the console show.
const historyDepth = 50

// Check compares dst with src through their ordinary reads: every run of
// src with its trail and chat references, read from both; what is
// deployed where, the succeeded versions, the locks, the active runs and
// the newest history of each app and environment; and that dst holds no
// more than src. It returns src's counts, or an error naming the first
// difference.
func Check(ctx context.Context, src, dst Store) (Counts, error) {
	var want Counts
	pairs := map[[2]string]bool{}
	var window []Run
	flush := func() error {
		err := sameRuns(ctx, src, dst, window)
		window = window[:0]
		return err
	}
	err := src.Dump(ctx, func(it Item) error {
		want.add(it)
		r, isRun := it.(Run)
		if isRun {
			pairs[[2]string{r.Run.App, r.Run.Env}] = true
			window = append(window, r)
		}
		// The runs come first: the last of them are compared before
		// anything else, so that a run's difference is the one named.
		if len(window) == checkWindow || (!isRun && len(window) > 0) {
			if err := flush(); err != nil {
				return err
			}
		}
		switch it := it.(type) {
		case Deployed:
			return sameDeployed(ctx, src, dst, it.App, it.Env)
		case Succeeded:
			ok, err := dst.Succeeded(ctx, it.App, it.Env, it.Version)
			if err == nil && !ok {
				err = fmt.Errorf("the destination does not know that %s %s succeeded in %s", it.App, it.Version, it.Env)
			}
			return err
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return want, err
	}
	var got Counts
	if err := dst.Dump(ctx, func(it Item) error { got.add(it); return nil }); err != nil {
		return want, fmt.Errorf("read the destination: %w", err)
	}
	if d := want.diff(got); d != "" {
		return want, fmt.Errorf("the stores differ: %s", d)
	}
	if err := sameLocks(ctx, src, dst); err != nil {
		return want, err
	}
	if err := sameActive(ctx, src, dst); err != nil {
		return want, err
	}
	for p := range pairs {
		for _, env := range []string{p[1], ""} {
			if err := sameHistory(ctx, src, dst, p[0], env); err != nil {
				return want, err
			}
		}
	}
	return want, nil
}

// diff names the first count that differs between the source (c) and the
// destination (d), "" when none does.
func (c Counts) diff(d Counts) string {
	for _, f := range []struct {
		what      string
		src, dest uint64
	}{
		{"runs", uint64(c.Runs), uint64(d.Runs)}, {"events", uint64(c.Events), uint64(d.Events)},
		{"chat references", uint64(c.Refs), uint64(d.Refs)}, {"holds", uint64(c.Holds), uint64(d.Holds)},
		{"deployed versions", uint64(c.Deployed), uint64(d.Deployed)},
		{"succeeded versions", uint64(c.Succeeded), uint64(d.Succeeded)}, {"the run counter", c.LastID, d.LastID},
	} {
		if f.src != f.dest {
			return fmt.Sprintf("%s: %d in the source, %d in the destination", f.what, f.src, f.dest)
		}
	}
	return ""
}

// checkWindow is how many runs Check holds to compare at once, and
// checkReaders how many of them it reads at a time: reading one run from
// etcd takes two round trips, a millisecond or two, which one at a time
// made checking 100,000 runs take minutes.
const (
	checkWindow  = 64
	checkReaders = 8
)

// sameRuns compares the runs of window, several at once, and returns the
// difference of the first (in window's order) that differs.
func sameRuns(ctx context.Context, src, dst Store, window []Run) error {
	errs := make([]error, len(window))
	sem := make(chan struct{}, checkReaders)
	var wg sync.WaitGroup
	for i, it := range window {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = sameRun(ctx, src, dst, it)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// sameRun compares run it.Run.ID as both stores read it, and its chat
// references. Rev is left out: it is each store's guard against lost
// updates, and a run read from the destination saves there with the Rev
// it read.
func sameRun(ctx context.Context, src, dst Store, it Run) error {
	id := it.Run.ID
	a, err := src.Record(ctx, id)
	if err != nil {
		return fmt.Errorf("read run #%d from the source: %w", id, err)
	}
	b, err := dst.Record(ctx, id)
	if err != nil {
		return fmt.Errorf("run #%d in the destination: %w", id, err)
	}
	ra, rb := *a.Run, *b.Run
	ra.Rev, rb.Rev = 0, 0
	if d := firstDiff(ra, rb); d != "" {
		return fmt.Errorf("run #%d differs: %s", id, d)
	}
	if len(a.Events) != len(b.Events) {
		return fmt.Errorf("run #%d differs: %d events in the source, %d in the destination", id, len(a.Events), len(b.Events))
	}
	for i := range a.Events {
		if d := firstDiff(a.Events[i], b.Events[i]); d != "" {
			return fmt.Errorf("run #%d differs: event %d: %s", id, i+1, d)
		}
	}
	for name, want := range it.Refs {
		got, ok, err := dst.RunRef(ctx, id, name)
		if err != nil {
			return err
		}
		if !ok || got != want {
			return fmt.Errorf("run #%d differs: chat reference %s is %q in the source, %q in the destination", id, name, want, got)
		}
	}
	return nil
}

func sameDeployed(ctx context.Context, src, dst Store, app, env string) error {
	a, okA, err := src.Deployed(ctx, app, env)
	if err != nil {
		return err
	}
	b, okB, err := dst.Deployed(ctx, app, env)
	if err != nil {
		return err
	}
	if !okB {
		return fmt.Errorf("the destination does not know what runs for %s in %s", app, env)
	}
	if d := firstDiff(a, b); d != "" || !okA {
		return fmt.Errorf("what runs for %s in %s differs: %s", app, env, d)
	}
	return nil
}

func sameLocks(ctx context.Context, src, dst Store) error {
	a, err := src.Locks(ctx)
	if err != nil {
		return err
	}
	b, err := dst.Locks(ctx)
	if err != nil {
		return err
	}
	// The stores list locks in the order of their keys, which differ.
	byKey := func(x, y runbook.Lock) int {
		return cmp.Or(cmp.Compare(x.App, y.App), cmp.Compare(x.Env, y.Env), cmp.Compare(x.RunID, y.RunID))
	}
	slices.SortFunc(a, byKey)
	slices.SortFunc(b, byKey)
	// Walk both sorted lists side by side.
	for i, j := 0, 0; i < len(a) || j < len(b); {
		c := 0
		switch {
		case i == len(a):
			c = 1
		case j == len(b):
			c = -1
		default:
			c = byKey(a[i], b[j])
		}
		if c < 0 {
			return fmt.Errorf("the destination lacks the lock on %s", lockName(a[i]))
		}
		if c > 0 {
			return fmt.Errorf("the destination has a lock the source lacks, on %s", lockName(b[j]))
		}
		if d := firstDiff(a[i], b[j]); d != "" {
			return fmt.Errorf("the lock on %s differs: %s", lockName(a[i]), d)
		}
		i, j = i+1, j+1
	}
	return nil
}

func lockName(l runbook.Lock) string {
	if l.RunID != 0 {
		return fmt.Sprintf("%s in %s (run #%d)", l.App, l.Env, l.RunID)
	}
	return fmt.Sprintf("%s in %s (held by %s)", l.App, l.Env, l.Holder.Person)
}

func sameActive(ctx context.Context, src, dst Store) error {
	a, err := src.ActiveRuns(ctx)
	if err != nil {
		return err
	}
	b, err := dst.ActiveRuns(ctx)
	if err != nil {
		return err
	}
	if ia, ib := sortedIDs(a), sortedIDs(b); !slices.Equal(ia, ib) {
		return fmt.Errorf("the active runs differ: %v in the source, %v in the destination", ia, ib)
	}
	return nil
}

func sameHistory(ctx context.Context, src, dst Store, app, env string) error {
	a, err := src.History(ctx, app, env, historyDepth)
	if err != nil {
		return err
	}
	b, err := dst.History(ctx, app, env, historyDepth)
	if err != nil {
		return err
	}
	if ia, ib := ids(a), ids(b); !slices.Equal(ia, ib) {
		where := app
		if env != "" {
			where += " in " + env
		}
		return fmt.Errorf("the history of %s differs: %v in the source, %v in the destination", where, ia, ib)
	}
	return nil
}

func ids(runs []*runbook.Run) []uint64 {
	out := make([]uint64, len(runs))
	for i, r := range runs {
		out[i] = r.ID
	}
	return out
}

func sortedIDs(runs []*runbook.Run) []uint64 {
	out := ids(runs)
	slices.Sort(out)
	return out
}

// firstDiff compares a and b as they are stored, JSON, and describes the
// first field that differs ("" when none does). Both stores keep JSON, so
// equal text is equal values.
func firstDiff(a, b any) string {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil {
		return fmt.Sprintf("cannot compare: %v %v", errA, errB)
	}
	if bytes.Equal(ja, jb) {
		return ""
	}
	var fa, fb map[string]json.RawMessage
	if json.Unmarshal(ja, &fa) != nil || json.Unmarshal(jb, &fb) != nil {
		return fmt.Sprintf("source %s, destination %s", ja, jb)
	}
	keys := make([]string, 0, len(fa)+len(fb))
	for k := range fa {
		keys = append(keys, k)
	}
	for k := range fb {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		if !bytes.Equal(fa[k], fb[k]) {
			return fmt.Sprintf("%s is %s in the source, %s in the destination", k, orNone(fa[k]), orNone(fb[k]))
		}
	}
	return ""
}

func orNone(v json.RawMessage) string {
	if v == nil {
		return "absent"
	}
	return string(v)
}

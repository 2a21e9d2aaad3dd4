package runbook

import (
	"slices"
	"time"
)

// DORA holds the four keys of delivery performance of one app in one
// environment over a window of time, computed from the runs Shipmate
// stored:
//
//   - deployment frequency: successful deploys per day;
//   - lead time: from a deploy's request to its success;
//   - change failure rate: the finished deploys that failed or were rolled
//     back (by Shipmate itself, or later by a /rollback of them), over all
//     finished deploys — cancelled, rejected, expired and interrupted runs
//     deployed nothing and count in neither;
//   - time to restore: from a failure (a failed deploy's end, or the
//     request of the /rollback that undid a deploy) to the end of the next
//     successful deploy of the app in that environment.
//
// A deploy counts in the window its run finished in (as a failure too, when
// undone by a /rollback asked for by the window's end); a restore
// counts in the window its failure happened in.
type DORA struct {
	App, Env string
	From, To time.Time
	// Deploys is the successful deploys; PerDay is Deploys per day of the
	// window.
	Deploys int
	PerDay  float64
	// LeadTime and LeadTimeMean are the median and the mean of the
	// successful deploys' lead times (0 without any).
	LeadTime, LeadTimeMean time.Duration
	// Finished is the deploys that finished (succeeded, failed, rolled
	// back); Failures those of them that failed or were rolled back.
	Finished, Failures int
	// FailureRate is Failures / Finished (0 when none finished).
	FailureRate float64
	// Restores is the failures in the window that a later success
	// restored (by To); TimeToRestore
	// and TimeToRestoreMean the median and the mean of how long that took.
	Restores                         int
	TimeToRestore, TimeToRestoreMean time.Duration
	// Truncated says the history read did not reach back to From: the
	// figures cover only its newest runs.
	Truncated bool
}

// DORAOf computes the keys of app in env over (from, to] from runs, the
// runs of app in env (rollbacks included), in any order. Runs of other
// apps or environments are ignored.
func DORAOf(runs []*Run, app, env string, from, to time.Time) DORA {
	d := DORA{App: app, Env: env, From: from, To: to}
	var deploys []*Run
	undone := map[uint64]time.Time{} // deploy id → request of the rollback that undid it
	for _, r := range runs {
		if r.App != app || r.Env != env {
			continue
		}
		switch {
		case r.Action == ActionDeploy:
			deploys = append(deploys, r)
		case r.Action == ActionRollback && r.RollbackOf != 0 && r.State != StateCancelled:
			if t, ok := undone[r.RollbackOf]; !ok || r.CreatedAt.Before(t) {
				undone[r.RollbackOf] = r.CreatedAt
			}
		}
	}
	slices.SortFunc(deploys, func(a, b *Run) int { return a.FinishedAt.Compare(b.FinishedAt) })
	in := func(t time.Time) bool { return t.After(from) && !t.After(to) }
	var leads, restores []time.Duration
	for i, r := range deploys {
		failed, isFailure := failedAt(r, undone)
		isFailure = isFailure && !failed.After(to)
		if in(r.FinishedAt) && finished(r.State) {
			d.Finished++
			if isFailure {
				d.Failures++
			}
		}
		if r.State == StateSucceeded && in(r.FinishedAt) {
			d.Deploys++
			leads = append(leads, r.FinishedAt.Sub(r.CreatedAt))
		}
		if !isFailure || !in(failed) {
			continue
		}
		if next := nextSuccess(deploys[i+1:], failed); next != nil && !next.FinishedAt.After(to) {
			restores = append(restores, next.FinishedAt.Sub(failed))
		}
	}
	if days := to.Sub(from).Hours() / 24; days > 0 {
		d.PerDay = float64(d.Deploys) / days
	}
	if d.Finished > 0 {
		d.FailureRate = float64(d.Failures) / float64(d.Finished)
	}
	d.LeadTime, d.LeadTimeMean = median(leads), mean(leads)
	d.Restores = len(restores)
	d.TimeToRestore, d.TimeToRestoreMean = median(restores), mean(restores)
	return d
}

// finished reports whether a deploy in state s deployed something, well
// or not.
func finished(s State) bool {
	switch s {
	case StateSucceeded, StateFailed, StateRolledBack, StateRollbackFailed:
		return true
	}
	return false
}

// failedAt says whether deploy r failed and when: at its end when it failed
// or was rolled back by Shipmate, or when a /rollback of it was asked for.
func failedAt(r *Run, undone map[uint64]time.Time) (time.Time, bool) {
	switch r.State {
	case StateFailed, StateRolledBack, StateRollbackFailed:
		return r.FinishedAt, true
	case StateSucceeded:
		t, ok := undone[r.ID]
		return t, ok
	}
	return time.Time{}, false
}

// nextSuccess returns the first successful deploy among later (sorted by
// end) that ended after t.
func nextSuccess(later []*Run, t time.Time) *Run {
	for _, r := range later {
		if r.State == StateSucceeded && r.FinishedAt.After(t) {
			return r
		}
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

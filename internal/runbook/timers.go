package runbook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Tick does what the clock calls for: it expires stale approval requests
// and sends their one reminder, starts approved runs whose window opened,
// checks health and runs the metric analysis during monitoring and ends
// monitoring windows. The bot calls
// it every few seconds; tests call it after moving a fake clock.
func (e *Engine) Tick(ctx context.Context) error {
	ctx, done, leading := e.termCtx(ctx)
	if !leading {
		return nil // the leader keeps the time
	}
	defer done()
	runs, err := e.store.ActiveRuns(ctx)
	if err != nil {
		return err
	}
	now := e.now()
	var errs []error
	for _, r := range runs {
		e.callAside(r, false) // calls a stopped attempt left claimed
		switch r.State {
		case StateRequested, StateApproved:
			e.kick(r.ID, false)
		case StateChecklist, StateAwaitingApproval:
			switch {
			case r.State == StateChecklist && !r.RecheckAt.IsZero() && !now.Before(r.RecheckAt) &&
				(r.ExpiresAt.IsZero() || now.Before(r.ExpiresAt)):
				id := r.ID
				e.aside(id, "recheck", func(ctx context.Context) {
					if err := e.recheck(ctx, id); err != nil && !errors.Is(err, errMovedOn) && ctx.Err() == nil {
						e.log.Error().Err(err).Uint64("run", id).Msg("re-check automated items")
					}
				})
			case !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt):
				_, err = e.update(ctx, r.ID, func(r *Run) ([]Event, error) {
					if evs, ok := e.expireIfDue(r); ok {
						return evs, nil
					}
					return nil, errMovedOn
				})
			case !r.RemindAt.IsZero() && !now.Before(r.RemindAt):
				err = e.remind(ctx, r.ID)
			}
		case StateMonitoring:
			err = e.monitor(ctx, r)
		}
		if err != nil && !errors.Is(err, errMovedOn) {
			errs = append(errs, fmt.Errorf("run #%d: %w", r.ID, err))
		}
	}
	return errors.Join(errs...)
}

// liveNote is the note of a run that succeeded after monitoring: what ran
// well, and who confirmed its validation.
func (e *Engine) liveNote(r *Run, how string) string {
	note := fmt.Sprintf("%s %s is live in %s; %s", r.App, r.Version, r.Env, how)
	var by []string
	for _, it := range r.Validation {
		if it.Done && it.By != nil && !slices.Contains(by, it.By.String()) {
			by = append(by, it.By.String())
		}
	}
	if len(by) > 0 {
		note += "; validated by " + strings.Join(by, ", ")
	}
	return note
}

// itemLabels lists items by label, for notes.
func itemLabels(items []CheckItem) string {
	labels := make([]string, len(items))
	for i, it := range items {
		labels[i] = it.Label
	}
	return strings.Join(labels, "; ")
}

// remind records the one reminder of a pending approval; its call
// (calls.go) posts it, mentioning the approvers.
func (e *Engine) remind(ctx context.Context, id uint64) error {
	_, err := e.update(ctx, id, func(r *Run) ([]Event, error) {
		if r.RemindAt.IsZero() || (r.State != StateChecklist && r.State != StateAwaitingApproval) {
			return nil, errMovedOn
		}
		r.RemindAt = time.Time{}
		return []Event{e.event(EvReminder, nil, "reminder posted")}, nil
	})
	// The reminder itself is a call, stored with the event above.
	return err
}

// monitor ends a monitoring window that is over, or runs a due health
// check. A window that ends with post-deployment validation items open
// keeps the run monitored (health checks go on) until they are ticked or
// someone ends monitoring; the channel is told once.
func (e *Engine) monitor(ctx context.Context, r *Run) error {
	now := e.now()
	if !now.Before(r.MonitorUntil) && !r.AwaitingValidation {
		told := false
		var err error
		r, err = e.update(ctx, r.ID, func(r *Run) ([]Event, error) {
			told = false // fn may run again on a newer revision
			if r.State != StateMonitoring || r.AwaitingValidation {
				return nil, errMovedOn
			}
			evs := e.confirmAnalysis(r)
			if open := r.OpenValidation(); len(open) > 0 {
				r.AwaitingValidation, told = true, true
				return append(evs, e.event(EvStep, nil, fmt.Sprintf("monitoring window over; waiting for the post-deployment validation (%s)", itemLabels(open)))), nil
			}
			return append(evs, e.move(r, StateSucceeded, nil, e.liveNote(r, "monitoring showed no problem"))), nil
		})
		if err != nil || !told {
			return err
		}
		e.notifyAside(r, fmt.Sprintf("Run %s (%s): monitoring showed no problem, and the post-deployment validation still has %d open: %s. Tick them on the run's message, or End monitoring to finish without them.%s",
			r.Ref(), r.Title(), len(r.OpenValidation()), itemLabels(r.OpenValidation()), e.analysisPending(r)))
	}
	e.analyzeIfDue(r, now)
	hc, ok := e.executors[r.App].(HealthChecker)
	if !ok || now.Before(r.NextHealthAt) {
		return nil
	}
	j := job(r)
	e.aside(r.ID, "health", func(ctx context.Context) {
		herr := hc.Health(ctx, j)
		if ctx.Err() != nil {
			return
		}
		e.obs.Step(j.App, j.Env, "health", 0, herr)
		r, err := e.update(ctx, j.RunID, func(r *Run) ([]Event, error) {
			if r.State != StateMonitoring {
				return nil, errMovedOn
			}
			if herr != nil {
				return e.fail(r, fmt.Errorf("health check: %w", herr)), nil
			}
			env, _ := e.policy.Env(r.Env)
			r.NextHealthAt = e.now().Add(env.healthEvery())
			return nil, nil
		})
		if err != nil {
			if !errors.Is(err, errMovedOn) {
				e.log.Error().Err(err).Uint64("run", j.RunID).Msg("record health check")
			}
			return
		}
		if r.State == StateRollingBack {
			e.kick(r.ID, false)
		}
	})
	return nil
}

// notifyAside posts a notice about r in the background: the timer that
// decided on it does not wait for the chat.
func (e *Engine) notifyAside(r *Run, text string) {
	e.aside(r.ID, "notice", func(ctx context.Context) { e.notify(ctx, r, text) })
}

// asideKey names one kind of timer work on one run.
type asideKey struct {
	run  uint64
	what string
}

// aside runs fn in the background unless the same work on the same run is
// still in flight. Timers hand their outside calls (health checks, checks
// against Jenkins, chat notices) to it, so that a slow or hung service
// never holds up the clock for every other run.
func (e *Engine) aside(id uint64, what string, fn func(ctx context.Context)) {
	k := asideKey{id, what}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inFlight[k] {
		return
	}
	e.inFlight[k] = e.spawn(func(ctx context.Context) {
		defer func() {
			e.mu.Lock()
			delete(e.inFlight, k)
			e.mu.Unlock()
		}()
		fn(ctx)
	})
}

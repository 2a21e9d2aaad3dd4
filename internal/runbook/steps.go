package runbook

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// advance moves run id forward as far as it goes without a person: it
// prepares requested runs, starts approved ones, runs their steps, and on a
// resume re-attaches to (or gives up on) steps the last process left behind.
func (e *Engine) advance(ctx context.Context, id uint64, resumed bool) error {
	for ctx.Err() == nil {
		r, err := e.store.Run(ctx, id)
		if err != nil {
			return err
		}
		if r.State != StateRequested && r.Origin.MessageRef == "" {
			// Stored, but its message never went out (the bot stopped in
			// between): post it now.
			e.post(ctx, r)
		}
		var next bool
		switch r.State {
		case StateRequested:
			next, err = e.prepare(ctx, r)
		case StateApproved:
			next, err = e.start(ctx, r)
		case StateDeploying, StateRollingBack:
			switch {
			case resumed:
				next, err = e.reattach(ctx, r)
			case r.State == StateRollingBack:
				next, err = e.rollback(ctx, r)
			default:
				// A deploy step runs inline from start; seeing one here
				// means it is in flight elsewhere.
				return nil
			}
		case StateProcedure:
			next, err = e.procedureStep(ctx, r)
		case StateVerifying:
			// Verification only reads, so after a restart it simply runs again.
			next, err = e.verify(ctx, r)
		default:
			// Waiting for people (checklist, approval) or the clock
			// (monitoring), or finished.
			return nil
		}
		if err != nil || !next {
			return err
		}
		resumed = false
	}
	return ctx.Err()
}

// prepare posts a new run's message, resolves what it will deploy and moves
// it to the first state that waits for someone.
func (e *Engine) prepare(ctx context.Context, r *Run) (bool, error) {
	r, err := e.update(ctx, r.ID, func(r *Run) ([]Event, error) {
		if r.State != StateRequested {
			return nil, errMovedOn
		}
		env, err := e.env(r.Env)
		if err != nil {
			return nil, err
		}
		if r.Action == ActionRollback && len(r.Procedure) > 0 {
			ev := e.move(r, StateProcedure, nil, "")
			r.Note = procNote(r)
			return []Event{ev}, nil
		}
		if r.Action == ActionRollback {
			return []Event{e.move(r, StateRollingBack, nil, "")}, nil
		}
		var evs []Event
		if art, err := e.resolve(ctx, r); err != nil {
			return []Event{e.move(r, StateFailed, nil, fmt.Sprintf("cannot resolve what %s %s would deploy: %v", r.App, r.Version, err))}, nil
		} else if art != r.Artifact {
			r.Artifact = art
			evs = append(evs, e.event(EvStep, nil, "artifact: "+art))
		}
		checkEvs, _ := e.runChecks(ctx, r)
		evs = append(evs, checkEvs...)
		return append(evs, e.pend(r, env, nil)), nil
	})
	if errors.Is(err, errMovedOn) {
		return true, nil
	}
	if err == nil {
		// The message is posted once the run's state is stored and it
		// knows where it stands, so it shows its checklist and buttons
		// from the start.
		e.post(ctx, r)
	}
	if err == nil && r.Action == ActionRollback {
		e.tellOriginal(ctx, r.RollbackOf, r)
	}
	return err == nil && (r.State == StateApproved || r.State == StateRollingBack || r.State == StateProcedure), err
}

// pend moves r to checklist, awaiting approval or approved, whichever its
// environment's rules call for now, and sets the approval deadline.
func (e *Engine) pend(r *Run, env *Environment, actor *User) Event {
	to := pendingState(len(r.OpenItems()), len(r.Approvals), env.Approval.Count)
	if to != StateApproved && r.ExpiresAt.IsZero() {
		r.ExpiresAt = e.now().Add(env.Approval.expiry())
		r.RemindAt = env.Approval.remindAt(r.ExpiresAt)
	}
	note := ""
	switch to {
	case StateChecklist:
		note = fmt.Sprintf("checklist: %d of %d items open", len(r.OpenItems()), len(r.Checklist))
	case StateAwaitingApproval:
		note = fmt.Sprintf("waiting for approval by %s (%d of %d)", roleList(env.Approval.Roles), len(r.Approvals), env.Approval.Count)
	case StateApproved:
		note = "approved"
	}
	return e.move(r, to, actor, note)
}

// resolve asks the executor what r's version will deploy.
func (e *Engine) resolve(ctx context.Context, r *Run) (string, error) {
	x, err := e.executor(r.App)
	if err != nil {
		return "", err
	}
	res, ok := x.(Resolver)
	if !ok {
		return r.Version, nil
	}
	return res.Resolve(ctx, job(r))
}

// start begins the deploy of an approved run, after checking once more the
// rules that can change while it waited: freezes, the window, staging
// first, and whether the artifact is still the one approved.
func (e *Engine) start(ctx context.Context, r *Run) (bool, error) {
	if e.Draining() {
		return false, nil
	}
	r, err := e.update(ctx, r.ID, func(r *Run) ([]Event, error) {
		if r.State != StateApproved {
			return nil, errMovedOn
		}
		env, err := e.env(r.Env)
		if err != nil {
			return nil, err
		}
		if evs, err := e.notYet(ctx, r, env); evs != nil || err != nil {
			return evs, err
		}
		if err := e.checkRequires(ctx, r.App, r.Version, env); err != nil {
			return []Event{e.move(r, StateFailed, nil, ErrorMessage(err))}, nil
		}
		art, err := e.resolve(ctx, r)
		if err != nil {
			return []Event{e.move(r, StateFailed, nil, fmt.Sprintf("cannot resolve what %s %s would deploy: %v", r.App, r.Version, err))}, nil
		}
		var evs []Event
		if art != r.Artifact {
			old := r.Artifact
			r.Artifact = art
			if len(r.Approvals) > 0 {
				// Approvals are bound to what was approved, not to a name.
				r.Approvals = nil
				r.ExpiresAt = time.Time{}
				evs = append(evs, e.event(EvVoided, nil, fmt.Sprintf("artifact changed from %s to %s", old, art)), e.pend(r, env, nil))
				r.Note = fmt.Sprintf("the artifact changed (%s → %s) after approval: approvals are void, approve again", old, art)
				return evs, nil
			}
			evs = append(evs, e.event(EvStep, nil, "artifact: "+art))
		}
		// Automated checks are evaluated again just before execution: a
		// CI result can change after approval.
		checkEvs, ok := e.runChecks(ctx, r)
		evs = append(evs, checkEvs...)
		if !ok {
			if len(r.Approvals) > 0 {
				r.Approvals = nil
				evs = append(evs, e.event(EvVoided, &Shipmate, "an automated check fails before execution"))
			}
			r.ExpiresAt = time.Time{}
			evs = append(evs, e.pend(r, env, &Shipmate))
			r.Note = "an automated check fails now, approvals are void: " + joinQuoted(failingChecks(r))
			return evs, nil
		}
		// The baseline of the analysis is taken just before the deploy.
		evs = append(evs, e.takeBaseline(ctx, r, env)...)
		// The deploying state is stored before the executor is called:
		// after a crash the run is found deploying and never started twice.
		return append(evs, e.move(r, StateDeploying, nil, "")), nil
	})
	if errors.Is(err, errMovedOn) {
		return false, nil
	}
	if err != nil || r.State != StateDeploying {
		return err == nil && r.State == StateApproved, err
	}
	x, _ := e.executor(r.App)
	tail, stepErr := e.runStep(ctx, r, "deploy", func(ctx context.Context, p Progress) error {
		return x.Deploy(ctx, e.stepJob(ctx, r), p)
	})
	return e.afterStep(ctx, r.ID, StateDeploying, stepErr, tail)
}

// afterStep records the outcome of the step that ran while the run was in
// state during, and returns whether advance should go on.
func (e *Engine) afterStep(ctx context.Context, id uint64, during State, stepErr error, tail []string) (bool, error) {
	if ctx.Err() != nil {
		// Shutting down hard: leave the run as it is, to resume later.
		return false, ctx.Err()
	}
	r, err := e.update(ctx, id, func(r *Run) ([]Event, error) {
		if r.State != during {
			return nil, errMovedOn
		}
		if len(tail) > 0 {
			r.Log = tail // a step that printed nothing leaves the last output shown
		}
		if stepErr != nil {
			return e.fail(r, stepErr), nil
		}
		_, verifies := e.executors[r.App].(Verifier)
		switch next := stepDoneState(during, verifies, e.watched(r), len(r.Procedure) > 0); next {
		case StateProcedure:
			it := procItem(r, ProcRollback)
			it.Done, it.By, it.At, it.Detail = true, &Shipmate, e.now(), fmt.Sprintf("rolled back to %s", r.Version)
			ev := e.move(r, next, nil, "")
			r.Note = procNote(r)
			return []Event{e.event(EvTick, &Shipmate, fmt.Sprintf("%q: %s (rollback procedure)", it.Label, it.Detail)), ev}, nil
		case StateRolledBack:
			return []Event{e.move(r, next, nil, fmt.Sprintf("rolled back to %s", job(r).Version))}, nil
		case StateVerifying:
			return []Event{e.move(r, next, nil, "")}, nil
		}
		return e.verified(r), nil
	})
	if errors.Is(err, errMovedOn) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !r.State.Terminal() && r.State != StateMonitoring, nil
}

// stepJob is job(r) for a step: it carries the handle the step recorded
// before a restart, and a Save that records a new one at once.
func (e *Engine) stepJob(ctx context.Context, r *Run) Job {
	j := job(r)
	j.Handle = r.StepHandle
	j.Save = func(handle string) error {
		_, err := e.update(ctx, r.ID, func(r *Run) ([]Event, error) {
			if r.StepHandle == handle {
				return nil, errMovedOn
			}
			r.StepHandle = handle
			return []Event{e.event(EvStep, nil, "step handle: "+handle)}, nil
		})
		if errors.Is(err, errMovedOn) {
			return nil
		}
		return err
	}
	return j
}

// Sentinels that end an update without saving anything; each caller turns
// its own into the answer it means.
var (
	// errMovedOn: the run moved on meanwhile; there is nothing left to do.
	errMovedOn = errors.New("run moved on")
	// errNoChange: a tick or untick asked for what the item already is.
	errNoChange = errors.New("nothing to change")
	// errStepStopping: a running step was told to stop; its end is
	// recorded when the executor returns.
	errStepStopping = errors.New("stopping the step")
)

// watched reports whether a deploy of r is monitored (or waits for its
// post-deployment validation) once it is live.
func (e *Engine) watched(r *Run) bool {
	env, _ := e.policy.Env(r.Env)
	return env != nil && (env.Monitor > 0 || len(r.Validation) > 0)
}

// verified moves a run whose deploy checked out to monitoring, or straight
// to succeeded when its environment has no monitoring window.
func (e *Engine) verified(r *Run) []Event {
	if !e.watched(r) {
		return []Event{e.move(r, StateSucceeded, nil, fmt.Sprintf("%s %s is live in %s", r.App, r.Version, r.Env))}
	}
	env, _ := e.policy.Env(r.Env)
	now := e.now()
	r.MonitorUntil = now.Add(max(env.Monitor, 0))
	r.NextHealthAt = now.Add(env.healthEvery())
	e.analysisStarts(r, env, now)
	if env.Monitor <= 0 {
		// No window to watch: the run waits for its validation only.
		r.AwaitingValidation = true
		return []Event{e.move(r, StateMonitoring, nil, fmt.Sprintf("%s %s is live in %s; waiting for the post-deployment validation (%s)",
			r.App, r.Version, r.Env, itemLabels(r.OpenValidation())))}
	}
	return []Event{e.move(r, StateMonitoring, nil, fmt.Sprintf("monitoring until %s", fmtTime(r.MonitorUntil)))}
}

func (env *Environment) healthEvery() time.Duration {
	if env.HealthEvery <= 0 {
		return DefaultHealthEvery
	}
	return env.HealthEvery
}

// fail moves r to failed and, when there is something to go back to and
// the app does not hold failures for a human, on to rolling back, in the
// same write.
func (e *Engine) fail(r *Run, cause error) []Event {
	if r.State == StateRollingBack {
		return []Event{e.move(r, StateRollbackFailed, nil, "rollback failed: "+cause.Error())}
	}
	next := onFailure(r.State, r.Action, r.PreviousVersion, e.policy.Apps[r.App].HoldOnFailure)
	evs := []Event{e.move(r, StateFailed, nil, fmt.Sprintf("%s failed: %v", r.State.Label(), cause))}
	switch next {
	case failFirst:
		r.Note += fmt.Sprintf("; nothing to roll back to (first deployment of %s to %s)", r.App, r.Env)
	case failHold:
		r.Note += "; left as is for a human (on_failure: hold): use Roll back when ready"
	case failRollBack:
		evs = append(evs, e.move(r, StateRollingBack, nil, fmt.Sprintf("%s; rolling back to %s", r.Note, r.PreviousVersion)))
	}
	return evs
}

// verify runs the executor's smoke tests and validation.
func (e *Engine) verify(ctx context.Context, r *Run) (bool, error) {
	v, ok := e.executors[r.App].(Verifier)
	if !ok {
		return e.afterStep(ctx, r.ID, StateVerifying, nil, r.Log)
	}
	tail, stepErr := e.runStep(ctx, r, "verify", func(ctx context.Context, p Progress) error {
		return v.Verify(ctx, e.stepJob(ctx, r), p)
	})
	return e.afterStep(ctx, r.ID, StateVerifying, stepErr, tail)
}

// rollback runs the executor's rollback path for r.
func (e *Engine) rollback(ctx context.Context, r *Run) (bool, error) {
	x, err := e.executor(r.App)
	if err != nil {
		return false, err
	}
	tail, stepErr := e.runStep(ctx, r, "rollback", func(ctx context.Context, p Progress) error {
		return x.Rollback(ctx, e.stepJob(ctx, r), p)
	})
	return e.afterStep(ctx, r.ID, StateRollingBack, stepErr, tail)
}

// reattach handles a run found mid-step at start-up.
func (e *Engine) reattach(ctx context.Context, r *Run) (bool, error) {
	var unknown error
	if ra, ok := e.executors[r.App].(Reattacher); ok {
		during := r.State
		tail, stepErr := e.runStep(ctx, r, "reattach", func(ctx context.Context, p Progress) error {
			return ra.Reattach(ctx, e.stepJob(ctx, r), p)
		})
		if !errors.Is(stepErr, ErrOutcomeUnknown) || ctx.Err() != nil {
			return e.afterStep(ctx, r.ID, during, stepErr, tail)
		}
		unknown = stepErr
	}
	_, err := e.update(ctx, r.ID, func(r *Run) ([]Event, error) {
		if r.State != StateDeploying && r.State != StateRollingBack {
			return nil, errMovedOn
		}
		what := "deploying " + r.Version
		if j := job(r); j.Action == ActionRollback {
			what = "rolling back to " + j.Version
		}
		note := fmt.Sprintf("Shipmate stopped while %s; the step's outcome is unknown", what)
		if unknown != nil {
			note = fmt.Sprintf("Shipmate stopped while %s: %v", what, unknown)
		}
		return []Event{e.move(r, StateInterrupted, nil, fmt.Sprintf(
			"%s. Check %s in %s, then deploy again or roll back", note, r.App, r.Env))}, nil
	})
	if errors.Is(err, errMovedOn) {
		err = nil
	}
	return false, err
}

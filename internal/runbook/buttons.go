package runbook

import (
	"context"
	"fmt"
	"slices"

	"shipmate/internal/commands"
)

// Act carries out a button press or checklist tick (or its text fallback)
// by u on run id. Every rule is checked now, against the stored run, not
// against the message the user clicked on. For ticks, arg is the item key;
// for rejections, the reason; for approvals, the Value of the button the
// user saw ("" when typed), which binds the approval to what it showed.
// A refusal goes to the audit log.
func (e *Engine) Act(ctx context.Context, u User, id uint64, action ButtonAction, arg string) (Reply, error) {
	rep, err := e.act(ctx, u, id, action, arg)
	e.auditRefused(ctx, u, nil, id, err)
	return rep, err
}

// act is Act without the audit of a refusal, for commands (which Command
// audits).
func (e *Engine) act(ctx context.Context, u User, id uint64, action ButtonAction, arg string) (Reply, error) {
	u = e.identify(u)
	switch action {
	case ButtonApprove:
		return e.approve(ctx, u, id, arg)
	case ButtonReject:
		return e.reject(ctx, u, id, arg)
	case ButtonCancel:
		return e.cancelRun(ctx, u, id)
	case ButtonTick, ButtonUntick:
		return e.tickItem(ctx, u, id, arg, action == ButtonTick)
	case ButtonRollback:
		return e.rollbackRun(ctx, u, id)
	}
	return Reply{}, Errorf(EInvalid, "unknown action %q", action)
}

func (e *Engine) loadRun(ctx context.Context, id uint64) (*Run, *Environment, error) {
	r, err := e.store.Run(ctx, id)
	if err != nil {
		if err == ErrRunNotFound {
			return nil, nil, Errorf(ENotFound, "there is no run #%d", id)
		}
		return nil, nil, err
	}
	env, err := e.env(r.Env)
	return r, env, err
}

// expireIfDue expires r when its approval deadline has passed, whether or
// not Tick has noticed yet.
func (e *Engine) expireIfDue(r *Run) ([]Event, bool) {
	if expired(r.State, r.ExpiresAt, e.now()) {
		return []Event{e.move(r, StateExpired, nil, fmt.Sprintf("the approval request expired at %s", fmtTime(r.ExpiresAt)))}, true
	}
	return nil, false
}

func (e *Engine) approve(ctx context.Context, u User, id uint64, seen string) (Reply, error) {
	if _, _, err := e.loadRun(ctx, id); err != nil {
		return Reply{}, err
	}
	var done bool
	r, err := e.update(ctx, id, func(r *Run) ([]Event, error) {
		done = false // fn may run again on a newer revision
		env, err := e.env(r.Env)
		if err != nil {
			return nil, err
		}
		if evs, ok := e.expireIfDue(r); ok {
			return evs, nil
		}
		switch r.State {
		case StateAwaitingApproval:
		case StateChecklist:
			open := r.OpenItems()
			labels := make([]string, len(open))
			for i, it := range open {
				labels[i] = it.Label
			}
			return nil, Errorf(EPolicy, "run %s can't be approved yet: %d of %d checklist items are open (%s)",
				r.Ref(), len(open), len(r.Checklist), joinQuoted(labels))
		case StateRequested:
			return nil, Errorf(EConflict, "run %s is still being prepared; approve it in a moment", r.Ref())
		default:
			return nil, Errorf(EConflict, "run %s is %s: there is nothing to approve", r.Ref(), r.State.Label())
		}
		if !e.hasAnyRole(ctx, u, env.Approval.Roles) {
			return nil, Errorf(EForbidden, "only %s may approve %s deployments", roleList(env.Approval.Roles), env.Name)
		}
		if seen != "" && seen != approvalView(r) {
			// The message was drawn for another artifact: approving now
			// would approve something the approver did not see.
			return nil, Errorf(EConflict, "run %s changed since that message was drawn: %s %s now resolves to %s. Look at the updated message and approve again",
				r.Ref(), r.App, r.Version, orNone(r.Artifact))
		}
		if !env.Approval.AllowSelf && e.same(u, r.Requester) {
			return nil, Errorf(EForbidden, "you requested run %s: in %s someone else with the %s role must approve it", r.Ref(), env.Name, roleList(env.Approval.Roles))
		}
		if slices.ContainsFunc(r.Approvals, func(a Approval) bool { return e.same(a.By, u) }) {
			return nil, Errorf(EConflict, "you already approved run %s", r.Ref())
		}
		r.Approvals = append(r.Approvals, Approval{By: u, At: e.now(), Artifact: r.Artifact})
		evs := []Event{e.event(EvApproval, &u, fmt.Sprintf("approved %s (artifact %s)", r.Version, r.Artifact))}
		if len(r.Approvals) >= env.Approval.Count {
			done = true
			evs = append(evs, e.move(r, StateApproved, &u, fmt.Sprintf("approved by %s", approvers(r))))
		} else {
			r.Note = fmt.Sprintf("waiting for approval by %s (%d of %d)", roleList(env.Approval.Roles), len(r.Approvals), env.Approval.Count)
		}
		return evs, nil
	})
	if err != nil {
		return Reply{}, err
	}
	if r.State == StateExpired {
		return Reply{}, Errorf(EConflict, "run %s expired at %s; request it again", r.Ref(), fmtTime(r.ExpiresAt))
	}
	if done {
		e.kick(id, false)
		return Reply{Text: fmt.Sprintf("You approved run %s (%s%s); it starts now.", r.Ref(), r.Title(), artifactSuffix(r)), RunID: id, Private: true}, nil
	}
	return Reply{Text: fmt.Sprintf("You approved run %s (%s%s).", r.Ref(), r.Title(), artifactSuffix(r)), RunID: id, Private: true}, nil
}

func approvers(r *Run) string {
	names := make([]string, len(r.Approvals))
	for i, a := range r.Approvals {
		names[i] = a.By.String()
	}
	return joinAnd(names)
}

func (e *Engine) reject(ctx context.Context, u User, id uint64, reason string) (Reply, error) {
	// A button's reason gets the same rules as a typed one.
	reason, err := commands.CleanReason(reason)
	if err != nil {
		return Reply{}, Errorf(EInvalid, "%v", err)
	}
	if _, _, err := e.loadRun(ctx, id); err != nil {
		return Reply{}, err
	}
	r, err := e.update(ctx, id, func(r *Run) ([]Event, error) {
		env, err := e.env(r.Env)
		if err != nil {
			return nil, err
		}
		if r.State != StateChecklist && r.State != StateAwaitingApproval {
			return nil, Errorf(EConflict, "run %s is %s: it can no longer be rejected", r.Ref(), r.State.Label())
		}
		if !e.hasAnyRole(ctx, u, env.Approval.Roles) {
			return nil, Errorf(EForbidden, "only %s may reject %s deployments (the requester can cancel)", roleList(env.Approval.Roles), env.Name)
		}
		return []Event{
			e.event(EvRejection, &u, reason),
			e.move(r, StateRejected, &u, fmt.Sprintf("rejected by %s%s", u, reasonSuffix(reason))),
		}, nil
	})
	if err != nil {
		return Reply{}, err
	}
	return Reply{Text: fmt.Sprintf("You rejected run %s.", r.Ref()), RunID: id, Private: true}, nil
}

// cancelRun stops a run. Before execution it simply ends; a running step is
// stopped and the deploy then fails and rolls back; a monitored run ends
// monitoring early and counts as succeeded.
func (e *Engine) cancelRun(ctx context.Context, u User, id uint64) (Reply, error) {
	r, env, err := e.loadRun(ctx, id)
	if err != nil {
		return Reply{}, err
	}
	if r.State == StateMonitoring {
		if err := e.mayEndMonitoring(ctx, u, r, env); err != nil {
			return Reply{}, err
		}
	} else if !e.same(u, r.Requester) && !e.hasAnyRole(ctx, u, env.Approval.Roles) && e.mayRollback(ctx, u, env, r.ID) != nil {
		return Reply{}, Errorf(EForbidden, "only the requester, an approver or a rollback owner may cancel run %s", r.Ref())
	}
	r, err = e.update(ctx, id, func(r *Run) ([]Event, error) {
		switch r.State {
		case StateProcedure:
			// Once rolled back, the procedure is what is left of it to
			// finish, not something to call off.
			if procItem(r, ProcRollback).Done {
				return nil, Errorf(EConflict, "run %s has rolled back already: finish its rollback procedure", r.Ref())
			}
			return []Event{e.move(r, StateCancelled, &u, fmt.Sprintf("rollback procedure cancelled by %s", u))}, nil
		case StateRequested, StateChecklist, StateAwaitingApproval, StateApproved:
			return []Event{e.move(r, StateCancelled, &u, fmt.Sprintf("cancelled by %s", u))}, nil
		case StateMonitoring:
			// Checked again here: the run may have reached monitoring
			// since the check above.
			if err := e.mayEndMonitoring(ctx, u, r, env); err != nil {
				return nil, err
			}
			note := fmt.Sprintf("monitoring ended early by %s; %s %s is live in %s", u, r.App, r.Version, r.Env)
			if !e.now().Before(r.MonitorUntil) {
				note = fmt.Sprintf("monitoring ended by %s; %s %s is live in %s", u, r.App, r.Version, r.Env)
			}
			if open := r.OpenValidation(); len(open) > 0 {
				note += fmt.Sprintf("; post-deployment validation left open: %s", itemLabels(open))
			}
			return []Event{e.move(r, StateSucceeded, &u, note)}, nil
		case StateDeploying, StateVerifying:
			if e.stopStep(r.ID, u) {
				return nil, errStepStopping
			}
			if r.StopRequestedBy != nil {
				return nil, errStepStopping
			}
			// The step runs elsewhere (on the leading replica) or is
			// about to start: the request is stored for it.
			r.StopRequestedBy = &u
			return []Event{e.event(EvNote, &u, fmt.Sprintf("%s asked to stop the step", u))}, nil
		}
		return nil, Errorf(EConflict, "run %s is %s: there is nothing to cancel", r.Ref(), r.State.Label())
	})
	if err == errStepStopping || err == nil && r.StopRequestedBy != nil {
		return Reply{Text: fmt.Sprintf("Stopping run %s; it will roll back.", r.Ref()), RunID: id, Private: true}, nil
	}
	if err != nil {
		return Reply{}, err
	}
	return Reply{Text: fmt.Sprintf("Run %s is %s.", r.Ref(), r.State.Label()), RunID: id, Private: true}, nil
}

// tickItem records a checklist item as done (or not) by u.
func (e *Engine) tickItem(ctx context.Context, u User, id uint64, item string, done bool) (Reply, error) {
	r, env, err := e.loadRun(ctx, id)
	if err != nil {
		return Reply{}, err
	}
	if len(r.Procedure) > 0 {
		// A rollback's procedure is its rollback owners' to take.
		return e.tickProcedure(ctx, u, id, item, done)
	}
	if !e.hasAnyRole(ctx, u, env.Deployers) && !e.hasAnyRole(ctx, u, env.Approval.Roles) {
		list := "checklist"
		if r.State == StateMonitoring && len(r.Validation) > 0 {
			list = "post-deployment validation"
		}
		return Reply{}, Errorf(EForbidden, "only %s may tick the %s %s", roleList(append(slices.Clone(env.Deployers), env.Approval.Roles...)), env.Name, list)
	}
	changed := false
	r, err = e.update(ctx, id, func(r *Run) ([]Event, error) {
		changed = false // fn may run again on a newer revision
		if evs, ok := e.expireIfDue(r); ok {
			return evs, nil
		}
		if r.State == StateMonitoring && len(r.Validation) > 0 {
			evs, err := e.tickValidation(r, u, item, done)
			changed = err == nil
			return evs, err
		}
		switch r.State {
		case StateRequested, StateChecklist, StateAwaitingApproval:
			// A run still being prepared takes ticks too: its checklist
			// exists from the request on, and preparing it counts them.
		default:
			return nil, Errorf(EConflict, "run %s is %s: its checklist is closed", r.Ref(), r.State.Label())
		}
		it, err := checklistItem(r, item, done)
		if err != nil {
			return nil, err
		}
		changed = true
		it.Done = done
		it.By, it.At = &u, e.now()
		verb := "ticked"
		if !done {
			verb = "unticked"
			it.By, it.At = nil, e.now()
		}
		evs := []Event{e.event(EvTick, &u, fmt.Sprintf("%s %q", verb, it.Label))}
		if !done && len(r.Approvals) > 0 {
			// An approval was given for a complete checklist.
			r.Approvals = nil
			evs = append(evs, e.event(EvVoided, &u, fmt.Sprintf("checklist item %q unticked", it.Label)))
		}
		if r.State == StateRequested {
			return evs, nil // preparing the run moves it on
		}
		if ev := e.pend(r, env, &u); ev.From != ev.To {
			evs = append(evs, ev)
		}
		return evs, nil
	})
	if err == errNoChange {
		return Reply{Text: "Nothing to change.", RunID: id, Private: true}, nil
	}
	if err != nil {
		return Reply{}, err
	}
	if r.State == StateExpired {
		return Reply{}, Errorf(EConflict, "run %s expired at %s; request it again", r.Ref(), fmtTime(r.ExpiresAt))
	}
	if changed && r.State == StateApproved {
		e.kick(id, false)
	}
	if r.State == StateMonitoring || (changed && r.State == StateSucceeded) {
		return Reply{Text: fmt.Sprintf("Post-deployment validation of run %s updated.", r.Ref()), RunID: id, Private: true}, nil
	}
	return Reply{Text: fmt.Sprintf("Checklist of run %s updated.", r.Ref()), RunID: id, Private: true}, nil
}

// checklistItem is the checklist item key of r that a person may tick
// (done) or untick; errNoChange when it already is so.
func checklistItem(r *Run, key string, done bool) (*CheckItem, error) {
	i := slices.IndexFunc(r.Checklist, func(it CheckItem) bool { return it.Key == key })
	if i < 0 {
		return nil, Errorf(EInvalid, "run %s has no checklist item %q", r.Ref(), key)
	}
	it := &r.Checklist[i]
	switch {
	case it.Auto:
		return nil, Errorf(EPolicy, "“%s” is checked by Shipmate (%s); it cannot be ticked by hand", it.Label, it.Detail)
	case it.Done == done:
		return nil, errNoChange
	}
	return it, nil
}

// tickValidation ticks or unticks a post-deployment validation item of a
// monitored run. The last tick after the window ended is the run's
// success.
func (e *Engine) tickValidation(r *Run, u User, item string, done bool) ([]Event, error) {
	i := slices.IndexFunc(r.Validation, func(it CheckItem) bool { return it.Key == item })
	if i < 0 {
		return nil, Errorf(EInvalid, "run %s has no post-deployment validation item %q", r.Ref(), item)
	}
	it := &r.Validation[i]
	if it.Auto {
		return nil, Errorf(EPolicy, "“%s” is confirmed by Shipmate's metric analysis, not by hand (End monitoring finishes the run without it)", it.Label)
	}
	if it.Done == done {
		return nil, errNoChange
	}
	it.Done = done
	it.By, it.At = &u, e.now()
	verb := "confirmed"
	if !done {
		verb = "withdrew"
		it.By = nil
	}
	evs := []Event{e.event(EvTick, &u, fmt.Sprintf("%s %q (post-deployment validation)", verb, it.Label))}
	if len(r.OpenValidation()) == 0 && !e.now().Before(r.MonitorUntil) {
		evs = append(evs, e.move(r, StateSucceeded, &u, e.liveNote(r, "its post-deployment validation is complete")))
	}
	return evs, nil
}

// mayEndMonitoring says whether u may end r's monitoring window early, which
// makes the run succeed: the environment's approvers or rollback owners,
// but never the requester on their own where they may not approve their
// own deployment.
func (e *Engine) mayEndMonitoring(ctx context.Context, u User, r *Run, env *Environment) error {
	if env.Approval.Count > 0 && !env.Approval.AllowSelf && e.same(u, r.Requester) {
		return Errorf(EForbidden, "you requested run %s: in %s someone else (%s, or a rollback owner) must end its monitoring",
			r.Ref(), env.Name, roleList(env.Approval.Roles))
	}
	if e.hasAnyRole(ctx, u, env.Approval.Roles) || e.mayRollback(ctx, u, env, r.ID) == nil {
		return nil
	}
	who := append(slices.Clone(env.Approval.Roles), env.Rollback...)
	return Errorf(EForbidden, "only %s may end the monitoring of run %s", ownerList(who), r.Ref())
}

// approvalView is what an Approve button binds to: the version and the
// artifact its message showed.
func approvalView(r *Run) string { return viewToken(r.Version, r.Artifact) }

func artifactSuffix(r *Run) string {
	if r.Artifact == "" || r.Artifact == r.Version {
		return ""
	}
	return ", artifact " + r.Artifact
}

func orNone(s string) string {
	if s == "" {
		return "nothing yet"
	}
	return s
}

package runbook

import (
	"context"
	"errors"
	"fmt"

	"shipmate/internal/commands"
)

// Events of an incident freeze, on the trail of the run that froze deploys.
const (
	EvFreeze   = "incident_freeze"
	EvUnfreeze = "incident_unfreeze"
)

// An incident freeze is an explicit hold (Lock.IncidentRun set) on one app
// in one environment, placed when a rollback there is asked for during an
// incident: from another channel than the deployment's own (incidents are
// worked in channels of their own), or with --incident. Like any hold it
// stops new deploys; unlike a lock it is lifted only by /deploy unfreeze,
// by the environment's rollback owners or a break-glass holder.

// frozenError says who froze app in env, when and why, and how it ends.
func frozenError(l Lock) *Error {
	reason := ""
	if l.Reason != "" {
		reason = fmt.Sprintf(" (%q)", l.Reason)
	}
	return Errorf(EConflict, "%s in %s is frozen since %s, when %s rolled it back in run #%d during an incident%s. /deploy unfreeze %s %s lifts it",
		l.App, l.Env, fmtTime(l.Since), l.Holder, l.IncidentRun, reason, l.App, l.Env)
}

// incidentFreeze returns the incident freeze of app in env, or nil.
func (e *Engine) incidentFreeze(ctx context.Context, app, env string) (*Lock, error) {
	l, err := e.hold(ctx, app, env)
	if err != nil || l == nil || l.IncidentRun == 0 {
		return nil, err
	}
	return l, nil
}

// hold returns the explicit hold on app in env, or nil.
func (e *Engine) hold(ctx context.Context, app, env string) (*Lock, error) {
	l, ok, err := e.store.HoldOf(ctx, app, env)
	if err != nil || !ok {
		return nil, err
	}
	return &l, nil
}

// createRollback stores the new rollback run r. An incident freeze of its
// app and environment does not stop it — a rollback is how an incident
// ends — so the freeze is taken off for the create and put back as it was.
// A deploy that slips in meanwhile is held back by the freeze when it would
// start (notYet).
func (e *Engine) createRollback(ctx context.Context, r *Run, evs []Event) error {
	frozen, err := e.incidentFreeze(ctx, r.App, r.Env)
	if err != nil {
		return err
	}
	if frozen == nil {
		return e.create(ctx, r, evs)
	}
	taken, ok, err := e.store.Release(ctx, r.App, r.Env, frozen.Since)
	if err != nil {
		return err
	}
	err = e.create(ctx, r, evs)
	if ok {
		if herr := e.store.Hold(ctx, taken); herr != nil {
			e.log.Error().Err(herr).Str("app", r.App).Str("env", r.Env).Uint64("incident_run", taken.IncidentRun).
				Msg("put an incident freeze back after creating a rollback")
		}
	}
	return err
}

// freezeIfIncident freezes deploys of the app and environment of a rollback
// asked for by req, when it is an incident's: asked with --incident, or from
// another channel than that of deployed, the run that put in place what is
// rolled back. id is the run that rolls back (deployed itself when rolled
// back in place). The freeze is told in rep.
func (e *Engine) freezeIfIncident(ctx context.Context, req Request, deployed, id uint64, rep Reply) Reply {
	in, u := req.Intent, req.User
	why := "asked for with --incident"
	if !in.Incident {
		d, err := e.store.Run(ctx, deployed)
		if err != nil && !errors.Is(err, ErrRunNotFound) {
			e.log.Error().Err(err).Uint64("run", deployed).Msg("read the deployment rolled back, to tell whether its rollback is an incident's")
		}
		if err != nil || !elsewhere(req.Origin, d.Origin) {
			return rep
		}
		why = fmt.Sprintf("asked for in %s, not in %s where run #%d was asked for", req.Origin.Channel, d.Origin.Channel, d.ID)
	}
	l := Lock{App: in.App, Env: in.Env, Holder: u, Reason: in.Reason, Since: e.now(), IncidentRun: id}
	if err := e.store.Hold(ctx, l); err != nil {
		var le *LockedError
		if errors.As(err, &le) {
			// Frozen or locked already: deploys are stopped either way.
			rep.Text += " " + lockedError(le.Lock).Message + "."
			return rep
		}
		e.log.Error().Err(err).Str("app", in.App).Str("env", in.Env).Uint64("run", id).Msg("freeze deploys after an incident rollback")
		rep.Text += fmt.Sprintf(" Deploys of %s to %s could not be frozen (the details are in Shipmate's log): /deploy lock %s %s stops them.",
			in.App, in.Env, in.App, in.Env)
		return rep
	}
	ev := Event{At: l.Since, Type: EvFreeze, Actor: &u,
		Detail: fmt.Sprintf("deploys of %s to %s frozen until /deploy unfreeze: the rollback was %s", in.App, in.Env, why)}
	evs := []Event{ev}
	if err := e.store.AppendEvents(ctx, id, evs...); err != nil {
		e.log.Error().Err(err).Uint64("run", id).Msg("audit an incident freeze")
	} else {
		e.auditAppended(ctx, id, evs[0]) // numbered by the store
	}
	rep.Text += fmt.Sprintf(" Deploys of %s to %s are frozen until /deploy unfreeze %s %s.", in.App, in.Env, in.App, in.Env)
	return rep
}

// elsewhere reports whether a request from o came from another channel
// than the run asked for from where.
func elsewhere(o, where Origin) bool {
	return o.Channel != "" && where.Channel != "" && (o.Platform != where.Platform || o.Channel != where.Channel)
}

// unfreeze lifts an incident freeze, on the trail of the run that froze.
func (e *Engine) unfreeze(ctx context.Context, u User, in commands.Intent) (Reply, error) {
	env, err := e.env(in.Env)
	if err != nil {
		return Reply{}, err
	}
	if _, ok := e.policy.Apps[in.App]; !ok {
		return Reply{}, Errorf(EInvalid, "unknown app %q", in.App)
	}
	held, err := e.hold(ctx, in.App, env.Name)
	switch {
	case err != nil:
		return Reply{}, err
	case held == nil:
		return Reply{}, Errorf(EConflict, "%s is not frozen in %s", in.App, env.Name)
	case held.IncidentRun == 0:
		return Reply{}, Errorf(EConflict, "%s in %s is locked, not frozen: /deploy unlock %s %s lifts a lock", in.App, env.Name, in.App, env.Name)
	}
	if err := e.mayUnfreeze(ctx, u, env, *held); err != nil {
		return Reply{}, err
	}
	// Only the freeze just judged is lifted: one placed since stays.
	if _, ok, err := e.store.Release(ctx, in.App, env.Name, held.Since); err != nil || !ok {
		if _, changed := err.(*LockedError); err != nil && !changed {
			return Reply{}, err
		}
		return Reply{}, Errorf(EConflict, "the hold on %s in %s changed meanwhile; see /deploy status", in.App, env.Name)
	}
	ev := Event{At: e.now(), Type: EvUnfreeze, Actor: &u,
		Detail: fmt.Sprintf("%s unfroze deploys of %s to %s (frozen since %s)", u, in.App, env.Name, fmtTime(held.Since))}
	evs := []Event{ev}
	if err := e.store.AppendEvents(ctx, held.IncidentRun, evs...); err != nil {
		e.log.Error().Err(err).Uint64("run", held.IncidentRun).Msg("audit lifting an incident freeze")
	} else {
		e.auditAppended(ctx, held.IncidentRun, evs[0]) // numbered by the store
	}
	return Reply{Text: fmt.Sprintf("%s is unfrozen in %s by %s (frozen since %s, when %s rolled it back in run #%d).",
		in.App, env.Name, u, fmtTime(held.Since), held.Holder, held.IncidentRun)}, nil
}

// mayUnfreeze lets the environment's rollback owners lift freeze l, and
// break-glass holders. "requester" means whoever requested the deployment
// that was rolled back.
func (e *Engine) mayUnfreeze(ctx context.Context, u User, env *Environment, l Lock) error {
	if e.hasRole(ctx, u, RoleBreakGlass) {
		return nil
	}
	deployedBy := l.IncidentRun
	if r, err := e.store.Run(ctx, l.IncidentRun); err == nil && r.Action == ActionRollback {
		deployedBy = r.RollbackOf
	}
	err := e.mayRollback(ctx, u, env, deployedBy)
	if ErrorCode(err) != EForbidden {
		return err
	}
	return Errorf(EForbidden, "you may not unfreeze %s in %s: that is for %s or %s", l.App, env.Name, ownerList(env.Rollback), RoleBreakGlass)
}

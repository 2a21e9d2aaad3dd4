package runbook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"shipmate/internal/commands"
)

// requestRollback handles /rollback: it re-deploys the last good version
// before the current one (or the one named) through the executor's
// rollback path. Rollbacks need no approval and ignore windows and
// freezes, but only the environment's rollback owners may ask for one. A
// rollback during an incident freezes deploys of the app there.
func (e *Engine) requestRollback(ctx context.Context, req Request) (Reply, error) {
	in, u := req.Intent, req.User
	if e.Draining() {
		return Reply{}, Errorf(EConflict, "Shipmate is restarting and takes no new runs right now; try again in a minute")
	}
	env, err := e.env(in.Env)
	if err != nil {
		return Reply{}, err
	}
	if _, err := e.executor(in.App); err != nil {
		return Reply{}, err
	}
	// A run still being monitored is rolled back in place.
	active, err := e.activeRun(ctx, in.App, env.Name)
	if err != nil {
		return Reply{}, err
	}
	if active != nil {
		if active.State != StateMonitoring || (in.Version != "" && in.Version != active.PreviousVersion) {
			return Reply{}, Errorf(EConflict, "run #%d (%s) is %s: cancel it first with /deploy cancel %d (a cancelled deploy rolls back by itself)",
				active.ID, active.Title(), active.State.Label(), active.ID)
		}
		if err := e.mayRollback(ctx, u, env, active.ID); err != nil {
			return Reply{}, err
		}
		rep, err := e.rollbackInPlace(ctx, u, active.ID, in.Reason)
		if err != nil {
			return Reply{}, err
		}
		return e.freezeIfIncident(ctx, req, active.ID, active.ID, rep), nil
	}
	cur, ok, err := e.store.Deployed(ctx, in.App, env.Name)
	if err != nil {
		return Reply{}, err
	}
	if !ok {
		return Reply{}, Errorf(EConflict, "nothing of %s has been deployed to %s by Shipmate yet: there is nothing to roll back", in.App, env.Name)
	}
	if err := e.mayRollback(ctx, u, env, cur.RunID); err != nil {
		return Reply{}, err
	}
	hist, err := e.scanHistory(ctx, in.App, env.Name, func(hist []*Run) bool {
		return targetSettled(hist, cur.Version, in.Version)
	})
	if err != nil {
		return Reply{}, err
	}
	target, err := rollbackTarget(hist, cur.Version, in.Version)
	if err != nil {
		return Reply{}, err
	}
	now := e.now()
	r := &Run{
		Action: ActionRollback, App: in.App, Env: env.Name, Version: target, PreviousVersion: cur.Version,
		RollbackOf: cur.RunID, Requester: u, Reason: in.Reason, Origin: req.Origin,
		State: StateRequested, CreatedAt: now, UpdatedAt: now, StateSince: now,
	}
	if env.RollbackProcedure {
		x, _ := e.executor(in.App)
		d, drains := x.(Drainer)
		r.Procedure = newProcedure(assessment(hist, cur.Version, target), drains && d.CanDrain())
	}
	ev := Event{At: now, Type: EvRequested, Actor: &u, To: StateRequested,
		Detail: fmt.Sprintf("roll back %s in %s from %s to %s%s", in.App, env.Name, cur.Version, target, reasonSuffix(in.Reason))}
	if err := e.createRollback(ctx, r, []Event{ev}); err != nil {
		return Reply{}, err
	}
	rep := Reply{Text: fmt.Sprintf("Run %s: rolling back %s in %s from %s to %s.", r.Ref(), in.App, env.Name, cur.Version, target), RunID: r.ID, Private: true}
	if len(r.Procedure) > 0 {
		rep.Text = fmt.Sprintf("Run %s: the rollback procedure for %s in %s (%s → %s) is open in its message; a rollback owner assesses it first.", r.Ref(), in.App, env.Name, cur.Version, target)
	}
	return e.freezeIfIncident(ctx, req, cur.RunID, r.ID, rep), nil
}

// rollbackTarget picks the version to go back to from an environment's
// history (newest first): the named one if it ran there, else the newest
// succeeded deploy that is neither current nor a version rolled back from.
func rollbackTarget(hist []*Run, current, named string) (string, error) {
	if named != "" {
		if named == current && lastKnownGood(hist) {
			return "", Errorf(EConflict, "%s is already the version running there", named)
		}
		for _, r := range hist {
			if v, ok := r.Landed(); ok && v == named {
				return named, nil
			}
		}
		return "", Errorf(EPolicy, "%s never ran there successfully: a rollback can only go back to a version that did", named)
	}
	skip := map[string]bool{current: true}
	for _, r := range hist {
		if r.Action == ActionRollback && r.State == StateRolledBack {
			skip[r.PreviousVersion] = true
		}
		if r.Action == ActionDeploy && r.State == StateSucceeded && !skip[r.Version] {
			return r.Version, nil
		}
	}
	return "", Errorf(EConflict, "there is no earlier good version than %s to roll back to; name one with: to <version>", current)
}

// targetSettled reports whether hist, the newest runs of an environment
// (newest first), already decides rollbackTarget, so that older runs
// cannot change its answer. When it names a target, hist also holds a run
// that landed it, which is as far back as the procedure's assessment reads.
func targetSettled(hist []*Run, current, named string) bool {
	if named == "" {
		_, err := rollbackTarget(hist, current, "")
		return err == nil
	}
	if named == current {
		// The refusal "already running" hangs on the newest finished run.
		i := slices.IndexFunc(hist, func(r *Run) bool { return r.State.Terminal() })
		if i < 0 {
			return false
		}
		if _, ok := hist[i].Landed(); ok {
			return true
		}
	}
	return slices.ContainsFunc(hist, func(r *Run) bool {
		v, ok := r.Landed()
		return ok && v == named
	})
}

// historyPages are the widening reads a rollback makes of an environment's
// history, up to historyScan runs: the answer is almost always among the
// newest few, so a long history is not read for it.
var historyPages = [...]int{10, 40, 160, 640, historyScan}

// scanHistory reads the newest runs of app in env, newest first, in
// widening pages until settled says the runs read decide the question, or
// the history (or the historyScan bound) ends. The store cannot continue a
// read after a given run, so each page reads the one before it again; the
// first page almost always suffices.
func (e *Engine) scanHistory(ctx context.Context, app, env string, settled func([]*Run) bool) ([]*Run, error) {
	var hist []*Run
	for _, n := range historyPages {
		var err error
		if hist, err = e.store.History(ctx, app, env, n); err != nil {
			return nil, err
		}
		if len(hist) < n || settled(hist) {
			break
		}
	}
	return hist, nil
}

// lastKnownGood reports whether the newest finished run left the
// environment in a known state.
func lastKnownGood(hist []*Run) bool {
	for _, r := range hist {
		if r.State.Terminal() {
			_, ok := r.Landed()
			return ok
		}
	}
	return true
}

// mayRollback checks u against env's rollback owners; "requester" means
// whoever requested the deployment (run deployedBy) being rolled back.
func (e *Engine) mayRollback(ctx context.Context, u User, env *Environment, deployedBy uint64) error {
	for _, owner := range env.Rollback {
		if owner == RoleRequester {
			if deployedBy == 0 {
				continue
			}
			r, err := e.store.Run(ctx, deployedBy)
			if err != nil && !errors.Is(err, ErrRunNotFound) {
				return err
			}
			if err == nil && e.same(r.Requester, u) {
				return nil
			}
			continue
		}
		if e.hasRole(ctx, u, owner) {
			return nil
		}
	}
	return Errorf(EForbidden, "you may not roll back %s: rollbacks there are for %s", env.Name, ownerList(env.Rollback))
}

// ownerList names roles for a refusal, "requester" as the person it means.
func ownerList(roles []string) string {
	owners := slices.Clone(roles)
	for i, o := range owners {
		if o == RoleRequester {
			owners[i] = "whoever requested the deployment"
		}
	}
	return roleList(uniq(owners))
}

// uniq drops repeated strings, keeping the first of each.
func uniq(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// activeRun returns the run holding app's lock in env, if any.
func (e *Engine) activeRun(ctx context.Context, app, env string) (*Run, error) {
	id, ok, err := e.store.RunLockOf(ctx, app, env)
	if err != nil || !ok {
		return nil, err
	}
	r, err := e.store.Run(ctx, id)
	if errors.Is(err, ErrRunNotFound) {
		return nil, nil
	}
	return r, err
}

// tellOriginal notes in the thread of the run that deployed what is being
// rolled back that a rollback was asked for, with where: incident channels
// are rarely the release channel. It is called once the rollback's own
// message is posted, so that the note can link it.
func (e *Engine) tellOriginal(ctx context.Context, originalID uint64, rb *Run) {
	if originalID == 0 {
		return
	}
	orig, err := e.store.Run(ctx, originalID)
	if err != nil || orig.Origin.MessageRef == "" {
		return
	}
	th, ok := e.chats[orig.Origin.Platform].(Threader)
	if !ok {
		return
	}
	related := rb.Origin
	m := Message{RunID: rb.ID, App: rb.App, Env: rb.Env, Version: rb.Version, Title: orig.Ref() + " " + orig.Title(), Tone: ToneFailure,
		Text:    fmt.Sprintf("%s asked for rollback %s: %s in %s back to %s%s", rb.Requester, rb.Ref(), rb.App, rb.Env, rb.Version, reasonSuffix(rb.Reason)),
		Related: &related}
	if err := th.Reply(ctx, orig.Origin.Channel, orig.Origin.MessageRef, m); err != nil {
		e.log.Warn().Err(err).Uint64("run", orig.ID).Msg("chat: note the rollback in the deployment's thread")
	}
}

// rollbackInPlace rolls a monitored (or failed and held) run back to the
// version that ran before it.
func (e *Engine) rollbackInPlace(ctx context.Context, u User, id uint64, reason string) (Reply, error) {
	r, err := e.update(ctx, id, func(r *Run) ([]Event, error) {
		if r.State != StateMonitoring {
			return nil, Errorf(EConflict, "run %s is %s, not monitoring", r.Ref(), r.State.Label())
		}
		if r.PreviousVersion == "" {
			return nil, Errorf(EConflict, "run %s was the first deployment of %s to %s: there is nothing to roll back to", r.Ref(), r.App, r.Env)
		}
		return []Event{e.move(r, StateRollingBack, &u, fmt.Sprintf("%s rolls back to %s%s", u, r.PreviousVersion, reasonSuffix(reason)))}, nil
	})
	if err != nil {
		return Reply{}, err
	}
	e.kick(id, false)
	return Reply{Text: fmt.Sprintf("Rolling back run %s to %s.", r.Ref(), r.PreviousVersion), RunID: id, Private: true}, nil
}

// rollbackRun is the Roll back button: a monitored run rolls back in place;
// a finished one through a new rollback run of its app and environment. It
// acts only while the run still describes what runs in the environment: a
// button on an old run must not take the environment back past what ran
// since.
func (e *Engine) rollbackRun(ctx context.Context, u User, id uint64) (Reply, error) {
	r, env, err := e.loadRun(ctx, id)
	if err != nil {
		return Reply{}, err
	}
	if err := e.mayRollback(ctx, u, env, r.ID); err != nil {
		return Reply{}, err
	}
	switch {
	case !r.State.Terminal() && r.State != StateMonitoring:
		return Reply{}, Errorf(EConflict, "run %s is %s: cancel it instead", r.Ref(), r.State.Label())
	case !executed(r) || r.State == StateRolledBack:
		return Reply{}, Errorf(EConflict, "run %s is %s: there is nothing of it to roll back", r.Ref(), r.State.Label())
	}
	if err := e.stillCurrent(ctx, r); err != nil {
		return Reply{}, err
	}
	from, to := rollbackPair(r)
	if to == "" {
		return Reply{}, Errorf(EConflict, "run %s was the first deployment of %s to %s: there is no earlier version to go back to", r.Ref(), r.App, r.Env)
	}
	in := commands.Intent{Kind: commands.KindRollback, App: r.App, Env: r.Env, Version: to,
		Reason: fmt.Sprintf("Roll back button on run %s (from %s)", r.Ref(), from)}
	return e.requestRollback(ctx, Request{User: u, Origin: r.Origin, Intent: in})
}

// rollbackPair is what the Roll back button of r does: from the version r
// put (or was putting) in place, back to the one before it. A rollback run
// that failed is tried again.
func rollbackPair(r *Run) (from, to string) {
	if r.Action == ActionRollback {
		return r.PreviousVersion, r.Version
	}
	return r.Version, r.PreviousVersion
}

// executed reports whether r got as far as changing its environment (or
// may have): anything but a run that ended or waits before execution.
func executed(r *Run) bool {
	switch r.State {
	case StateRequested, StateChecklist, StateAwaitingApproval, StateApproved,
		StateRejected, StateCancelled, StateExpired:
		return false
	}
	return true
}

// stillCurrent refuses when a run newer than r has changed r's environment
// (or is changing it), naming that run.
func (e *Engine) stillCurrent(ctx context.Context, r *Run) error {
	hist, err := e.scanHistory(ctx, r.App, r.Env, func(hist []*Run) bool {
		_, settled := changedSince(hist, r)
		return settled
	})
	if err != nil {
		return err
	}
	h, _ := changedSince(hist, r)
	if h == nil {
		return nil
	}
	if v, ok := h.Landed(); ok {
		return Errorf(EConflict, "%s in %s now runs %s, from run %s: roll back from there", r.App, r.Env, v, h.Ref())
	}
	return Errorf(EConflict, "%s in %s was changed since by run %s (%s, %s): roll back from there", r.App, r.Env, h.Ref(), h.Version, h.State.Label())
}

// changedSince returns the newest run in hist (newest first) newer than r
// that changed r's environment (or may have), if any. settled reports
// whether hist reached r or such a run, so that older runs cannot change
// the answer.
func changedSince(hist []*Run, r *Run) (changed *Run, settled bool) {
	for _, h := range hist {
		if h.ID <= r.ID {
			return nil, true
		}
		if executed(h) {
			return h, true
		}
	}
	return nil, false
}

// viewToken is a short fingerprint of what a message showed, carried by a
// button so that a click on a stale view can be told from a current one.
func viewToken(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

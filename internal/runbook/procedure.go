package runbook

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The keys of the handbook's rollback procedure, in its order.
const (
	ProcAssess   = "assess"
	ProcNotify   = "notify"
	ProcDrain    = "drain"
	ProcRollback = "rollback"
	ProcValidate = "validate"
	ProcRestore  = "restore"
	ProcDocument = "document"
)

// RoleIncidentCommander is the role a rollback procedure notifies.
const RoleIncidentCommander = "incident-commander"

// Drainer is implemented by executors that can stop incoming requests to
// an app before it is rolled back. CanDrain says whether this app has a
// way to; without one, a rollback owner stops them by hand (or skips it).
type Drainer interface {
	CanDrain() bool
	Drain(ctx context.Context, j Job, p Progress) error
}

// newProcedure returns the handbook's rollback procedure for a rollback
// run, its assessment describing what would be rolled back.
func newProcedure(assess string, drains bool) []CheckItem {
	return []CheckItem{
		{Key: ProcAssess, Label: "Assess whether rollback is safe", Detail: assess},
		{Key: ProcNotify, Label: "Notify incident commander", Auto: true},
		{Key: ProcDrain, Label: "Stop incoming requests if possible", Auto: drains},
		{Key: ProcRollback, Label: "Trigger automated rollback", Auto: true},
		{Key: ProcValidate, Label: "Validate rollback success", Auto: true},
		{Key: ProcRestore, Label: "Restore from backup if needed"},
		{Key: ProcDocument, Label: "Document incident", Auto: true},
	}
}

// assessment says what a rollback from current to target undoes: the
// runs of the environment since target last landed there (hist is newest
// first).
func assessment(hist []*Run, current, target string) string {
	var since []string
	for _, h := range hist {
		if v, ok := h.Landed(); ok && v == target {
			break
		}
		if executed(h) {
			since = append(since, fmt.Sprintf("%s %s %s (%s)", h.Ref(), h.Action, h.Version, h.State.Label()))
		}
	}
	s := fmt.Sprintf("rolls back %s → %s", current, target)
	if len(since) == 0 {
		return s
	}
	slices.Reverse(since)
	return s + "; runs since " + target + ": " + strings.Join(since, ", ")
}

// nextProcItem is the index of the first open item of r's procedure, or -1.
func nextProcItem(r *Run) int {
	return slices.IndexFunc(r.Procedure, func(it CheckItem) bool { return !it.Done })
}

// procItem returns r's procedure item key.
func procItem(r *Run, key string) *CheckItem {
	i := slices.IndexFunc(r.Procedure, func(it CheckItem) bool { return it.Key == key })
	if i < 0 {
		return nil
	}
	return &r.Procedure[i]
}

// procNote says what a run in its procedure waits for.
func procNote(r *Run) string {
	i := nextProcItem(r)
	if i < 0 {
		return "rollback procedure complete"
	}
	it := r.Procedure[i]
	if it.Auto {
		return fmt.Sprintf("rollback procedure: %d of %d — %s", i+1, len(r.Procedure), it.Label)
	}
	return fmt.Sprintf("rollback procedure: %d of %d — waiting for a rollback owner: %s", i+1, len(r.Procedure), it.Label)
}

// mayRunProcedure lets the rollback owners of env (and break-glass
// holders) take the steps of r's rollback procedure.
func (e *Engine) mayRunProcedure(ctx context.Context, u User, r *Run, env *Environment) error {
	if e.hasRole(ctx, u, RoleBreakGlass) {
		return nil
	}
	err := e.mayRollback(ctx, u, env, r.RollbackOf)
	if ErrorCode(err) != EForbidden {
		return err
	}
	return Errorf(EForbidden, "only %s or %s may take the steps of the rollback procedure of run %s", ownerList(env.Rollback), RoleBreakGlass, r.Ref())
}

// tickProcedure records a rollback owner's tick of one procedure item. The
// items are taken in order, and none is ever unticked: the procedure is a
// record of what was done.
func (e *Engine) tickProcedure(ctx context.Context, u User, id uint64, key string, done bool) (Reply, error) {
	r, env, err := e.loadRun(ctx, id)
	if err != nil {
		return Reply{}, err
	}
	if err := e.mayRunProcedure(ctx, u, r, env); err != nil {
		return Reply{}, err
	}
	r, err = e.update(ctx, id, func(r *Run) ([]Event, error) {
		// Checked again against the run as it is now.
		if err := e.mayRunProcedure(ctx, u, r, env); err != nil {
			return nil, err
		}
		if r.State != StateProcedure {
			return nil, Errorf(EConflict, "run %s is %s: its rollback procedure takes no ticks now", r.Ref(), r.State.Label())
		}
		it := procItem(r, key)
		switch {
		case it == nil:
			return nil, Errorf(EInvalid, "run %s has no rollback procedure item %q", r.Ref(), key)
		case !done:
			return nil, Errorf(EPolicy, "the rollback procedure's items are a record of what was done: “%s” cannot be unticked", it.Label)
		case it.Done:
			return nil, errNoChange
		case it.Auto:
			return nil, Errorf(EPolicy, "“%s” is done by Shipmate; it cannot be ticked by hand", it.Label)
		}
		if first := r.Procedure[nextProcItem(r)]; first.Key != key {
			return nil, Errorf(EPolicy, "the rollback procedure goes in order: “%s” comes first", first.Label)
		}
		it.Done, it.By, it.At = true, &u, e.now()
		r.Note = procNote(r)
		return []Event{e.event(EvTick, &u, fmt.Sprintf("ticked %q (rollback procedure)", it.Label))}, nil
	})
	if err == errNoChange {
		return Reply{Text: "Nothing to change.", RunID: id, Private: true}, nil
	}
	if err != nil {
		return Reply{}, err
	}
	e.kick(id, false)
	return Reply{Text: fmt.Sprintf("Rollback procedure of run %s updated.", r.Ref()), RunID: id, Private: true}, nil
}

// procedureStep does the next item of r's procedure when it is Shipmate's
// to do, and reports whether advance should go on.
func (e *Engine) procedureStep(ctx context.Context, r *Run) (bool, error) {
	i := nextProcItem(r)
	if i < 0 || !r.Procedure[i].Auto {
		return false, nil // waiting for a rollback owner
	}
	switch key := r.Procedure[i].Key; key {
	case ProcNotify:
		e.postNotice(ctx, r, e.commanderNotice(r))
		return e.procDone(ctx, r.ID, key, "notified: "+commandersText(e.commanders(r)), nil)
	case ProcDrain:
		return e.procDrain(ctx, r)
	case ProcRollback:
		_, err := e.update(ctx, r.ID, func(r *Run) ([]Event, error) {
			if r.State != StateProcedure || nextProcItem(r) != i {
				return nil, errMovedOn
			}
			// Stored before the executor is called, as every step is.
			return []Event{e.move(r, StateRollingBack, nil, fmt.Sprintf("rollback procedure: rolling back to %s", r.Version))}, nil
		})
		return e.movedOn(err)
	case ProcValidate:
		return e.procValidate(ctx, r)
	case ProcDocument:
		return e.procDocument(ctx, r)
	}
	return false, fmt.Errorf("run %s: no automatic step for procedure item %q", r.Ref(), r.Procedure[i].Key)
}

// movedOn turns errMovedOn into "nothing more to do".
func (e *Engine) movedOn(err error) (bool, error) {
	if errors.Is(err, errMovedOn) {
		return false, nil
	}
	return err == nil, err
}

// procDone ticks procedure item key of run id as done by Shipmate with
// detail, or, when failed is set, leaves it to a rollback owner.
func (e *Engine) procDone(ctx context.Context, id uint64, key, detail string, failed error) (bool, error) {
	_, err := e.update(ctx, id, func(r *Run) ([]Event, error) {
		it := procItem(r, key)
		if r.State != StateProcedure || it == nil || it.Done {
			return nil, errMovedOn
		}
		if failed != nil {
			it.Auto, it.Detail = false, failed.Error()
			r.Note = procNote(r)
			return []Event{e.event(EvStep, nil, fmt.Sprintf("%q failed: %v", it.Label, failed))}, nil
		}
		it.Done, it.By, it.At, it.Detail = true, &Shipmate, e.now(), detail
		r.Note = procNote(r)
		return []Event{e.event(EvTick, &Shipmate, fmt.Sprintf("%q: %s (rollback procedure)", it.Label, detail))}, nil
	})
	return e.movedOn(err)
}

// procDrain stops incoming requests with the executor's drain hook. A
// failed drain is left for a rollback owner to decide on.
func (e *Engine) procDrain(ctx context.Context, r *Run) (bool, error) {
	d, ok := e.executors[r.App].(Drainer)
	if !ok || !d.CanDrain() {
		return e.procDone(ctx, r.ID, ProcDrain, "", errors.New("no drain step is configured: tick it once requests are stopped, or to go on without"))
	}
	tail, err := e.runStep(ctx, r, "drain", func(ctx context.Context, p Progress) error {
		return d.Drain(ctx, e.stepJob(ctx, r), p)
	})
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return e.procDone(ctx, r.ID, ProcDrain, "", fmt.Errorf("drain failed: %w: tick it once requests are stopped, or to go on without", err))
	}
	return e.procDone(ctx, r.ID, ProcDrain, lastLine(tail, "drained"), nil)
}

// procValidate runs the executor's verify step against the rolled-back
// version (a failure fails the rollback), then measures the analysis
// checks against it: a check not back to normal, or without data, leaves
// the item to a rollback owner, with the figures.
func (e *Engine) procValidate(ctx context.Context, r *Run) (bool, error) {
	verified := "the executor has no verify step"
	if v, ok := e.executors[r.App].(Verifier); ok {
		tail, stepErr := e.runStep(ctx, r, "verify", func(ctx context.Context, p Progress) error {
			return v.Verify(ctx, e.stepJob(ctx, r), p)
		})
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if stepErr != nil {
			return false, e.procValidateFailed(ctx, r.ID, tail, stepErr)
		}
		verified = lastLine(tail, fmt.Sprintf("%s verified", r.Version))
	}
	figures, err := e.rollbackAnalysis(ctx, r)
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return e.procDone(ctx, r.ID, ProcValidate, "", fmt.Errorf("%s; %w: tick it once they are, or to go on without", verified, err))
	}
	switch {
	case figures != "":
		verified += "; " + figures
	case verified == "the executor has no verify step":
		verified += ": rolled back without a check"
	}
	return e.procDone(ctx, r.ID, ProcValidate, verified, nil)
}

// procValidateFailed fails rollback run id whose verify step failed.
func (e *Engine) procValidateFailed(ctx context.Context, id uint64, tail []string, stepErr error) error {
	_, err := e.update(ctx, id, func(r *Run) ([]Event, error) {
		if it := procItem(r, ProcValidate); r.State != StateProcedure || it == nil || it.Done {
			return nil, errMovedOn
		}
		procItem(r, ProcValidate).Detail = stepErr.Error()
		if len(tail) > 0 {
			r.Log = tail
		}
		return []Event{e.move(r, StateRollbackFailed, nil, fmt.Sprintf("rollback failed: validating %s failed: %v", r.Version, stepErr))}, nil
	})
	if errors.Is(err, errMovedOn) {
		err = nil
	}
	return err
}

// lastLine is the last line of tail, or def.
func lastLine(tail []string, def string) string {
	if len(tail) == 0 {
		return def
	}
	return tail[len(tail)-1]
}

// commanders are the incident commanders as the run's chat can call on
// them (see roleMentions).
func (e *Engine) commanders(r *Run) (ms []Mention, names []string) {
	return e.roleMentions([]string{RoleIncidentCommander}, r.Origin.Platform, nil)
}

// roleMentions are the holders of roles as the chat of platform can call
// on them: the roles' people and members with an identity on that chat,
// and their groups there, as mentions; the roles' people with no identity
// there by name. Identities skip leaves out (the requester, who may not
// approve their own run); nil skips no one.
func (e *Engine) roleMentions(roles []string, platform string, skip func(Mention) bool) (ms []Mention, names []string) {
	seen := map[Mention]bool{}
	mention := func(m Mention) {
		if !seen[m] && (skip == nil || !skip(m)) {
			seen[m] = true
			ms = append(ms, m)
		}
	}
	var persons []string
	for _, role := range roles {
		ro := e.policy.Roles[role]
		persons = append(persons, ro.People...)
		// A member named by an identity on another chat is still the
		// person the policy says it is, and may be known on this one.
		for p, ids := range ro.Members {
			for _, id := range ids {
				if name := e.people[identity{p, id}]; name != "" && p != platform {
					persons = append(persons, name)
				}
			}
		}
	}
	for _, name := range uniq(persons) {
		ids := e.policy.People[name].IDs[platform]
		if len(ids) == 0 {
			names = append(names, name)
		}
		for _, id := range ids {
			mention(Mention{Platform: platform, ID: id, Name: name})
		}
	}
	for _, role := range roles {
		ro := e.policy.Roles[role]
		for _, id := range ro.Members[platform] {
			mention(Mention{Platform: platform, ID: id, Name: cmp.Or(e.people[identity{platform, id}], id)})
		}
		for _, g := range ro.Groups[platform] {
			mention(Mention{Platform: platform, ID: g, Group: true, Name: role + " group " + g})
		}
	}
	return ms, names
}

// commandersText names the incident commanders for the run's record.
func commandersText(ms []Mention, names []string) string {
	all := slices.Clone(names)
	for _, m := range ms {
		all = append(all, m.Name)
	}
	if len(all) == 0 {
		return "nobody known on this chat"
	}
	return joinAnd(uniq(all))
}

// commanderNotice is the procedure's notice to the incident commanders:
// it mentions those the run's chat knows and names the others.
func (e *Engine) commanderNotice(r *Run) Message {
	ms, names := e.commanders(r)
	who := ""
	switch {
	case len(names) > 0:
		who = " (" + joinAnd(names) + ")"
	case len(ms) == 0:
		who = " (" + commandersText(nil, nil) + ")"
	}
	m := noticeMessage(r, fmt.Sprintf("Incident commander%s: %s is rolling %s in %s back from %s to %s under the rollback procedure (run %s)%s.",
		who, r.Requester, r.App, r.Env, r.PreviousVersion, r.Version, r.Ref(), reasonSuffix(r.Reason)))
	m.Mentions = ms
	return m
}

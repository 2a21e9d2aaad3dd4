package runbook

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"shipmate/internal/commands"
)

// Request is a parsed command from a person, with where it came from.
type Request struct {
	User   User
	Origin Origin
	Intent commands.Intent
}

// Reply is the answer to a Request. Private replies are shown only to the
// user who asked (ephemeral on Slack); public ones to the channel.
type Reply struct {
	Text    string
	RunID   uint64
	Private bool
}

// Do carries out a command. Refusals come back as an *Error whose message
// is meant for the user; nothing is changed then. Starting a run returns as
// soon as it is stored: the work goes on in the background.
func (e *Engine) Do(ctx context.Context, req Request) (Reply, error) {
	req.User = e.identify(req.User)
	in := req.Intent
	switch in.Kind {
	case commands.KindStatus, commands.KindHistory, commands.KindWhereIs, commands.KindStats:
		if err := e.MayRead(ctx, req.User); err != nil {
			return Reply{}, err
		}
	}
	switch in.Kind {
	case commands.KindDeploy:
		return e.requestDeploy(ctx, req)
	case commands.KindRollback:
		return e.requestRollback(ctx, req)
	case commands.KindStatus:
		return e.status(ctx, in.App)
	case commands.KindHistory:
		return e.history(ctx, in.App, in.Env)
	case commands.KindWhereIs:
		return e.whereIs(ctx, in.App)
	case commands.KindStats:
		return e.stats(ctx, in)
	case commands.KindLock:
		return e.lock(ctx, req.User, in)
	case commands.KindUnlock:
		return e.unlock(ctx, req.User, in)
	case commands.KindUnfreeze:
		return e.unfreeze(ctx, req.User, in)
	case commands.KindApprove:
		return e.act(ctx, req.User, in.RunID, ButtonApprove, "")
	case commands.KindReject:
		return e.act(ctx, req.User, in.RunID, ButtonReject, in.Reason)
	case commands.KindCancel:
		return e.act(ctx, req.User, in.RunID, ButtonCancel, "")
	}
	return Reply{}, Errorf(EInvalid, "Shipmate does not know how to %q", in.Kind)
}

func (e *Engine) requestDeploy(ctx context.Context, req Request) (Reply, error) {
	in, u := req.Intent, req.User
	if e.Draining() && !in.DryRun {
		return Reply{}, Errorf(EConflict, "Shipmate is restarting and takes no new deployments right now; try again in a minute")
	}
	env, err := e.env(in.Env)
	if err != nil {
		return Reply{}, err
	}
	if _, err := e.executor(in.App); err != nil {
		return Reply{}, err
	}
	if !e.hasAnyRole(ctx, u, env.Deployers) {
		return Reply{}, Errorf(EForbidden, "you may not deploy to %s: that needs the %s role%s", env.Name, roleList(env.Deployers), grantedBy(env.Deployers...))
	}
	if err := e.checkRequires(ctx, in.App, in.Version, env); err != nil {
		return Reply{}, err
	}
	now := e.now()
	evs, err := e.checkFreeze(ctx, u, in, env, now)
	if err != nil {
		return Reply{}, err
	}
	if ok, next := InWindows(env.Windows, now); !ok {
		closed := Errorf(EPolicy, "%s is closed for deployments now; it allows %s (next opens %s). In an emergency: --emergency --reason \"why\" (break-glass role)",
			env.Name, windowList(env.Windows), fmtTime(next))
		ev, err := e.breakGlass(ctx, u, in, closed, "outside the "+env.Name+" window", "deploy outside window "+windowList(env.Windows))
		if err != nil {
			return Reply{}, err
		}
		evs = append(evs, ev)
	}
	cur, hasCur, err := e.store.Deployed(ctx, in.App, env.Name)
	if err != nil {
		return Reply{}, err
	}
	if in.DryRun {
		return e.dryRun(in, env, cur.Version, evs), nil
	}
	r := &Run{
		Action: ActionDeploy, App: in.App, Env: env.Name, Version: in.Version,
		Requester: u, Reason: in.Reason, Emergency: len(evs) > 0, Origin: req.Origin,
		State: StateRequested, CreatedAt: now, UpdatedAt: now, StateSince: now,
	}
	if hasCur {
		r.PreviousVersion = cur.Version
	}
	for _, k := range env.Checklist {
		r.Checklist = append(r.Checklist, CheckItem{Key: k, Label: e.policy.Checklist[k], Auto: e.autoChecks(in.App, k)})
	}
	for _, k := range env.Validation {
		r.Validation = append(r.Validation, CheckItem{Key: k, Label: e.policy.Validation[k], Auto: e.analyzes(in.App, env, k)})
	}
	evs = append([]Event{{At: now, Type: EvRequested, Actor: &u, To: StateRequested,
		Detail: fmt.Sprintf("deploy %s %s to %s%s", in.App, in.Version, env.Name, reasonSuffix(in.Reason))}}, evs...)
	if err := e.create(ctx, r, evs); err != nil {
		return Reply{}, err
	}
	return Reply{Text: fmt.Sprintf("Run %s: %s requested.", r.Ref(), r.Title()), RunID: r.ID, Private: true}, nil
}

// create stores a new run (taking its lock) and starts it moving.
func (e *Engine) create(ctx context.Context, r *Run, evs []Event) error {
	if err := e.store.CreateRun(ctx, r, evs...); err != nil {
		var le *LockedError
		if errors.As(err, &le) {
			return lockedError(le.Lock)
		}
		return err
	}
	e.audit(r, evs)
	e.obs.Transition(r.App, r.Env, "", r.State)
	e.kick(r.ID, false)
	return nil
}

func lockedError(l Lock) *Error {
	if l.IncidentRun != 0 {
		return frozenError(l)
	}
	if l.RunID != 0 {
		return Errorf(EConflict, "%s in %s is busy: run #%d by %s since %s (%s). Wait for it, or /deploy cancel %d",
			l.App, l.Env, l.RunID, l.Holder, fmtTime(l.Since), l.Reason, l.RunID)
	}
	what := l.App
	if l.App == commands.AllApps {
		what = "every app"
	}
	reason := ""
	if l.Reason != "" {
		reason = fmt.Sprintf(": %q", l.Reason)
	}
	return Errorf(EConflict, "%s in %s is locked by %s since %s%s", what, l.Env, l.Holder, fmtTime(l.Since), reason)
}

// checkRequires enforces "staging first": the same app and version must
// have succeeded in the environment env requires.
func (e *Engine) checkRequires(ctx context.Context, app, version string, env *Environment) error {
	if env.Requires == "" {
		return nil
	}
	ok, err := e.store.Succeeded(ctx, app, env.Requires, version)
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(EPolicy, "%s %s has not succeeded in %s yet: %s deploys require it there first", app, version, env.Requires, env.Name)
	}
	return nil
}

// historyScan bounds how far back a rollback looks for its target.
const historyScan = 1000

func (e *Engine) dryRun(in commands.Intent, env *Environment, current string, overrides []Event) Reply {
	var b strings.Builder
	fmt.Fprintf(&b, "Dry run: %s %s → %s would be accepted.\n", in.App, in.Version, env.Name)
	if current == "" {
		current = "nothing yet"
	}
	fmt.Fprintf(&b, "• now running there: %s\n", current)
	if n := len(env.Checklist); n > 0 {
		fmt.Fprintf(&b, "• checklist: %d items to tick\n", n)
	}
	if env.Approval.Count > 0 {
		self := ""
		if !env.Approval.AllowSelf {
			self = ", not the requester"
		}
		fmt.Fprintf(&b, "• approval: %d by %s%s\n", env.Approval.Count, roleList(env.Approval.Roles), self)
	} else {
		b.WriteString("• approval: none, it starts at once\n")
	}
	for _, ev := range overrides {
		fmt.Fprintf(&b, "• emergency override, audited: %s\n", ev.Detail)
	}
	if env.Monitor > 0 {
		fmt.Fprintf(&b, "• then monitored for %s, rolled back on failure\n", env.Monitor)
	}
	return Reply{Text: strings.TrimSpace(b.String()), Private: true}
}

func windowList(ws []Window) string {
	s := make([]string, len(ws))
	for i, w := range ws {
		s[i] = w.String()
	}
	return strings.Join(s, ", ")
}

func reasonSuffix(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

// Command parses and carries out one chat command (command is "/deploy" or
// "/rollback", text the rest). Help comes back as a private reply; a
// command that cannot be parsed as an *Error with the parser's one line.
// handled is false when the text was not a Shipmate command at all.
func (e *Engine) Command(ctx context.Context, u User, origin Origin, command, text string) (rep Reply, handled bool, err error) {
	res := e.Parser().Parse(command, text)
	switch {
	case res.Ignored():
		return Reply{}, false, nil
	case res.Intent == nil && res.Err:
		e.obs.Command("invalid", EInvalid)
		return Reply{}, true, Errorf(EInvalid, "%s", res.Reply)
	case res.Intent == nil:
		return Reply{Text: res.Reply, Private: true}, true, nil
	}
	rep, err = e.Do(ctx, Request{User: u, Origin: origin, Intent: *res.Intent})
	e.obs.Command(string(res.Intent.Kind), ErrorCode(err))
	e.auditRefused(ctx, u, res.Intent, 0, err)
	if err != nil && ErrorCode(err) == EInternal {
		e.log.Error().Err(err).Str("user", u.ID).Str("command", command).Msg("command failed")
	}
	return rep, true, err
}

package runbook

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"shipmate/internal/commands"
)

// historyShown is how many runs /deploy history lists.
const historyShown = 10

// statusShown is how many active runs, and how many locks, /deploy status
// lists, newest first: a reply must fit in one chat message.
const statusShown = 20

func (e *Engine) status(ctx context.Context, app string) (Reply, error) {
	runs, total, err := e.activeOf(ctx, app)
	if err != nil {
		return Reply{}, err
	}
	locks, err := e.store.Holds(ctx)
	if err != nil {
		return Reply{}, err
	}
	var b strings.Builder
	switch {
	case total == 0:
		b.WriteString("No active runs")
		if app != "" {
			b.WriteString(" for " + app)
		}
		b.WriteString(".\n")
	case total > len(runs):
		fmt.Fprintf(&b, "Active runs: %d, the newest %d shown:\n", total, len(runs))
	default:
		b.WriteString("Active runs:\n")
	}
	for _, r := range runs {
		fmt.Fprintf(&b, "• %s %s: %s, by %s since %s\n", r.Ref(), r.Title(), statusLine(r), r.Requester, fmtTime(r.CreatedAt))
	}
	if total > len(runs) {
		writeMore(&b, total-len(runs), "", app)
	}
	writeLocks(&b, locks, app)
	for _, line := range e.freezeLines(e.now()) {
		fmt.Fprintf(&b, "• %s\n", line)
	}
	return Reply{Text: strings.TrimSpace(b.String()), Private: true}, nil
}

// activeOf returns the newest statusShown active runs, of app alone if it
// is not empty, and how many there are. An app's are found through its run
// lock in each environment, so neither reads the other active runs.
func (e *Engine) activeOf(ctx context.Context, app string) ([]*Run, int, error) {
	if app == "" {
		return e.store.NewestActive(ctx, statusShown)
	}
	var out []*Run
	for _, env := range e.policy.Envs {
		r, err := e.activeRun(ctx, app, env.Name)
		if err != nil {
			return nil, 0, err
		}
		if r != nil {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *Run) int { return cmp.Compare(b.ID, a.ID) })
	return out, len(out), nil
}

// writeLocks lists the newest statusShown of locks (by when they were
// placed; of app alone, and those on every app, if app is not empty), then
// how many more there are.
func writeLocks(b *strings.Builder, locks []Lock, app string) {
	if app != "" {
		locks = slices.DeleteFunc(locks, func(l Lock) bool { return l.App != app && l.App != commands.AllApps })
	}
	slices.SortStableFunc(locks, func(x, y Lock) int { return y.Since.Compare(x.Since) })
	shown := locks[:min(len(locks), statusShown)]
	for _, l := range shown {
		fmt.Fprintf(b, "• %s\n", lockedError(l).Message)
	}
	if more := len(locks) - len(shown); more > 0 {
		writeMore(b, more, " locks", app)
	}
}

// writeMore ends a list cut to its newest entries with how many more
// there are (of what, if the list could be mistaken for another) and, in
// the status of every app, how to see one app's.
func writeMore(b *strings.Builder, more int, what, app string) {
	fmt.Fprintf(b, "• … and %d more%s", more, what)
	if app == "" {
		b.WriteString(": /deploy status <app> shows one app's")
	}
	b.WriteString("\n")
}

func statusLine(r *Run) string {
	if r.Note != "" && r.Note != r.State.Label() {
		return r.State.Label() + " (" + r.Note + ")"
	}
	return r.State.Label()
}

func (e *Engine) history(ctx context.Context, app, env string) (Reply, error) {
	if _, ok := e.policy.Apps[app]; !ok {
		return Reply{}, Errorf(EInvalid, "unknown app %q", app)
	}
	runs, err := e.store.History(ctx, app, env, historyShown)
	if err != nil {
		return Reply{}, err
	}
	where := app
	if env != "" {
		where += " in " + env
	}
	if len(runs) == 0 {
		return Reply{Text: "No runs of " + where + " yet.", Private: true}, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Last %d runs of %s:\n", len(runs), where)
	for _, r := range runs {
		fmt.Fprintf(&b, "• %s %s %s — %s, by %s\n", r.Ref(), fmtTime(r.CreatedAt), r.Title(), r.State.Label(), r.Requester)
	}
	return Reply{Text: strings.TrimSpace(b.String()), Private: true}, nil
}

func (e *Engine) whereIs(ctx context.Context, app string) (Reply, error) {
	if _, ok := e.policy.Apps[app]; !ok {
		return Reply{}, Errorf(EInvalid, "unknown app %q", app)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n", app)
	for _, env := range e.policy.Envs {
		d, ok, err := e.store.Deployed(ctx, app, env.Name)
		if err != nil {
			return Reply{}, err
		}
		v := "—"
		if ok {
			v = fmt.Sprintf("%s (run #%d, %s)", d.Version, d.RunID, fmtTime(d.At))
		}
		fmt.Fprintf(&b, "• %s: %s", env.Name, v)
		if ins, ok := e.executors[app].(Inspector); ok {
			b.WriteString(e.drift(ctx, ins, app, env.Name, d.Version))
		}
		r, err := e.activeRun(ctx, app, env.Name)
		if err != nil {
			return Reply{}, err
		}
		if r != nil {
			fmt.Fprintf(&b, "; %s %s is %s", r.Ref(), r.Version, r.State.Label())
		}
		b.WriteString("\n")
	}
	return Reply{Text: strings.TrimSpace(b.String()), Private: true}, nil
}

func (e *Engine) lock(ctx context.Context, u User, in commands.Intent) (Reply, error) {
	env, err := e.env(in.Env)
	if err != nil {
		return Reply{}, err
	}
	if err := e.knownAppOrAll(in.App); err != nil {
		return Reply{}, err
	}
	if !e.hasAnyRole(ctx, u, env.Deployers) {
		return Reply{}, Errorf(EForbidden, "you may not lock %s: that needs the %s role%s", env.Name, roleList(env.Deployers), grantedBy(env.Deployers...))
	}
	l := Lock{App: in.App, Env: env.Name, Holder: u, Reason: in.Reason, Since: e.now()}
	if err := e.store.Hold(ctx, l); err != nil {
		if le, ok := err.(*LockedError); ok {
			return Reply{}, lockedError(le.Lock)
		}
		return Reply{}, err
	}
	e.auditLock(AuditLock, l, u)
	what := in.App
	if in.App == commands.AllApps {
		what = "Every app"
	}
	return Reply{Text: fmt.Sprintf("%s is locked in %s%s. /deploy unlock %s %s lifts it.", what, env.Name, reasonSuffix(in.Reason), in.App, env.Name)}, nil
}

func (e *Engine) unlock(ctx context.Context, u User, in commands.Intent) (Reply, error) {
	env, err := e.env(in.Env)
	if err != nil {
		return Reply{}, err
	}
	if err := e.knownAppOrAll(in.App); err != nil {
		return Reply{}, err
	}
	held, err := e.hold(ctx, in.App, env.Name)
	if err != nil {
		return Reply{}, err
	}
	if held == nil {
		return Reply{}, Errorf(EConflict, "%s is not locked in %s", in.App, env.Name)
	}
	if held.IncidentRun != 0 {
		return Reply{}, Errorf(EConflict, "%s in %s is frozen after an incident, not locked: /deploy unfreeze %s %s lifts it", in.App, env.Name, in.App, env.Name)
	}

	if !e.same(held.Holder, u) && !e.hasAnyRole(ctx, u, env.Approval.Roles) && e.mayRollback(ctx, u, env, 0) != nil {
		who := append([]string{held.Holder.String() + " (who locked it)"}, env.Approval.Roles...)
		who = append(who, slices.DeleteFunc(slices.Clone(env.Rollback), func(r string) bool { return r == RoleRequester })...)
		return Reply{}, Errorf(EForbidden, "only %s may unlock %s in %s", roleList(uniq(who)), in.App, env.Name)
	}
	// The store writes who lifted the lock to the outbox.
	// Only the lock just judged is lifted: one placed since is another's.
	if _, ok, err := e.store.Release(Acting(ctx, u, e.now()), in.App, env.Name, held.Since); err != nil || !ok {
		if le, changed := err.(*LockedError); changed {
			return Reply{}, lockedError(le.Lock)
		} else if err != nil {
			return Reply{}, err
		}
		return Reply{}, Errorf(EConflict, "%s is not locked in %s", in.App, env.Name)
	}
	e.auditLock(AuditUnlock, *held, u)
	return Reply{Text: fmt.Sprintf("%s is unlocked in %s (was locked by %s since %s).", in.App, env.Name, held.Holder, fmtTime(held.Since))}, nil
}

func (e *Engine) knownAppOrAll(app string) error {
	if app == commands.AllApps {
		return nil
	}
	if _, ok := e.policy.Apps[app]; !ok {
		return Errorf(EInvalid, "unknown app %q", app)
	}
	return nil
}

func joinQuoted(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = "“" + v + "”"
	}
	return strings.Join(q, ", ")
}

func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// drift describes what really runs when it differs from what Shipmate
// deployed (or cannot be read).
func (e *Engine) drift(ctx context.Context, ins Inspector, app, env, deployed string) string {
	live, detail, err := ins.Live(ctx, app, env)
	switch {
	case err != nil:
		return fmt.Sprintf(" (live state unreadable: %v)", err)
	case live == deployed && live != "":
		return " (live: matches)"
	case live == "" && deployed == "":
		return ""
	}
	return fmt.Sprintf(" ⚠ drift: %s runs %s, not what Shipmate deployed", env, detail)
}

package runbook

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/commands"
)

// MarshalZerologObject writes a's fields onto a log line, under the names
// of its JSON form; empty ones are left out.
func (a Audit) MarshalZerologObject(ev *zerolog.Event) {
	ev.Str("event", a.Event)
	if !a.At.IsZero() {
		ev.Time("at", a.At)
	}
	if a.Run != 0 {
		ev.Uint64("run", a.Run)
	}
	if a.Seq != 0 {
		ev.Uint64("seq", a.Seq)
	}
	for _, f := range [...]struct{ k, v string }{
		{"action", string(a.Action)}, {"app", a.App}, {"env", a.Env}, {"version", a.Version},
		{"artifact", a.Artifact}, {"person", a.Person}, {"platform", a.Platform},
		{"from", string(a.From)}, {"to", string(a.To)}, {"reason", a.Reason}, {"code", a.Code},
	} {
		if f.v != "" {
			ev.Str(f.k, f.v)
		}
	}
}

// LogAudit writes a to log as one line at info with the message "audit"
// and the field audit=true, by which the trail is told from the rest of
// the log.
func LogAudit(log zerolog.Logger, a Audit) {
	log.Info().Bool("audit", true).EmbedObject(a).Msg("audit")
}

// audit logs the events of run r's trail that were just stored. Step
// output is left out: it is the trail's bulk, and the step's verdict is
// an event of its own.
func (e *Engine) audit(r *Run, evs []Event) {
	for _, ev := range evs {
		if ev.Type == EvOutput {
			continue
		}
		a := AuditOf(r, ev)
		a.Reason = e.redact.text(a.Reason)
		LogAudit(e.log, a)
	}
}

// auditAppended logs events just appended to run id's trail, with the
// run's app, environment and version read back from the store.
func (e *Engine) auditAppended(ctx context.Context, id uint64, evs ...Event) {
	r, err := e.store.Run(ctx, id)
	if err != nil {
		e.log.Warn().Err(err).Uint64("run", id).Msg("read the run for its audit log line")
		r = &Run{ID: id}
	}
	e.audit(r, evs)
}

// auditLock logs an explicit lock placed or lifted.
func (e *Engine) auditLock(event string, l Lock, by User) {
	a := AuditOfLock(event, l, by, e.now())
	a.Reason = e.redact.text(a.Reason)
	LogAudit(e.log, a)
}

// refusal reports whether err is a rule refusing what someone asked:
// forbidden to them, in conflict with a lock, a freeze or the run's state,
// or against the environment's policy (a window, staging first).
func refusal(err error) bool {
	if errors.Is(err, ErrDuplicateDelivery) {
		return false // a platform's retry, not a person asking
	}
	switch ErrorCode(err) {
	case EForbidden, EConflict, EPolicy:
		return true
	}
	return false
}

// auditRefused logs the refusal err of a command (in) or of an action on
// run id by u; any other error is not logged here.
func (e *Engine) auditRefused(ctx context.Context, u User, in *commands.Intent, id uint64, err error) {
	if !refusal(err) {
		return
	}
	u = e.identify(u)
	a := Audit{Event: AuditRefused, At: e.now(), Run: id, Person: u.String(), Platform: u.Platform,
		Reason: e.redact.text(ErrorMessage(err)), Code: ErrorCode(err)}
	if in != nil {
		a.Run, a.App, a.Env, a.Version = in.RunID, in.App, in.Env, in.Version
		switch in.Kind {
		case commands.KindDeploy:
			a.Action = ActionDeploy
		case commands.KindRollback:
			a.Action = ActionRollback
		}
	}
	if a.Run != 0 && a.App == "" {
		if r, rerr := e.store.Run(ctx, a.Run); rerr == nil {
			a.Action, a.App, a.Env, a.Version, a.Artifact = r.Action, r.App, r.Env, r.Version, r.Artifact
		}
	}
	LogAudit(e.log, a)
}

// AuditOfExport is run r's record read out of Shipmate (bot export, the
// console's API) by by, at at; how says by which way.
func AuditOfExport(r *Run, by User, at time.Time, how string) Audit {
	return Audit{
		Event: AuditExport, At: at, Run: r.ID, Action: r.Action, App: r.App, Env: r.Env,
		Version: r.Version, Artifact: r.Artifact, Person: by.String(), Platform: by.Platform, Reason: how,
	}
}

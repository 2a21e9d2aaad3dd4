package runbook

import (
	"time"
)

// Audit is one entry of the audit trail as it leaves Shipmate: a line of
// its log and an event to the webhooks. Its fields are a stable schema
// (the README lists them); a run's events map onto it with AuditOf.
type Audit struct {
	// Event is the event's type: a run event's (requested, transition,
	// approval …), or lock, unlock, refused, export.
	Event string    `json:"event"`
	At    time.Time `json:"at"`
	// Run and Seq name the run and the event's place on its trail; both
	// are 0 for what is on no run's trail (a lock).
	Run      uint64 `json:"run,omitempty"`
	Seq      uint64 `json:"seq,omitempty"`
	Action   Action `json:"action,omitempty"`
	App      string `json:"app,omitempty"`
	Env      string `json:"env,omitempty"`
	Version  string `json:"version,omitempty"`
	Artifact string `json:"artifact,omitempty"`
	// Person is who acted (their name in the policy, else their platform
	// id) and Platform where; empty for what Shipmate did by itself.
	Person   string `json:"person,omitempty"`
	Platform string `json:"platform,omitempty"`
	From     State  `json:"from,omitempty"`
	To       State  `json:"to,omitempty"`
	// Reason is the event's detail: why, or what was found.
	Reason string `json:"reason,omitempty"`
	// Code is a refusal's error code (forbidden, conflict, policy).
	Code string `json:"code,omitempty"`
}

// AuditOf is ev, of run r's trail, as an audit entry.
func AuditOf(r *Run, ev Event) Audit {
	a := Audit{
		Event: ev.Type, At: ev.At, Run: r.ID, Seq: ev.Seq, Action: r.Action,
		App: r.App, Env: r.Env, Version: r.Version, Artifact: r.Artifact,
		From: ev.From, To: ev.To, Reason: ev.Detail,
	}
	if ev.Actor != nil {
		a.Person, a.Platform = ev.Actor.String(), ev.Actor.Platform
	}
	return a
}

// AuditOfLock is an explicit lock placed (event "lock") or lifted
// ("unlock") as an audit entry; by is who lifted it (the holder for a lock
// placed).
func AuditOfLock(event string, l Lock, by User, at time.Time) Audit {
	return Audit{
		Event: event, At: at, App: l.App, Env: l.Env, Reason: l.Reason,
		Person: by.String(), Platform: by.Platform,
	}
}

// Audit event types that are on no run's trail.
const (
	AuditLock    = "lock"
	AuditUnlock  = "unlock"
	AuditRefused = "refused"
	AuditExport  = "export"
)

package runbook

import (
	"context"
	"fmt"
	"time"

	"shipmate/internal/commands"
)

// Freeze is a calendar period when an environment takes no deployments,
// such as the end-of-year holidays. Rollbacks are never frozen: a rollback
// fixes things.
type Freeze struct {
	// From is the first instant of the freeze.
	From time.Time
	// To is the first instant after it: a freeze written to end on a date
	// ends when the next day begins.
	To     time.Time
	Reason string
}

// Covers reports whether t falls inside the freeze.
func (f Freeze) Covers(t time.Time) bool { return !t.Before(f.From) && t.Before(f.To) }

// frozenAt returns the freeze of fs that covers t, if any. Its end is moved
// past the freezes that overlap or follow on from it, so that it says when
// deployments may start again.
func frozenAt(fs []Freeze, t time.Time) (Freeze, bool) {
	var cur Freeze
	found := false
	for _, f := range fs {
		if f.Covers(t) && (!found || f.To.After(cur.To)) {
			cur, found = f, true
		}
	}
	for grew := found; grew; {
		grew = false
		for _, f := range fs {
			if !f.From.After(cur.To) && f.To.After(cur.To) {
				cur.To, grew = f.To, true
			}
		}
	}
	return cur, found
}

// nextFreeze returns the first freeze of fs that starts after t.
func nextFreeze(fs []Freeze, t time.Time) (Freeze, bool) {
	var next Freeze
	found := false
	for _, f := range fs {
		if f.From.After(t) && (!found || f.From.Before(next.From)) {
			next, found = f, true
		}
	}
	return next, found
}

// checkFreeze refuses a deploy to env while one of its calendar freezes is
// on, unless it is an emergency of a break-glass holder: then it returns the
// event that audits the override.
func (e *Engine) checkFreeze(ctx context.Context, u User, in commands.Intent, env *Environment, now time.Time) ([]Event, error) {
	f, ok := frozenAt(env.Freezes, now)
	if !ok {
		return nil, nil
	}
	refusal := Errorf(EPolicy, "%s is frozen for deployments (%s) until %s. In an emergency: --emergency --reason \"why\" (break-glass role)",
		env.Name, f.Reason, fmtTime(f.To))
	ev, err := e.breakGlass(ctx, u, in, refusal, "during the "+env.Name+" freeze",
		fmt.Sprintf("deploy during freeze %q (until %s)", f.Reason, fmtTime(f.To)))
	if err != nil {
		return nil, err
	}
	return []Event{ev}, nil
}

// notYet holds an approved run back while a rule that can change after its
// approval forbids starting it now: a calendar freeze (unless the run was an
// emergency requested during that same freeze), its environment's windows
// (unless an emergency), an incident freeze of its app. It returns the note
// event the run waits with, errMovedOn when it already waits with that note,
// or nothing when the run may start.
func (e *Engine) notYet(ctx context.Context, r *Run, env *Environment) ([]Event, error) {
	now := e.now()
	note := ""
	for _, f := range env.Freezes {
		if f.Covers(now) && !(r.Emergency && f.Covers(r.CreatedAt)) {
			end, _ := frozenAt(env.Freezes, now)
			note = fmt.Sprintf("approved; waiting for the end of the %s freeze (%s) on %s", r.Env, f.Reason, fmtTime(end.To))
			break
		}
	}
	if ok, next := InWindows(env.Windows, now); note == "" && !ok && !r.Emergency {
		note = fmt.Sprintf("approved; waiting for the %s deployment window (next opens %s)", r.Env, fmtTime(next))
	}
	if note == "" {
		// Read last, so that runs waiting for their window do not read
		// the locks at every tick.
		l, err := e.incidentFreeze(ctx, r.App, r.Env)
		if err != nil {
			return nil, err
		}
		if l != nil {
			note = "approved; waiting: " + frozenError(*l).Message
		}
	}
	switch note {
	case "":
		return nil, nil
	case r.Note:
		return nil, errMovedOn
	}
	r.Note = note
	return []Event{e.event(EvNote, nil, note)}, nil
}

// freezeLines describes, for /deploy status, each environment's calendar
// freeze that is on now, or else its next one.
func (e *Engine) freezeLines(now time.Time) []string {
	var lines []string
	for _, env := range e.policy.Envs {
		if f, ok := frozenAt(env.Freezes, now); ok {
			lines = append(lines, fmt.Sprintf("%s is frozen for deployments (%s) until %s", env.Name, f.Reason, fmtTime(f.To)))
		} else if f, ok := nextFreeze(env.Freezes, now); ok {
			end, _ := frozenAt(env.Freezes, f.From)
			lines = append(lines, fmt.Sprintf("%s will be frozen for deployments (%s) from %s until %s", env.Name, f.Reason, fmtTime(f.From), fmtTime(end.To)))
		}
	}
	return lines
}

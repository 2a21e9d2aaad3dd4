package runbook

import (
	"context"
	"strings"

	"shipmate/internal/commands"
)

// breakGlass lets a deploy past a rule that refuses it now — a closed
// window, a calendar freeze — when it is an --emergency with a reason by a
// break-glass holder, and returns the event that audits the override.
// refusal is the answer without --emergency; rule says when the override
// applies ("outside the production window"), override what it overrides.
func (e *Engine) breakGlass(ctx context.Context, u User, in commands.Intent, refusal *Error, rule, override string) (Event, error) {
	if !in.Emergency {
		return Event{}, refusal
	}
	if !e.hasRole(ctx, u, RoleBreakGlass) {
		return Event{}, Errorf(EForbidden, "an emergency deploy %s needs the %s role%s", rule, RoleBreakGlass, grantedBy(RoleBreakGlass))
	}
	if strings.TrimSpace(in.Reason) == "" {
		return Event{}, Errorf(EInvalid, "--emergency needs --reason \"why\"")
	}
	return Event{At: e.now(), Type: EvEmergency, Actor: &u, Detail: override + ": " + in.Reason}, nil
}

//go:build !unix

package exec

import (
	"context"
	"fmt"

	"shipmate/internal/runbook"
)

// attachable is false where process groups do not exist: steps run as
// plain commands and cannot be re-attached.
func (e *Executor) attachable(string, runbook.Job) bool { return false }

func (e *Executor) runAttachable(context.Context, string, []string, []string, runbook.Job, runbook.Progress) error {
	return fmt.Errorf("exec: re-attachable steps need a unix system")
}

// Reattach cannot follow a command here: its outcome is unknown.
func (e *Executor) Reattach(context.Context, runbook.Job, runbook.Progress) error {
	return fmt.Errorf("this system cannot follow a command after a restart: %w", runbook.ErrOutcomeUnknown)
}

//go:build !unix

package exec

import (
	osexec "os/exec"
	"time"
)

// processGroup is a no-op where process groups do not exist: cancelling a
// command kills only the command itself.
type processGroup struct{}

// killGroupOnCancel makes Wait give up on the command's output grace after
// its context is done.
func killGroupOnCancel(cmd *osexec.Cmd, grace time.Duration) *processGroup {
	cmd.WaitDelay = grace
	return &processGroup{}
}

// waited does nothing.
func (*processGroup) waited() {}

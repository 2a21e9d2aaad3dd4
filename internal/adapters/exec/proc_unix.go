//go:build unix

package exec

import (
	"errors"
	"os"
	osexec "os/exec"
	"sync"
	"syscall"
	"time"
)

// processGroup stops a command together with everything it started: the
// command leads its own process group, and when its context is done the
// whole group gets SIGTERM and, grace later, SIGKILL. Without the group a
// script's children (a `sleep 600`, a stuck curl) would outlive it.
type processGroup struct {
	mu   sync.Mutex
	pgid int
	kill *time.Timer // the pending SIGKILL, once cancelled
}

// killGroupOnCancel prepares cmd, before Start, to run in its own process
// group that is stopped as a whole when cmd's context is done.
func killGroupOnCancel(cmd *osexec.Cmd, grace time.Duration) *processGroup {
	g := &processGroup{}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Also bounds how long Wait waits for output from processes that
	// survived the command, and kills the leader if it ignored SIGTERM.
	cmd.WaitDelay = grace
	cmd.Cancel = func() error {
		pgid := cmd.Process.Pid
		err := syscall.Kill(-pgid, syscall.SIGTERM)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		g.mu.Lock()
		g.pgid = pgid
		g.kill = time.AfterFunc(grace, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
		g.mu.Unlock()
		return err
	}
	return g
}

// waited is called after Wait returns. The leader may have exited on SIGTERM
// while others in its group are still cleaning up; the pending SIGKILL is
// left to deal with them, and dropped only once the group is empty.
func (g *processGroup) waited() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.kill != nil && errors.Is(syscall.Kill(-g.pgid, 0), syscall.ESRCH) {
		g.kill.Stop()
	}
}

//go:build unix

package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"shipmate/internal/runbook"
)

// Deploy and rollback commands run so that they outlive the bot and a
// restarted bot can follow them to the end: each runs under a small sh
// wrapper, in its own process group, with its output going to a file in a
// step folder under Config.StateDir, and the wrapper writes the command's
// exit status there when it ends. The step's handle (saved in the run at
// once through runbook.Job.Save) names the folder and the group.

// wrapper runs "$@" and records its exit status in $0/status (written
// whole: a half-written file is never read as a status). The command's
// output goes where the wrapper's does: the step's output file.
const wrapper = `"$@"
s=$?
echo "$s" >"$0/status.tmp" && mv "$0/status.tmp" "$0/status"
exit "$s"`

// Follow-up timing.
const (
	// pollOutput is how often the output file is read for new lines.
	pollOutput = 100 * time.Millisecond
	// pollDetached is how often a re-attached step is checked.
	pollDetached = 200 * time.Millisecond
	// shownOnReattach is how many lines of the output so far a re-attached
	// step shows before what follows.
	shownOnReattach = 10
)

// stepHandle is what a running step saves of itself.
type stepHandle struct {
	PID       int    `json:"pid"`        // the wrapper's, which leads the group
	Dir       string `json:"dir"`        // the step folder
	Started   int64  `json:"started"`    // Unix seconds
	ProcStart uint64 `json:"proc_start"` // the wrapper's start time in clock ticks since boot (0: unknown)
}

// attachable reports whether action's step is run so that it can be
// re-attached.
func (e *Executor) attachable(action string, j runbook.Job) bool {
	return e.cfg.StateDir != "" && j.Save != nil && (action == "deploy" || action == "rollback")
}

// step is a started deploy or rollback command.
type step struct {
	cmd   *osexec.Cmd
	h     stepHandle
	group *processGroup
	out   *os.File // the output file, as the command's stdout and stderr
}

// startStep starts argv for j as action under the wrapper, in a fresh step
// folder, bound to ctx. The caller removes the folder when done.
func (e *Executor) startStep(ctx context.Context, action string, argv, env []string, j runbook.Job) (*step, error) {
	if err := e.findProgram(argv[0]); err != nil {
		return nil, fmt.Errorf("%s: cannot start %q: %w", action, argv[0], err)
	}
	if err := os.MkdirAll(e.cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("%s: state folder: %w", action, err)
	}
	dir, err := os.MkdirTemp(e.cfg.StateDir, fmt.Sprintf("run%d-%s-", j.RunID, action))
	if err != nil {
		return nil, fmt.Errorf("%s: step folder: %w", action, err)
	}
	out, err := os.OpenFile(filepath.Join(dir, "output"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%s: output file: %w", action, err)
	}
	cmd := osexec.CommandContext(ctx, "/bin/sh", append([]string{"-c", wrapper, dir}, argv...)...)
	cmd.Dir, cmd.Env = e.cfg.Dir, env
	cmd.Stdout, cmd.Stderr = out, out
	group := killGroupOnCancel(cmd, e.cfg.Grace)
	if err := cmd.Start(); err != nil {
		out.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%s: cannot start %q: %w", action, argv[0], err)
	}
	h := stepHandle{PID: cmd.Process.Pid, Dir: dir, Started: time.Now().Unix(), ProcStart: procStart(cmd.Process.Pid)}
	return &step{cmd: cmd, h: h, group: group, out: out}, nil
}

// runAttachable runs argv for j as action under the wrapper, saves its
// handle, and follows it to the end.
func (e *Executor) runAttachable(ctx context.Context, action string, argv []string, env []string, j runbook.Job, p runbook.Progress) error {
	cctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	st, err := e.startStep(cctx, action, argv, env, j)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s cancelled: %w", action, ctx.Err())
		}
		return err
	}
	defer os.RemoveAll(st.h.Dir)
	defer st.out.Close()
	// Without a saved handle a restarted bot finds the step's outcome
	// unknown; this bot still follows it.
	_ = j.Save(st.h.String())

	done := make(chan error, 1)
	go func() { done <- st.cmd.Wait() }()
	tail := &tailer{path: filepath.Join(st.h.Dir, "output"), out: &lineWriter{emit: p}}
	tick := time.NewTicker(pollOutput)
	defer tick.Stop()
follow:
	for {
		select {
		case <-tick.C:
			tail.read()
		case err = <-done:
			break follow
		}
	}
	st.group.waited()
	tail.read()
	tail.out.Close()

	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%s cancelled: %w", action, ctx.Err())
	case cctx.Err() != nil:
		return fmt.Errorf("%s timed out after %s", action, e.cfg.Timeout)
	}
	var ee *osexec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("%s: %w", action, err)
	}
	return wrapperExit(action, ee.ExitCode(), ee.ProcessState.String(), tail.out.last)
}

// wrapperExit is exitError for a status the wrapper reported, which gives
// a command killed by signal n as 128+n.
func wrapperExit(action string, code int, how, last string) error {
	if code > 128 && code <= 128+64 {
		code, how = -1, syscall.Signal(code-128).String()
	}
	return exitError(action, code, how, last)
}

// findProgram checks, as os/exec would, that argv[0] can be run: the shell
// would only say "not found" in the output.
func (e *Executor) findProgram(name string) error {
	if !strings.Contains(name, "/") {
		_, err := osexec.LookPath(name)
		return err
	}
	if !filepath.IsAbs(name) && e.cfg.Dir != "" {
		name = filepath.Join(e.cfg.Dir, name)
	}
	_, err := os.Stat(name)
	return err
}

// Reattach implements runbook.Reattacher: it follows a deploy or rollback
// command that was running when the bot stopped, by the handle its step
// saved, to its exit status, showing the last lines of its output so far
// and then what follows. A command that ended with the bot (or whose start
// was never recorded) leaves the outcome unknown. The timeout counts from
// the command's start; cancelling stops its process group.
func (e *Executor) Reattach(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	action := "deploy"
	if j.Action == runbook.ActionRollback {
		action = "rollback"
	}
	if p == nil {
		p = func(string) {}
	}
	if e.cfg.StateDir == "" {
		// Replicas on a shared store: the command ran beside the replica
		// that led, maybe on another machine.
		return fmt.Errorf("the %s command ran beside the replica that led before, and cannot be followed from another one: %w",
			action, runbook.ErrOutcomeUnknown)
	}
	if strings.TrimSpace(j.Handle) == "" {
		return fmt.Errorf("Shipmate stopped before the %s command's start was recorded, so whether it ran is not known: %w",
			action, runbook.ErrOutcomeUnknown)
	}
	var h stepHandle
	if err := json.Unmarshal([]byte(j.Handle), &h); err != nil || h.PID <= 1 || h.Dir == "" {
		return fmt.Errorf("the saved handle of the %s command is not one of Shipmate's (%q): %w", action, j.Handle, runbook.ErrOutcomeUnknown)
	}
	if e.cfg.StateDir == "" || filepath.Dir(h.Dir) != filepath.Clean(e.cfg.StateDir) {
		return fmt.Errorf("the %s command's folder %s is not under this bot's state folder %q: %w",
			action, h.Dir, e.cfg.StateDir, runbook.ErrOutcomeUnknown)
	}
	defer os.RemoveAll(h.Dir)

	tail := &tailer{path: filepath.Join(h.Dir, "output"), out: &lineWriter{emit: p}}
	defer tail.out.Close()
	p(fmt.Sprintf("re-attached to the %s command (pid %d, started %s) after a restart", action, h.PID,
		time.Unix(h.Started, 0).UTC().Format("15:04:05 UTC")))
	tail.skipTo(shownOnReattach)

	deadline := time.Unix(h.Started, 0).Add(e.cfg.Timeout)
	tick := time.NewTicker(pollDetached)
	defer tick.Stop()
	for {
		tail.read()
		// Read after the liveness check: a status written just before the
		// exit is still found.
		running := h.running()
		if code, ok := readStatus(h.Dir); ok {
			tail.read()
			if code == 0 {
				return nil
			}
			return wrapperExit(action, code, "", tail.out.last)
		}
		if !running {
			return fmt.Errorf("the %s command (pid %d) ended while Shipmate was down without leaving its exit status, so its outcome is unknown: %w",
				action, h.PID, runbook.ErrOutcomeUnknown)
		}
		if time.Now().After(deadline) {
			h.stop(e.cfg.Grace)
			return fmt.Errorf("%s timed out after %s", action, e.cfg.Timeout)
		}
		select {
		case <-ctx.Done():
			h.stop(e.cfg.Grace)
			return fmt.Errorf("%s cancelled: %w", action, ctx.Err())
		case <-tick.C:
		}
	}
}

func (h stepHandle) String() string {
	b, _ := json.Marshal(h)
	return string(b)
}

// running reports whether the step still runs: its leader is the process
// the handle names (a pid reused since is not), or, the leader gone, its
// process group still has live members.
func (h stepHandle) running() bool {
	st, zombie := procStat(h.PID)
	switch {
	case zombie:
		return false
	case st != 0:
		// The leader runs: it is the step's unless the pid was reused.
		return h.ProcStart == 0 || st == h.ProcStart
	}
	// No leader to read (gone, or no /proc): does its group live on?
	return groupAlive(h.PID)
}

// groupAlive reports whether process group pgid has a member that is not
// a zombie (an exited process its new parent has not reaped yet, which
// kill(2) still counts). Without /proc, kill(2) alone decides.
func groupAlive(pgid int) bool {
	if errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	want := strconv.Itoa(pgid)
	for _, ent := range entries {
		if _, err := strconv.Atoi(ent.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + ent.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		// After the name: state, ppid, pgrp, ...
		if f := strings.Fields(string(b[i+1:])); len(f) > 2 && f[2] == want && f[0] != "Z" {
			return true
		}
	}
	return false
}

// stop sends the step's process group SIGTERM and, grace later if it is
// still there, SIGKILL; it returns when the group is gone, or a while
// after SIGKILL.
func (h stepHandle) stop(grace time.Duration) {
	if !h.running() {
		return
	}
	_ = syscall.Kill(-h.PID, syscall.SIGTERM)
	if h.gone(grace) {
		return
	}
	_ = syscall.Kill(-h.PID, syscall.SIGKILL)
	h.gone(2 * time.Second)
}

// gone waits up to d for the step's process group to be empty.
func (h stepHandle) gone(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !groupAlive(h.PID) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readStatus reads the exit status the wrapper wrote.
func readStatus(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return 0, false
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, false
	}
	return code, true
}

// procStart returns the start time of process pid in clock ticks after
// boot, or 0 where /proc cannot tell.
func procStart(pid int) uint64 {
	st, _ := procStat(pid)
	return st
}

// procStat reads /proc/<pid>/stat: the process's start time (field 22)
// and whether it is a zombie.
func procStat(pid int) (start uint64, zombie bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, false
	}
	start, _ = strconv.ParseUint(f[19], 10, 64)
	return start, f[0] == "Z"
}

// tailer reads a growing output file and hands its lines on.
type tailer struct {
	path string
	off  int64
	out  *lineWriter
}

// maxStepOutput bounds the output file of a step being followed: once
// that much is read, the file is emptied (the command appends, so it goes
// on writing at the new end). A var for tests.
var maxStepOutput int64 = 64 << 20

// read passes on what was written since the last read.
func (t *tailer) read() {
	f, err := os.Open(t.path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return
	}
	n, _ := io.Copy(t.out, f)
	t.off += n
	if t.off >= maxStepOutput && os.Truncate(t.path, 0) == nil {
		// What the command wrote between the copy and now is lost.
		t.off = 0
	}
}

// skipTo moves past the output so far except its last n lines, which read
// then passes on, after a line saying how many were skipped.
func (t *tailer) skipTo(n int) {
	b, err := os.ReadFile(t.path)
	if err != nil {
		return
	}
	end := len(b)
	if end > 0 && b[end-1] != '\n' {
		// A last line still being written is read whole later.
		end = bytes.LastIndexByte(b, '\n') + 1
	}
	start, lines := end, 0
	for start > 0 && lines < n {
		j := bytes.LastIndexByte(b[:start-1], '\n')
		start = j + 1
		lines++
	}
	if skipped := bytes.Count(b[:start], []byte{'\n'}); skipped > 0 {
		t.out.emit(fmt.Sprintf("(%d earlier lines of output)", skipped))
	}
	t.off = int64(start)
}

//go:build unix

package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"shipmate/internal/runbook"
)

// spawner returns a script that starts a long sleep in the background,
// records its pid, says "started" and runs last (typically "wait"). With
// ignoreTerm both the script and the sleep ignore SIGTERM.
func spawner(t *testing.T, ignoreTerm bool, last string) (argv []string, pidfile string) {
	t.Helper()
	pidfile = filepath.Join(t.TempDir(), "child.pid")
	trap := ""
	if ignoreTerm {
		trap = "trap '' TERM\n"
	}
	t.Cleanup(func() {
		// Whatever the test's outcome, leave no sleep behind.
		if b, err := os.ReadFile(pidfile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && alive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return script(t, fmt.Sprintf("%ssleep 600 &\necho $! >%s\necho started\n%s\n", trap, shq(pidfile), last)), pidfile
}

// childPid reads the pid the spawner script recorded.
func childPid(t *testing.T, pidfile string) int {
	t.Helper()
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// alive reports whether pid is a live process. A zombie counts as dead: it
// has stopped, and an init that does not reap would keep it forever.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) // no /proc: trust kill
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || (b[i+2] != 'Z' && b[i+2] != 'X')
}

// assertDies fails the test unless pid is gone within d.
func assertDies(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); alive(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("child process %d still runs %s after the command ended", pid, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	t.Parallel()
	argv, pidfile := spawner(t, false, "wait")
	e := mustNew(t, Config{Deploy: argv, Timeout: 300 * time.Millisecond})

	start := time.Now()
	err := e.Deploy(t.Context(), runbook.Job{}, nil)
	took := time.Since(start)

	if err == nil || err.Error() != "deploy timed out after 300ms" {
		t.Errorf("error = %v, want %q", err, "deploy timed out after 300ms")
	}
	if took > 3*time.Second {
		t.Errorf("Deploy took %s to return after a 300ms timeout", took)
	}
	assertDies(t, childPid(t, pidfile), 3*time.Second)
}

func TestTimeoutKillsWhatIgnoresSIGTERM(t *testing.T) {
	t.Parallel()
	argv, pidfile := spawner(t, true, "wait")
	e := mustNew(t, Config{Rollback: argv, Timeout: 300 * time.Millisecond, Grace: 500 * time.Millisecond})

	start := time.Now()
	err := e.Rollback(t.Context(), runbook.Job{}, nil)
	took := time.Since(start)

	if err == nil || err.Error() != "rollback timed out after 300ms" {
		t.Errorf("error = %v, want %q", err, "rollback timed out after 300ms")
	}
	if took < 800*time.Millisecond || took > 4*time.Second {
		t.Errorf("Rollback took %s; want timeout plus grace, about 800ms", took)
	}
	assertDies(t, childPid(t, pidfile), 3*time.Second)
}

func TestCancelKillsProcessGroup(t *testing.T) {
	t.Parallel()
	argv, pidfile := spawner(t, false, "wait")
	e := mustNew(t, Config{Deploy: argv})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := newLines()
	done := make(chan error, 1)
	go func() { done <- e.Deploy(ctx, runbook.Job{}, out.progress) }()
	out.await(t, "started", 10*time.Second)
	pid := childPid(t, pidfile)
	cancel()

	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want one wrapping context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Deploy did not return within 3s of cancellation")
	}
	assertDies(t, pid, 3*time.Second)
}

func TestSuccessLeavingAProcessBehind(t *testing.T) {
	t.Parallel()
	// The leftover sleep holds the output pipe open; Deploy must not wait
	// for it longer than the grace period, nor count it as a failure.
	argv, pidfile := spawner(t, false, "echo done")
	e := mustNew(t, Config{Deploy: argv, Grace: 200 * time.Millisecond})

	start := time.Now()
	var out []string
	err := e.Deploy(t.Context(), runbook.Job{}, func(l string) { out = append(out, l) })
	took := time.Since(start)

	if err != nil {
		t.Errorf("Deploy() = %v, want nil", err)
	}
	if took > 3*time.Second {
		t.Errorf("Deploy took %s to return", took)
	}
	if len(out) != 2 || out[1] != "done" {
		t.Errorf("output = %q, want [started done]", out)
	}
	if !alive(childPid(t, pidfile)) {
		t.Error("a process left behind by a successful command was killed")
	}
}

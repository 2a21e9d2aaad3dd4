//go:build unix

package exec

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"shipmate/internal/runbook"
)

// A bot that stops leaves its deploy command running; these tests start a
// command as a step does and then, as if the bot had died, drop it: a
// fresh Executor re-attaches to it by the saved handle. The abandoned
// wrapper is reaped in the background, as init would reap it.

// attachJob is a deploy of run 7 whose Save records the handle.
func attachJob(saved *string) runbook.Job {
	var mu sync.Mutex
	return runbook.Job{RunID: 7, App: "demo", Env: "staging", Version: "v2", Action: runbook.ActionDeploy,
		Save: func(h string) error {
			mu.Lock()
			defer mu.Unlock()
			*saved = h
			return nil
		}}
}

// abandoned starts body as the deploy command of a step and returns its
// handle, as a bot that dies right after would leave it.
func abandoned(t *testing.T, e *Executor, body string) stepHandle {
	t.Helper()
	env, err := jobEnv(os.Environ(), "deploy", attachJob(new(string)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.startStep(context.Background(), "deploy", script(t, body), env, runbook.Job{RunID: 7})
	if err != nil {
		t.Fatal(err)
	}
	st.out.Close()
	reaped := make(chan struct{})
	go func() { _ = st.cmd.Wait(); close(reaped) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-st.h.PID, syscall.SIGKILL)
		<-reaped
	})
	return st.h
}

// waitFile waits until path exists and holds want.
func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never held %q (has %q)", path, want, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func attachExecutor(t *testing.T, cfg Config) *Executor {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(t.TempDir(), "steps")
	}
	return mustNew(t, cfg)
}

// reattach runs Reattach for h in the background; the result comes on the
// channel.
func reattach(ctx context.Context, e *Executor, h stepHandle, l *lines) chan error {
	done := make(chan error, 1)
	go func() {
		done <- e.Reattach(ctx, runbook.Job{RunID: 7, Action: runbook.ActionDeploy, Handle: h.String()}, l.progress)
	}()
	return done
}

func result(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Reattach did not return")
		return nil
	}
}

// A deploy with a state folder streams its output as before, saves a
// handle naming its process group and folder, says how it failed, and
// leaves no folder behind.
func TestAttachableDeploy(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "go")
	e := attachExecutor(t, Config{Deploy: script(t, `echo "deploying $SHIPMATE_VERSION"
while [ ! -e `+shq(gate)+` ]; do sleep 0.05; done
echo "health check failed" >&2
exit 3`)})
	var saved string
	l := newLines()
	done := make(chan error, 1)
	go func() { done <- e.Deploy(context.Background(), attachJob(&saved), l.progress) }()
	l.await(t, "deploying v2", 5*time.Second)

	var h stepHandle
	if err := json.Unmarshal([]byte(saved), &h); err != nil || h.PID <= 1 || filepath.Dir(h.Dir) != e.cfg.StateDir {
		t.Fatalf("saved handle %q (%v), want the wrapper's pid and a folder under %s", saved, err, e.cfg.StateDir)
	}
	if !h.running() {
		t.Fatalf("the handle's process group is not running: %+v", h)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := result(t, done)
	if err == nil || err.Error() != "deploy exited with status 3: health check failed" {
		t.Fatalf("Deploy = %v", err)
	}
	if _, err := os.Stat(h.Dir); !os.IsNotExist(err) {
		t.Errorf("step folder %s left behind (%v)", h.Dir, err)
	}
}

// After a restart the step is followed to its end: the last lines so far,
// then the rest, and its exit status.
func TestReattachFollowsARunningCommand(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "go")
	e := attachExecutor(t, Config{})
	h := abandoned(t, e, `for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo "line $i"; done
while [ ! -e `+shq(gate)+` ]; do sleep 0.05; done
echo "deployed $SHIPMATE_VERSION"`)
	waitFile(t, filepath.Join(h.Dir, "output"), "line 12")

	l := newLines()
	done := reattach(context.Background(), mustNew(t, Config{StateDir: e.cfg.StateDir}), h, l)
	l.await(t, "line 12", 5*time.Second)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := result(t, done); err != nil {
		t.Fatalf("Reattach = %v", err)
	}
	got := l.get()
	if !strings.HasPrefix(got[0], "re-attached to the deploy command (pid ") {
		t.Errorf("first line %q", got[0])
	}
	want := []string{"(2 earlier lines of output)", "line 3", "line 4", "line 5", "line 6", "line 7", "line 8",
		"line 9", "line 10", "line 11", "line 12", "deployed v2"}
	if !slices.Equal(got[1:], want) {
		t.Errorf("lines %q, want %q", got[1:], want)
	}
	if _, err := os.Stat(h.Dir); !os.IsNotExist(err) {
		t.Errorf("step folder %s left behind", h.Dir)
	}
}

// A command that ended while the bot was down is judged by the status it
// left; one that ended with the bot (no status) leaves the outcome unknown.
func TestReattachAfterTheCommandEnded(t *testing.T) {
	e := attachExecutor(t, Config{})
	failed := abandoned(t, e, `echo "migrating"; echo "migration 42 failed"; exit 4`)
	ok := abandoned(t, e, `echo "deployed"`)
	waitFile(t, filepath.Join(failed.Dir, "status"), "4")
	waitFile(t, filepath.Join(ok.Dir, "status"), "0")

	err := result(t, reattach(context.Background(), e, failed, newLines()))
	if err == nil || err.Error() != "deploy exited with status 4: migration 42 failed" {
		t.Errorf("Reattach to a failed command = %v", err)
	}
	if errors.Is(err, runbook.ErrOutcomeUnknown) {
		t.Errorf("a known failure is reported as unknown: %v", err)
	}
	l := newLines()
	if err := result(t, reattach(context.Background(), e, ok, l)); err != nil {
		t.Errorf("Reattach to a command that succeeded = %v", err)
	}
	if got := l.get(); !slices.Contains(got, "deployed") {
		t.Errorf("lines %q, want the output so far", got)
	}

	killed := abandoned(t, e, `echo "started"; sleep 30`)
	waitFile(t, filepath.Join(killed.Dir, "output"), "started")
	_ = syscall.Kill(-killed.PID, syscall.SIGKILL)
	for killed.running() {
		time.Sleep(20 * time.Millisecond)
	}
	err = result(t, reattach(context.Background(), e, killed, newLines()))
	if !errors.Is(err, runbook.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "ended while Shipmate was down without leaving its exit status, so its outcome is unknown") {
		t.Errorf("Reattach to a killed command = %v, want the outcome unknown", err)
	}
}

// Stopping a re-attached step stops its whole process group; so does its
// timeout, counted from the command's start.
func TestReattachStopsTheGroup(t *testing.T) {
	e := attachExecutor(t, Config{Grace: 200 * time.Millisecond})
	h := abandoned(t, e, `sleep 30 & echo "child $!"; wait`)
	waitFile(t, filepath.Join(h.Dir, "output"), "child")
	ctx, cancel := context.WithCancel(context.Background())
	done := reattach(ctx, e, h, newLines())
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := result(t, done); err == nil || !strings.Contains(err.Error(), "deploy cancelled") {
		t.Errorf("cancelled Reattach = %v", err)
	}
	if groupAlive(h.PID) {
		t.Errorf("the process group still runs after the cancel")
	}

	short := attachExecutor(t, Config{StateDir: e.cfg.StateDir, Timeout: time.Second, Grace: 200 * time.Millisecond})
	h = abandoned(t, short, `trap '' TERM; sleep 30`)
	err := result(t, reattach(context.Background(), short, h, newLines()))
	if err == nil || err.Error() != "deploy timed out after 1s" {
		t.Errorf("Reattach past the timeout = %v", err)
	}
	if groupAlive(h.PID) {
		t.Errorf("the process group still runs after the timeout")
	}
}

// Handles that name no step of this bot's are not followed, nor is a
// process that merely reuses the step's pid.
func TestReattachRefusesForeignHandles(t *testing.T) {
	e := attachExecutor(t, Config{})
	for name, handle := range map[string]string{
		"none":        "",
		"not json":    "build-12",
		"other place": stepHandle{PID: os.Getpid(), Dir: "/tmp/elsewhere/run7", Started: time.Now().Unix()}.String(),
	} {
		err := e.Reattach(context.Background(), runbook.Job{RunID: 7, Action: runbook.ActionDeploy, Handle: handle}, nil)
		if !errors.Is(err, runbook.ErrOutcomeUnknown) {
			t.Errorf("%s: Reattach = %v, want the outcome unknown", name, err)
		}
	}

	// Without a state folder (replicas on etcd) nothing is followed, and
	// the reason says why.
	err := mustNew(t, Config{}).Reattach(context.Background(), runbook.Job{RunID: 7, Action: runbook.ActionDeploy, Handle: ""}, nil)
	if !errors.Is(err, runbook.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "cannot be followed from another one") {
		t.Errorf("Reattach without a state folder = %v", err)
	}

	h := abandoned(t, e, `sleep 30`)
	h.ProcStart++ // as if the pid now belonged to another process
	err = result(t, reattach(context.Background(), e, h, newLines()))
	if !errors.Is(err, runbook.ErrOutcomeUnknown) {
		t.Errorf("Reattach to a reused pid = %v, want the outcome unknown", err)
	}
	h.ProcStart--
	if !h.running() {
		t.Errorf("the real process was stopped by a re-attach that did not recognise it")
	}
}

// A step printing more than the output file may hold has its file emptied
// as it is followed: the disk does not fill, the lines still stream.
func TestAttachableOutputFileIsBounded(t *testing.T) {
	old := maxStepOutput
	maxStepOutput = 64 << 10
	t.Cleanup(func() { maxStepOutput = old })
	e := attachExecutor(t, Config{Deploy: script(t, `i=0
while [ $i -lt 40 ]; do
  head -c 8000 /dev/zero | tr '\0' 'x'; echo
  i=$((i+1)); sleep 0.01
done
echo "deployed"`)})
	var saved atomic.Value
	j := attachJob(new(string))
	j.Save = func(h string) error { saved.Store(h); return nil }
	l := newLines()
	done := make(chan error, 1)
	go func() { done <- e.Deploy(context.Background(), j, l.progress) }()
	biggest := int64(0)
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if biggest > 2*maxStepOutput {
				t.Errorf("the output file grew to %d bytes, bound %d", biggest, maxStepOutput)
			}
			got := l.get()
			if len(got) < 30 || got[len(got)-1] != "deployed" {
				t.Errorf("%d lines streamed, last %q; want about 41 ending in deployed", len(got), got[len(got)-1])
			}
			return
		case <-time.After(5 * time.Millisecond):
			var h stepHandle
			if v, _ := saved.Load().(string); json.Unmarshal([]byte(v), &h) == nil {
				if fi, err := os.Stat(filepath.Join(h.Dir, "output")); err == nil {
					biggest = max(biggest, fi.Size())
				}
			}
		}
	}
}

package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"shipmate/internal/logtest"
)

// Deadlines. They are generous: they bound a failure, not a pass.
const (
	startTimeout = 15 * time.Second // from exec to the "listening" log line
	stateTimeout = 15 * time.Second // for a run to reach a state
	exitTimeout  = 10 * time.Second // for the bot to exit after a signal
	pollEvery    = 25 * time.Millisecond
)

// tick is the --tick the bots run with, so that timers fire quickly.
const tick = "200ms"

// bot is one running bot process.
type bot struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	addr string // host:port it listens on
	// console is the web console's own listener, when chat.web.listen
	// gives it one.
	console string
	log     *logWriter
	out     logtest.Buffer // stdout
	done    chan struct{}
	err     error // cmd.Wait's result, once done is closed
}

// startBot starts the bot in dir on config and waits until it listens.
// The process is killed, if still running, when the test ends, and its
// stderr is shown if the test failed.
func startBot(t testing.TB, name, dir, config string, extra ...string) *bot {
	t.Helper()
	b, err := launch(t, name, dir, config, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// launch is startBot returning, rather than failing on, a bot that does not
// come up.
func launch(t testing.TB, name, dir, config string, extra ...string) (*bot, error) {
	t.Helper()
	b := &bot{t: t, name: name, log: newLogWriter(), done: make(chan struct{})}
	b.cmd = exec.Command(botBin, append([]string{"--config", config, "--tick", tick}, extra...)...)
	b.cmd.Dir = dir
	b.cmd.Stdout = &b.out
	b.cmd.Stderr = b.log
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("%s: start: %v", name, err)
	}
	go func() {
		b.err = b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		b.kill()
		if t.Failed() {
			t.Logf("%s (pid %d) stderr:\n%s", b.name, b.cmd.Process.Pid, b.log.String())
		}
	})
	select {
	case l := <-b.log.listening:
		b.addr, b.console = l.addr, l.console
		return b, nil
	case <-b.done:
		return nil, fmt.Errorf("%s exited before listening (%v):\n%s", name, b.err, b.log.String())
	case <-time.After(startTimeout):
		return nil, fmt.Errorf("%s did not log \"listening\" within %s:\n%s", name, startTimeout, b.log.String())
	}
}

// kill sends SIGKILL, as kill -9 would, and waits for the process to be gone.
func (b *bot) kill() {
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Kill()
	<-b.done
}

// terminate sends SIGTERM and returns the exit status and how long the bot
// took to exit. It fails the test if the bot is still running after
// exitTimeout.
func (b *bot) terminate() (int, time.Duration) {
	b.t.Helper()
	began := time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.t.Fatalf("%s: SIGTERM: %v", b.name, err)
	}
	return b.wait(began)
}

// wait waits for the process to exit on its own, at most exitTimeout.
func (b *bot) wait(since time.Time) (int, time.Duration) {
	b.t.Helper()
	select {
	case <-b.done:
	case <-time.After(exitTimeout):
		b.t.Fatalf("%s still running %s after SIGTERM", b.name, exitTimeout)
	}
	return exitCode(b.err), time.Since(since)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// running reports whether the process has not exited yet.
func (b *bot) running() bool {
	select {
	case <-b.done:
		return false
	default:
		return true
	}
}

// logWriter keeps the bot's stderr and watches its JSON log lines for the
// listening address.
type logWriter struct {
	mu        sync.Mutex
	all       bytes.Buffer
	partial   []byte
	listening chan listening
}

// listening is what the "listening" log line says.
type listening struct{ addr, console string }

func newLogWriter() *logWriter { return &logWriter{listening: make(chan listening, 1)} }

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := w.partial[:i]
		w.partial = w.partial[i+1:]
		var entry struct {
			Message string `json:"message"`
			Addr    string `json:"addr"`
			Console string `json:"console"`
		}
		if json.Unmarshal(line, &entry) == nil && entry.Message == "listening" && entry.Addr != "" {
			select {
			case w.listening <- listening{entry.Addr, entry.Console}:
			default:
			}
		}
	}
	return len(p), nil
}

func (w *logWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

// result is a finished one-shot command such as bot export or bot check.
type result struct {
	code           int
	stdout, stderr string
}

// runOnce runs the bot binary with args in dir and waits for it to exit,
// at most timeout.
func runOnce(t *testing.T, dir string, timeout time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, botBin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("bot %s did not exit within %s\nstderr:\n%s", strings.Join(args, " "), timeout, stderr.String())
	}
	if err != nil && exitCode(err) < 0 {
		t.Fatalf("bot %s: %v", strings.Join(args, " "), err)
	}
	return result{code: exitCode(err), stdout: stdout.String(), stderr: stderr.String()}
}

// eventually calls cond until it reports true or timeout passes; then it
// fails the test with what and cond's last word on the matter.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, timeout, detail)
		}
		time.Sleep(pollEvery)
	}
}

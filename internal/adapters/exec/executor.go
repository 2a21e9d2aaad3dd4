package exec

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"shipmate/internal/runbook"
)

// DefaultTimeout bounds a command when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

// DefaultGrace is the time between SIGTERM and SIGKILL when Config.Grace is
// zero.
const DefaultGrace = 5 * time.Second

// Executor runs an app's deployment steps as local commands. It implements
// runbook.Executor, runbook.Resolver, runbook.Verifier,
// runbook.HealthChecker and, with a Config.StateDir, runbook.Reattacher
// (deploy and rollback commands outlive a bot that stops and are followed
// to their end by the next), and is safe for concurrent use.
//
// Chat input never becomes part of a command line: the argv comes from the
// configuration, and the job reaches the process only through SHIPMATE_*
// environment variables.
//
// A command's stdout and stderr are passed to the Progress func line by line
// as they arrive (lines longer than 4 KiB are cut), from one goroutine; a
// Progress that blocks holds the command up. A command that succeeds but leaves processes behind is waited for at
// most Config.Grace; those processes are not killed.
type Executor struct {
	cfg Config
}

var (
	_ runbook.Executor      = (*Executor)(nil)
	_ runbook.Resolver      = (*Executor)(nil)
	_ runbook.Verifier      = (*Executor)(nil)
	_ runbook.HealthChecker = (*Executor)(nil)
	_ runbook.Reattacher    = (*Executor)(nil)
)

// New checks cfg, fills in its defaults and returns an Executor for it.
func New(cfg Config) (*Executor, error) {
	for _, c := range []struct {
		name     string
		argv     []string
		required bool
	}{
		{"deploy", cfg.Deploy, true},
		{"rollback", cfg.Rollback, true},
		{"verify", cfg.Verify, false},
		{"health", cfg.Health, false},
		{"drain", cfg.Drain, false},
		{"resolve", cfg.Resolve, false},
	} {
		switch {
		case len(c.argv) == 0 && c.required:
			return nil, fmt.Errorf("exec: the %s command is required", c.name)
		case len(c.argv) > 0 && c.argv[0] == "":
			return nil, fmt.Errorf("exec: the %s command has an empty program name", c.name)
		}
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("exec: timeout %s is negative", cfg.Timeout)
	}
	if cfg.Grace < 0 {
		return nil, fmt.Errorf("exec: grace %s is negative", cfg.Grace)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.StateDir != "" {
		// Commands run in cfg.Dir: their step folders must not depend on
		// it.
		abs, err := filepath.Abs(cfg.StateDir)
		if err != nil {
			return nil, fmt.Errorf("exec: state folder: %w", err)
		}
		cfg.StateDir = abs
	}
	// Copies, so that the caller changing its slices cannot change what runs.
	cfg.Deploy = slices.Clone(cfg.Deploy)
	cfg.Rollback = slices.Clone(cfg.Rollback)
	cfg.Verify = slices.Clone(cfg.Verify)
	cfg.Health = slices.Clone(cfg.Health)
	cfg.Drain = slices.Clone(cfg.Drain)
	cfg.Resolve = slices.Clone(cfg.Resolve)
	return &Executor{cfg: cfg}, nil
}

// Deploy runs the deploy command for j, streaming its output to p.
func (e *Executor) Deploy(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	_, err := e.run(ctx, "deploy", e.cfg.Deploy, j, p)
	return err
}

// Rollback runs the rollback command for j, streaming its output to p.
// j.Version is the version to return to and j.PreviousVersion the one being
// replaced.
func (e *Executor) Rollback(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	_, err := e.run(ctx, "rollback", e.cfg.Rollback, j, p)
	return err
}

// Verify runs the verify command for j, streaming its output to p. Without
// one it succeeds at once.
func (e *Executor) Verify(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	if len(e.cfg.Verify) == 0 {
		return nil
	}
	_, err := e.run(ctx, "verify", e.cfg.Verify, j, p)
	return err
}

// CanDrain reports whether a drain command is configured.
func (e *Executor) CanDrain() bool { return len(e.cfg.Drain) > 0 }

// Drain runs the drain command for j, streaming its output to p: the
// rollback procedure's "Stop incoming requests if possible".
func (e *Executor) Drain(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	_, err := e.run(ctx, "drain", e.cfg.Drain, j, p)
	return err
}

// Health runs the health command for j; its error carries the command's
// last output line. Without a health command it succeeds at once.
func (e *Executor) Health(ctx context.Context, j runbook.Job) error {
	if len(e.cfg.Health) == 0 {
		return nil
	}
	_, err := e.run(ctx, "health", e.cfg.Health, j, nil)
	return err
}

// Resolve runs the resolve command for j and returns the last non-empty line
// it printed, trimmed. Without a resolve command the version is its own
// identity, so Resolve returns j.Version.
func (e *Executor) Resolve(ctx context.Context, j runbook.Job) (string, error) {
	if len(e.cfg.Resolve) == 0 {
		return j.Version, nil
	}
	last, err := e.run(ctx, "resolve", e.cfg.Resolve, j, nil)
	if err != nil {
		return "", err
	}
	if last == "" {
		return "", errors.New("resolve printed no artifact")
	}
	return last, nil
}

// run runs argv for j as action and returns the last non-empty line of its
// output, trimmed.
func (e *Executor) run(ctx context.Context, action string, argv []string, j runbook.Job, p runbook.Progress) (string, error) {
	env, err := jobEnv(e.baseEnv(), action, j)
	if err != nil {
		return "", fmt.Errorf("%s: %w", action, err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("%s cancelled: %w", action, err)
	}
	if e.attachable(action, j) {
		return "", e.runAttachable(ctx, action, argv, env, j, p)
	}

	cctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	out := &lineWriter{emit: p}
	cmd := osexec.CommandContext(cctx, argv[0], argv[1:]...)
	cmd.Dir = e.cfg.Dir
	cmd.Env = env
	// The same writer for both makes os/exec use one pipe, so lines keep
	// their order and only one goroutine ever calls p.
	cmd.Stdout = out
	cmd.Stderr = out
	group := killGroupOnCancel(cmd, e.cfg.Grace)

	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("%s cancelled: %w", action, ctx.Err())
		}
		return "", fmt.Errorf("%s: cannot start %q: %w", action, argv[0], err)
	}
	err = cmd.Wait()
	group.waited()
	out.Close()

	switch {
	case err == nil:
		return out.last, nil
	case ctx.Err() != nil:
		return "", fmt.Errorf("%s cancelled: %w", action, ctx.Err())
	case cctx.Err() != nil:
		return "", fmt.Errorf("%s timed out after %s", action, e.cfg.Timeout)
	case errors.Is(err, osexec.ErrWaitDelay):
		// The command succeeded but left processes behind that still hold
		// its output open; what they print is not the step's.
		return out.last, nil
	}
	var ee *osexec.ExitError
	if !errors.As(err, &ee) {
		return "", fmt.Errorf("%s: %w", action, err)
	}
	return "", exitError(action, ee.ExitCode(), ee.ProcessState.String(), out.last)
}

// exitError says how a command ended: stopped by a signal (code -1, how
// says which) or with its exit status, and the last line it printed.
func exitError(action string, code int, how, last string) error {
	msg := action + " exited with status " + strconv.Itoa(code)
	if code < 0 {
		msg = action + " was stopped (" + how + ")"
	}
	if last != "" {
		msg += ": " + last
	}
	return errors.New(msg)
}

// minimalEnv is what every command gets of the bot's own environment.
var minimalEnv = []string{"PATH", "HOME", "LANG", "TZ"}

// baseEnv is the environment commands start from: the minimal variables
// and those named in pass_env, from the bot's environment, then env.
func (e *Executor) baseEnv() []string {
	var env []string
	for _, k := range append(slices.Clone(minimalEnv), e.cfg.PassEnv...) {
		if v, ok := os.LookupEnv(k); ok && !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, k+"=") }) {
			env = append(env, k+"="+v)
		}
	}
	keys := slices.Sorted(maps.Keys(e.cfg.Env))
	env = slices.DeleteFunc(env, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		_, set := e.cfg.Env[k]
		return set
	})
	for _, k := range keys {
		env = append(env, k+"="+e.cfg.Env[k])
	}
	return env
}

// envVar is one SHIPMATE_* variable; an optional one is left out when empty.
type envVar struct {
	key, val string
	optional bool
}

// jobEnv returns base with the job's SHIPMATE_* variables added, replacing
// any the bot itself inherited.
func jobEnv(base []string, action string, j runbook.Job) ([]string, error) {
	vars := []envVar{
		{"SHIPMATE_APP", j.App, false},
		{"SHIPMATE_VERSION", j.Version, false},
		{"SHIPMATE_ENV", j.Env, false},
		{"SHIPMATE_RUN_ID", strconv.FormatUint(j.RunID, 10), false},
		{"SHIPMATE_ACTION", action, false},
		{"SHIPMATE_REQUESTER", j.Requester, false},
		{"SHIPMATE_ARTIFACT", j.Artifact, true},
		{"SHIPMATE_PREVIOUS_VERSION", j.PreviousVersion, true},
	}
	env := make([]string, 0, len(base)+len(vars))
	for _, kv := range base {
		key, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(vars, func(v envVar) bool { return v.key == key }) {
			env = append(env, kv)
		}
	}
	for _, v := range vars {
		if strings.IndexByte(v.val, 0) >= 0 {
			return nil, fmt.Errorf("%s contains a NUL byte", v.key)
		}
		if v.val == "" && v.optional {
			continue
		}
		env = append(env, v.key+"="+v.val)
	}
	return env, nil
}

// Package runbooktest is what tests of the engine and of the adapters
// share: a fake executor built from function fields, the example policy
// built in Go, and a harness running an engine on a real store with a fake
// chat and a test clock. It is imported only by tests.
package runbooktest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"shipmate/internal/runbook"
)

// Steps the fake executor counts and can hold.
const (
	StepDeploy   = "deploy"
	StepRollback = "rollback"
	StepVerify   = "verify"
	StepHealth   = "health"
	StepReattach = "reattach"
	StepResolve  = "resolve"
)

// ErrDeployFailed is what a deploy of a version given to Exec.Fail returns.
var ErrDeployFailed = errors.New("health endpoint returned 503")

// Exec is a fake executor. Each step calls its function field, or, when
// that is nil, a default that tests control with Hold, Fail, SetArtifact,
// FailVerify and FailHealth. Every call is counted and its job recorded.
//
// Resolve, Verify, Health and Reattach are capabilities the engine finds
// by type assertion, so Exec itself has none of them: Executor returns an
// executor with exactly those whose function field is set. NewExec sets
// the defaults of the capabilities asked for.
//
// Set the function fields before the engine runs; the helpers are safe to
// call at any time.
type Exec struct {
	DeployFunc   func(ctx context.Context, j runbook.Job, p runbook.Progress) error
	RollbackFunc func(ctx context.Context, j runbook.Job, p runbook.Progress) error
	ResolveFunc  func(ctx context.Context, j runbook.Job) (string, error)
	VerifyFunc   func(ctx context.Context, j runbook.Job, p runbook.Progress) error
	HealthFunc   func(ctx context.Context, j runbook.Job) error
	ReattachFunc func(ctx context.Context, j runbook.Job, p runbook.Progress) error
	// DrainFunc, when set, is the app's drain step (CanDrain reports it).
	DrainFunc func(ctx context.Context, j runbook.Job, p runbook.Progress) error

	once    sync.Once
	entered chan string

	mu        sync.Mutex
	calls     map[string]int // by step
	steps     map[string]int // by "step env version"
	jobs      []runbook.Job
	holds     []*hold
	fail      map[string]bool
	artifact  string
	verifyErr error
	healthErr error
}

// Capability names an optional executor interface for NewExec.
type Capability int

// The capabilities NewExec can give an executor.
const (
	Resolve Capability = 1 << iota
	Verify
	Health
	Reattach
)

// NewExec returns an Exec whose function fields for caps hold the
// defaults: Resolve returns the artifact set with SetArtifact (else the
// version), Verify runs a holdable "verify" step failing with FailVerify's
// error, Health returns FailHealth's error and Reattach reports the step
// re-attached.
func NewExec(caps ...Capability) *Exec {
	x := &Exec{}
	for _, c := range caps {
		switch c {
		case Resolve:
			x.ResolveFunc = x.DefaultResolve
		case Verify:
			x.VerifyFunc = x.DefaultVerify
		case Health:
			x.HealthFunc = x.DefaultHealth
		case Reattach:
			x.ReattachFunc = x.DefaultReattach
		}
	}
	return x
}

// hold is a Hold: steps it matches wait until release is closed.
type hold struct {
	step, env, version string
	release            chan struct{}
}

func (h *hold) matches(step string, j runbook.Job) bool {
	return h.step == step && (h.env == "" || h.env == j.Env) && (h.version == "" || h.version == j.Version)
}

// Hold makes the steps named step ("deploy", "rollback", "verify") of
// version in env wait, once they have printed their first line, until
// release is called or their context ends; empty env or version match any.
// Each held step that begins is told on Entered.
func (x *Exec) Hold(step, env, version string) (release func()) {
	h := &hold{step: step, env: env, version: version, release: make(chan struct{})}
	x.mu.Lock()
	x.holds = append(x.holds, h)
	x.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			x.mu.Lock()
			for i, o := range x.holds {
				if o == h {
					x.holds = append(x.holds[:i], x.holds[i+1:]...)
					break
				}
			}
			x.mu.Unlock()
			close(h.release)
		})
	}
}

// Entered receives "step env version" of each held step as it begins
// waiting. It is buffered; a step never waits for a test to read it.
func (x *Exec) Entered() <-chan string { return x.enteredCh() }

func (x *Exec) enteredCh() chan string {
	x.once.Do(func() { x.entered = make(chan string, 64) })
	return x.entered
}

// Fail makes deploys of versions fail with ErrDeployFailed.
func (x *Exec) Fail(versions ...string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.fail == nil {
		x.fail = map[string]bool{}
	}
	for _, v := range versions {
		x.fail[v] = true
	}
}

// SetArtifact sets what the default Resolve returns ("" for the version).
func (x *Exec) SetArtifact(a string) { x.mu.Lock(); x.artifact = a; x.mu.Unlock() }

// FailVerify sets the error of the default Verify (nil: it passes).
func (x *Exec) FailVerify(err error) { x.mu.Lock(); x.verifyErr = err; x.mu.Unlock() }

// FailHealth sets the error of the default Health (nil: healthy).
func (x *Exec) FailHealth(err error) { x.mu.Lock(); x.healthErr = err; x.mu.Unlock() }

// Calls returns how many times step was called, for any job.
func (x *Exec) Calls(step string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.calls[step]
}

// Deploys returns how many deploys were started.
func (x *Exec) Deploys() int { return x.Calls(StepDeploy) }

// Rollbacks returns how many rollbacks were started.
func (x *Exec) Rollbacks() int { return x.Calls(StepRollback) }

// Steps returns how many times step ran for version in env.
func (x *Exec) Steps(step, env, version string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.steps[step+" "+env+" "+version]
}

// Jobs returns the jobs of every deploy and rollback, in order.
func (x *Exec) Jobs() []runbook.Job {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]runbook.Job(nil), x.jobs...)
}

// LastJob returns the last job Jobs holds (the zero Job if none).
func (x *Exec) LastJob() runbook.Job {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.jobs) == 0 {
		return runbook.Job{}
	}
	return x.jobs[len(x.jobs)-1]
}

// count records a call of step for j.
func (x *Exec) count(step string, j runbook.Job, record bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.calls == nil {
		x.calls, x.steps = map[string]int{}, map[string]int{}
	}
	x.calls[step]++
	x.steps[step+" "+j.Env+" "+j.Version]++
	if record {
		x.jobs = append(x.jobs, j)
	}
}

// Deploy implements runbook.Executor.
func (x *Exec) Deploy(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	x.count(StepDeploy, j, true)
	if x.DeployFunc != nil {
		return x.DeployFunc(ctx, j, p)
	}
	return x.DefaultDeploy(ctx, j, p)
}

// Rollback implements runbook.Executor.
func (x *Exec) Rollback(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	x.count(StepRollback, j, true)
	if x.RollbackFunc != nil {
		return x.RollbackFunc(ctx, j, p)
	}
	return x.Step(ctx, StepRollback, j, p)
}

// DefaultDeploy saves the handle "build-<run id>", as a Jenkins build
// would, runs the "deploy" step and fails for the versions given to Fail.
func (x *Exec) DefaultDeploy(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	if j.Save != nil {
		if err := j.Save(fmt.Sprintf("build-%d", j.RunID)); err != nil {
			return err
		}
	}
	if err := x.Step(ctx, StepDeploy, j, p); err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.fail[j.Version] {
		return ErrDeployFailed
	}
	return nil
}

// Step prints what step does, waits while a Hold holds it, and prints
// that it is done: "deploying demo v2 in staging", "demo v2 runs in
// staging". It fails only when ctx ends.
func (x *Exec) Step(ctx context.Context, step string, j runbook.Job, p runbook.Progress) error {
	switch step {
	case StepDeploy:
		p(fmt.Sprintf("deploying %s %s in %s", j.App, j.Version, j.Env))
	case StepRollback:
		p(fmt.Sprintf("rolling back %s in %s to %s", j.App, j.Env, j.Version))
	default:
		p(fmt.Sprintf("%s %s %s in %s: started", step, j.App, j.Version, j.Env))
	}
	var held []*hold
	x.mu.Lock()
	for _, h := range x.holds {
		if h.matches(step, j) {
			held = append(held, h)
		}
	}
	x.mu.Unlock()
	for _, h := range held {
		select {
		case x.enteredCh() <- step + " " + j.Env + " " + j.Version:
		default:
		}
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch step {
	case StepDeploy, StepRollback:
		p(fmt.Sprintf("%s %s runs in %s", j.App, j.Version, j.Env))
	default:
		p(fmt.Sprintf("%s %s %s in %s: done", step, j.App, j.Version, j.Env))
	}
	return nil
}

// DefaultResolve returns the artifact set with SetArtifact, else the version.
func (x *Exec) DefaultResolve(ctx context.Context, j runbook.Job) (string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.artifact == "" {
		return j.Version, nil
	}
	return x.artifact, nil
}

// DefaultVerify runs the "verify" step and returns FailVerify's error.
func (x *Exec) DefaultVerify(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	if err := x.Step(ctx, StepVerify, j, p); err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.verifyErr
}

// DefaultHealth returns FailHealth's error.
func (x *Exec) DefaultHealth(ctx context.Context, j runbook.Job) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.healthErr
}

// DefaultReattach finds the step by the handle DefaultDeploy saved and
// reports it re-attached.
func (x *Exec) DefaultReattach(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	if j.Handle != fmt.Sprintf("build-%d", j.RunID) {
		return fmt.Errorf("re-attached without the step's handle (got %q)", j.Handle)
	}
	p("re-attached to " + string(j.Action))
	return nil
}

func (x *Exec) resolve(ctx context.Context, j runbook.Job) (string, error) {
	x.count(StepResolve, j, false)
	return x.ResolveFunc(ctx, j)
}

func (x *Exec) verify(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	x.count(StepVerify, j, false)
	return x.VerifyFunc(ctx, j, p)
}

func (x *Exec) health(ctx context.Context, j runbook.Job) error {
	x.count(StepHealth, j, false)
	return x.HealthFunc(ctx, j)
}

func (x *Exec) reattach(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	x.count(StepReattach, j, false)
	return x.ReattachFunc(ctx, j, p)
}

// StepDrain is the rollback procedure's drain step.
const StepDrain = "drain"

// CanDrain reports whether DrainFunc is set.
func (x *Exec) CanDrain() bool { return x.DrainFunc != nil }

// Drain counts the call and runs DrainFunc.
func (x *Exec) Drain(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	x.count(StepDrain, j, true)
	return x.DrainFunc(ctx, j, p)
}

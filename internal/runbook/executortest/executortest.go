// Package executortest is the contract every executor keeps with the
// engine, as a test suite each executor's tests run against its own
// backend (local commands, a fake Jenkins, a real Kubernetes API server).
package executortest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"shipmate/internal/runbook"
)

// Setup is one executor and the world it deploys app "demo" to, made
// fresh for each case.
type Setup struct {
	Executor runbook.Executor
	// Good and Other are versions whose deploys succeed; Fail one whose
	// deploy fails; Block one whose deploy runs until its context ends.
	Good, Other, Fail, Block string
	// Started reports how many steps of action the backend has started
	// for version: a deploy or rollback must start exactly once.
	Started func(action runbook.Action, version string) int
}

// bound turns a hang into a failure; the cases never wait for it to pass.
const bound = 60 * time.Second

// job is a job of app demo in env staging.
func job(id uint64, action runbook.Action, version, previous string) runbook.Job {
	return runbook.Job{RunID: id, Action: action, App: "demo", Env: "staging", Version: version,
		PreviousVersion: previous, Requester: "rita"}
}

// lines collects a step's progress.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (p *lines) add(l string) { p.mu.Lock(); p.l = append(p.l, l); p.mu.Unlock() }

// Run runs the contract against the executors newSetup makes, one fresh
// setup for each case.
func Run(t *testing.T, newSetup func(t *testing.T) Setup) {
	t.Run("deploy succeeds once", func(t *testing.T) { deploysOnce(t, newSetup(t)) })
	t.Run("deploy fails with a reason", func(t *testing.T) { failsWithAReason(t, newSetup(t)) })
	t.Run("rollback goes back once", func(t *testing.T) { rollsBackOnce(t, newSetup(t)) })
	t.Run("cancel stops the step", func(t *testing.T) { cancelStops(t, newSetup(t)) })
	t.Run("resolve is stable", func(t *testing.T) { resolvesStably(t, newSetup(t)) })
	t.Run("reattach starts nothing", func(t *testing.T) { reattachStartsNothing(t, newSetup(t)) })
}

func deploysOnce(t *testing.T, s Setup) {
	p := &lines{}
	var saved []string
	j := job(1, runbook.ActionDeploy, s.Good, "")
	j.Save = func(h string) error { saved = append(saved, h); return nil }
	if err := s.Executor.Deploy(context.Background(), j, p.add); err != nil {
		t.Fatalf("Deploy %s: %v", s.Good, err)
	}
	if n := s.Started(runbook.ActionDeploy, s.Good); n != 1 {
		t.Errorf("deploys of %s started: %d, want 1", s.Good, n)
	}
	for _, h := range saved {
		if h == "" {
			t.Error("the step saved an empty handle: a restarted bot could not find it")
		}
	}
}

func failsWithAReason(t *testing.T, s Setup) {
	err := s.Executor.Deploy(context.Background(), job(2, runbook.ActionDeploy, s.Fail, s.Good), (&lines{}).add)
	if err == nil || strings.TrimSpace(err.Error()) == "" {
		t.Fatalf("Deploy %s: %v, want an error saying why", s.Fail, err)
	}
}

func rollsBackOnce(t *testing.T, s Setup) {
	if err := s.Executor.Deploy(context.Background(), job(3, runbook.ActionDeploy, s.Good, ""), (&lines{}).add); err != nil {
		t.Fatal(err)
	}
	if err := s.Executor.Deploy(context.Background(), job(4, runbook.ActionDeploy, s.Other, s.Good), (&lines{}).add); err != nil {
		t.Fatal(err)
	}
	if err := s.Executor.Rollback(context.Background(), job(5, runbook.ActionRollback, s.Good, s.Other), (&lines{}).add); err != nil {
		t.Fatalf("Rollback to %s: %v", s.Good, err)
	}
	if n := s.Started(runbook.ActionRollback, s.Good); n != 1 {
		t.Errorf("rollbacks to %s started: %d, want 1", s.Good, n)
	}
}

func cancelStops(t *testing.T, s Setup) {
	if s.Block == "" {
		t.Fatal("the setup names no version whose deploy can be held")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Executor.Deploy(ctx, job(6, runbook.ActionDeploy, s.Block, s.Good), (&lines{}).add) }()
	waitUntil(t, "the held deploy to start", func() bool { return s.Started(runbook.ActionDeploy, s.Block) == 1 })
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a cancelled deploy returned no error")
		}
	case <-time.After(bound):
		t.Fatal("the cancelled deploy did not return")
	}
}

func resolvesStably(t *testing.T, s Setup) {
	res, ok := s.Executor.(runbook.Resolver)
	if !ok {
		t.Log("not a Resolver: approvals bind to the version itself")
		return
	}
	a, err := res.Resolve(context.Background(), job(7, runbook.ActionDeploy, s.Good, ""))
	if err != nil || a == "" {
		t.Fatalf("Resolve %s: %q, %v", s.Good, a, err)
	}
	b, err := res.Resolve(context.Background(), job(7, runbook.ActionDeploy, s.Good, ""))
	if err != nil || a != b {
		t.Errorf("Resolve %s again: %q, %v; want %q", s.Good, b, err, a)
	}
}

func reattachStartsNothing(t *testing.T, s Setup) {
	ra, ok := s.Executor.(runbook.Reattacher)
	if !ok {
		t.Log("not a Reattacher: steps cut off by a restart end as interrupted")
		return
	}
	var handle string
	j := job(8, runbook.ActionDeploy, s.Good, "")
	j.Save = func(h string) error { handle = h; return nil }
	if err := s.Executor.Deploy(context.Background(), j, (&lines{}).add); err != nil {
		t.Fatal(err)
	}
	j.Save, j.Handle = func(string) error { return nil }, handle
	err := ra.Reattach(context.Background(), j, (&lines{}).add)
	if err != nil && !errors.Is(err, runbook.ErrOutcomeUnknown) {
		t.Fatalf("Reattach to a finished deploy: %v", err)
	}
	if n := s.Started(runbook.ActionDeploy, s.Good); n != 1 {
		t.Errorf("deploys of %s started: %d after a reattach, want 1", s.Good, n)
	}
}

// waitUntil polls cond until it holds, failing t after bound.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

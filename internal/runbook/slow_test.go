package runbook_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	rb "shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// hangingResolve makes fx's Resolve of a version starting with "hang"
// wait until release is closed (or its context ends), telling entered
// when it starts.
func hangingResolve(fx *runbooktest.Exec, entered chan string, release chan struct{}) {
	fx.ResolveFunc = func(ctx context.Context, j rb.Job) (string, error) {
		if strings.HasPrefix(j.Version, "hang") {
			entered <- j.Version
			select {
			case <-release:
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		return fx.DefaultResolve(ctx, j)
	}
}

// hangingChecker is a checker whose checks wait until released, as a hung
// Jenkins would.
type hangingChecker struct {
	once    sync.Once
	hang    chan struct{}
	entered chan struct{}
	release chan struct{}
}

func (c *hangingChecker) Check(ctx context.Context, j rb.Job, item string) (rb.CheckResult, error) {
	select {
	case <-c.hang:
	default:
		return rb.CheckResult{OK: false, Detail: "no build yet"}, nil
	}
	c.once.Do(func() { close(c.entered) })
	select {
	case <-c.release:
	case <-ctx.Done():
	}
	return rb.CheckResult{OK: true, Detail: "ci/demo #1: SUCCESS"}, nil
}

// waitFor fails t unless ch yields within a generous bound: the bound only
// turns a hang into a failure, it is not what the test measures.
func waitFor[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: never happened", what)
	}
	var zero T
	return zero
}

// Nothing slow happens under a lock: while one run's resolve hangs, its
// own Cancel and another run's whole deployment go through.
func TestHangingResolveHoldsNobody(t *testing.T) {
	fx := newExec()
	x := struct {
		entered chan string
		release chan struct{}
	}{make(chan string, 1), make(chan struct{})}
	hangingResolve(fx, x.entered, x.release)
	h := newHarness(t, fx)
	defer close(x.release)
	rep, err := h.Do("bob", "/deploy demo hang-1 staging")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resolve starting", x.entered)

	// Another deployment, start to finish, while the resolve hangs.
	if _, err := h.Do("bob", "/deploy demo v2 dev"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for h.State(2) != rb.StateSucceeded {
			time.Sleep(time.Millisecond)
		}
	}()
	waitFor(t, "v2 reaching development", done)

	// The hanging run's requester cancels it: answered at once.
	answered := make(chan error, 1)
	go func() {
		_, err := h.Engine.Act(context.Background(), user("bob"), rep.RunID, rb.ButtonCancel, "")
		answered <- err
	}()
	if err := waitFor(t, "the cancel's answer", answered); err != nil {
		t.Fatal(err)
	}
	h.WantState(rep.RunID, rb.StateCancelled)
	x.release <- struct{}{}
	h.Settle()
	// The resolve's late answer changed nothing.
	if r := h.WantState(rep.RunID, rb.StateCancelled); r.Artifact != "" || fx.Deploys() != 1 {
		t.Fatalf("after the late resolve: artifact %q, deploys %d", r.Artifact, fx.Deploys())
	}
}

// The clock never waits on an outside service: Tick returns while a
// re-check against a hung Jenkins is in flight, and expires another run in
// the same tick.
func TestTickDoesNotWaitForAHungCheck(t *testing.T) {
	fx := newExec()
	ck := &hangingChecker{hang: make(chan struct{}), entered: make(chan struct{}), release: make(chan struct{})}
	h := newHarnessWith(t, fx, func(c *rb.Config) {
		c.Policy.Apps["demo"] = rb.App{Name: "demo", Checks: []string{"tests"}}
		c.Checkers = map[string]rb.Checker{"demo": ck}
	})
	checked := h.Must("bob", "/deploy demo v1 staging")
	h.WantState(checked, rb.StateChecklist)
	h.Policy.Envs[0].Approval = rb.ApprovalRule{Roles: []string{"tech-lead"}, Count: 1, Expires: time.Minute}
	expiring := h.Must("bob", "/deploy demo v1 dev")
	h.WantState(expiring, rb.StateAwaitingApproval)

	close(ck.hang)
	h.Clock.Add(2 * time.Minute) // the re-check is due, the dev request expired
	ticked := make(chan error, 1)
	go func() { ticked <- h.Engine.Tick(context.Background()) }()
	if err := waitFor(t, "Tick returning", ticked); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the re-check starting", ck.entered)
	h.WantState(expiring, rb.StateExpired)
	h.WantState(checked, rb.StateChecklist)
	close(ck.release)
	h.Settle()
	if it := h.Run(checked).Checklist[1]; it.Key != "tests" || !it.Done || it.By == nil || it.By.ID != "shipmate" {
		t.Fatalf("after the check passed: %+v, want tests ticked by Shipmate", it)
	}
}

// flood returns a deploy step that prints lines, as fast as it can.
func flood(lines int) func(ctx context.Context, j rb.Job, p rb.Progress) error {
	return func(ctx context.Context, j rb.Job, p rb.Progress) error {
		for i := 1; i <= lines; i++ {
			p(fmt.Sprintf("deploying: step %d of %d: copying files to the servers", i, lines))
		}
		return nil
	}
}

// A step that prints a million lines leaves its first and last lines in
// the store, and how many were left out between them: the store's growth
// does not follow the output.
func TestMillionLinesStayBounded(t *testing.T) {
	fx := newExec()
	const lines = 1_000_000
	fx.DeployFunc = flood(lines)
	h := newHarness(t, fx)
	before := fileSize(t, h.Path)
	id := h.Must("bob", "/deploy demo v1 dev")
	h.WantState(id, rb.StateSucceeded)
	var out []string
	for _, ev := range h.Events(id) {
		if ev.Type == rb.EvOutput {
			out = append(out, ev.Detail)
		}
	}
	want := rb.DefaultOutputHead + 1 + rb.DefaultOutputTail
	if len(out) != want {
		t.Fatalf("%d output lines stored, want %d", len(out), want)
	}
	if got := out[rb.DefaultOutputHead]; got != fmt.Sprintf("deploy: … %d lines left out …", lines-rb.DefaultOutputHead-rb.DefaultOutputTail) {
		t.Errorf("the marker line is %q", got)
	}
	if last := out[len(out)-1]; !strings.Contains(last, fmt.Sprintf("step %d of %d", lines, lines)) {
		t.Errorf("the last line stored is %q, want the step's last", last)
	}
	if r := h.Run(id); len(r.Log) == 0 || !strings.Contains(r.Log[len(r.Log)-1], fmt.Sprintf("step %d of", lines)) {
		t.Errorf("the message's tail ends %q", r.Log)
	}
	if grown := fileSize(t, h.Path) - before; grown > 4<<20 {
		t.Errorf("the store grew by %d bytes for one run", grown)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

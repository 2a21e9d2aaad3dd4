package kube

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kx "shipmate/internal/adapters/kubernetes"
	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// The runbook engine driving the Kubernetes executor against a real API
// server: automatic and requested rollbacks, a restart mid-rollout, and
// approvals bound to the image digest.

// engineOn runs a runbook engine with the checkout app on the cluster.
type engineOn struct {
	t     *testing.T
	st    *store.Store
	eng   *runbook.Engine
	clock runbook.ClockFunc
}

func policy() *runbook.Policy {
	web := func(ids ...string) runbook.Role { return runbook.Role{Members: map[string][]string{"web": ids}} }
	return &runbook.Policy{
		Roles: map[string]runbook.Role{"deployer": web("rita"), "incident-response": web("ivan")},
		Envs: []runbook.Environment{{Name: "production", Deployers: []string{"deployer"},
			Rollback: []string{"incident-response"}}},
		Apps: map[string]runbook.App{"checkout": {Name: "checkout", Executor: "kubernetes"}},
	}
}

func startEngine(t *testing.T, path string, x runbook.Executor, p *runbook.Policy) *engineOn {
	t.Helper()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := runbook.New(runbook.Config{Store: st, Policy: p, Executors: map[string]runbook.Executor{"checkout": x},
		Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err := e.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &engineOn{t: t, st: st, eng: e}
}

func (e *engineOn) stop() { e.eng.Close(); _ = e.st.Close() }

func (e *engineOn) do(who, line string) (runbook.Reply, error) {
	res := e.eng.Parser().ParseLine(line)
	if res.Intent == nil {
		return runbook.Reply{}, errors.New(res.Reply)
	}
	return e.eng.Do(context.Background(), runbook.Request{User: runbook.User{Platform: "web", ID: who},
		Origin: runbook.Origin{Platform: "web", Channel: "c"}, Intent: *res.Intent})
}

func (e *engineOn) waitState(id uint64, want runbook.State) *runbook.Run {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := e.st.Run(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if r.State == want {
			return r
		}
		if r.State.Terminal() || time.Now().After(deadline) {
			evs, _ := e.st.Events(context.Background(), id)
			var b strings.Builder
			for _, ev := range evs {
				fmt.Fprintf(&b, "%s %s→%s %s\n", ev.Type, ev.From, ev.To, ev.Detail)
			}
			e.t.Fatalf("run #%d is %s (%s), want %s\n%s", id, r.State, r.Note, want, b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *engineOn) deploy(who, version string) uint64 {
	e.t.Helper()
	rep, err := e.do(who, "/deploy checkout "+version+" production")
	if err != nil {
		e.t.Fatal(err)
	}
	return rep.RunID
}

func TestFailedRolloutRollsBackAndRollbackCommandUndoes(t *testing.T) {
	c, x, im := setup(t)
	im.push(t, "crashy")
	c.Kubelet.Behave(im.digests["crashy"], CrashLoopBackOff)
	e := startEngine(t, filepath.Join(t.TempDir(), "s.db"), x, policy())
	defer e.stop()

	e.waitState(e.deploy("rita", "v1"), runbook.StateSucceeded)
	e.waitState(e.deploy("rita", "v2"), runbook.StateSucceeded)
	// on_failure: rollback (the default) brings v2 back.
	id := e.deploy("rita", "crashy")
	r := e.waitState(id, runbook.StateRolledBack)
	if !strings.Contains(r.Note, "rolled back to v2") {
		t.Errorf("note %q", r.Note)
	}
	if got := containerImages(t, c, "checkout-api")["app"]; got != im.pinned("v2") {
		t.Fatalf("after the automatic rollback checkout-api runs %s, want %s", got, im.pinned("v2"))
	}
	waitRolledOut(t, c.Client, ns, "checkout-api")

	// /rollback by the incident team goes back to v1.
	rep, err := e.do("ivan", "/rollback checkout production")
	if err != nil {
		t.Fatal(err)
	}
	e.waitState(rep.RunID, runbook.StateRolledBack)
	if got := containerImages(t, c, "checkout-worker")["app"]; got != im.pinned("v1") {
		t.Fatalf("after /rollback checkout-worker runs %s, want %s", got, im.pinned("v1"))
	}
	rep, err = e.do("ivan", "/deploy whereis checkout")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.Text, "production: v1") || !strings.Contains(rep.Text, "(live: matches)") {
		t.Errorf("whereis:\n%s", rep.Text)
	}

	// Someone sets an image by hand: whereis flags the drift.
	hotfix := im.reg.Host + "/shop/checkout:hotfix-1"
	setImage(t, c.Client, ns, "checkout-api", hotfix)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rep, _ = e.do("ivan", "/deploy whereis checkout")
		if strings.Contains(rep.Text, "drift") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(rep.Text, "⚠ drift: production runs checkout-api="+hotfix+", checkout-worker="+im.pinned("v1")) {
		t.Errorf("whereis after a manual set image:\n%s", rep.Text)
	}
}

func TestRestartedBotFinishesTheRollout(t *testing.T) {
	c, x, im := setup(t)
	path := filepath.Join(t.TempDir(), "s.db")
	e := startEngine(t, path, x, policy())
	e.waitState(e.deploy("rita", "v1"), runbook.StateSucceeded)
	gen := func() int64 {
		d, _ := c.Client.AppsV1().Deployments(ns).Get(context.Background(), "checkout-api", metav1.GetOptions{})
		return d.Generation
	}
	before := gen()

	c.Kubelet.SetReadyDelay(3 * time.Second)
	id := e.deploy("rita", "v2")
	e.waitState(id, runbook.StateDeploying)
	deadline := time.Now().Add(10 * time.Second)
	for containerImages(t, c, "checkout-worker")["app"] != im.pinned("v2") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	e.stop() // the bot dies mid-rollout

	cl, err := kx.NewCluster(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	x2, err := kx.New(checkoutConfig(im.reg), nil, cl)
	if err != nil {
		t.Fatal(err)
	}
	c.Kubelet.SetReadyDelay(0)
	e2 := startEngine(t, path, x2, policy())
	defer e2.stop()
	r := e2.waitState(id, runbook.StateSucceeded)
	if after := gen(); after != before+1 {
		t.Errorf("checkout-api generation went %d → %d: the restarted bot patched it again", before, after)
	}
	evs, _ := e2.st.Events(context.Background(), id)
	reattached := false
	for _, ev := range evs {
		reattached = reattached || strings.Contains(ev.Detail, "re-attaching to the rollout")
	}
	if !reattached {
		t.Errorf("the run's trail does not show the re-attach: %+v", r)
	}
}

// approvalPolicy is policy with one approval by ava required in production.
func approvalPolicy() *runbook.Policy {
	p := policy()
	p.Roles["approver"] = runbook.Role{Members: map[string][]string{"web": {"ava"}}}
	p.Envs[0].Approval = runbook.ApprovalRule{Roles: []string{"approver"}, Count: 1}
	return p
}

// waitEvent waits until run id's trail has an event of type typ and
// returns it.
func (e *engineOn) waitEvent(id uint64, typ string) runbook.Event {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		evs, err := e.st.Events(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Type == typ {
				return ev
			}
		}
		if time.Now().After(deadline) {
			r, _ := e.st.Run(context.Background(), id)
			e.t.Fatalf("run #%d (%s, %s) has no %s event: %+v", id, r.State, r.Note, typ, evs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// What was approved is what runs: a tag pushed again after review voids
// the approvals, and the image approved the second time is the one the
// workloads get.
func TestRepushedTagAfterReviewVoidsTheApprovals(t *testing.T) {
	c, x, im := setup(t)
	e := startEngine(t, filepath.Join(t.TempDir(), "s.db"), x, approvalPolicy())
	defer e.stop()

	reviewed := im.pinned("v2")
	id := e.deploy("rita", "v2")
	r := e.waitState(id, runbook.StateAwaitingApproval)
	if r.Artifact != reviewed {
		t.Fatalf("run #%d waits for approval of %s, want the pushed %s", id, r.Artifact, reviewed)
	}

	// Someone pushes v2 again while the run waits; then ava approves what
	// she was shown.
	repushed := im.push(t, "v2")
	if _, err := e.do("ava", fmt.Sprintf("/deploy approve %d", id)); err != nil {
		t.Fatal(err)
	}
	ev := e.waitEvent(id, runbook.EvVoided)
	if want := "artifact changed from " + reviewed + " to " + repushed; ev.Detail != want {
		t.Errorf("voided: %q, want %q", ev.Detail, want)
	}
	r = e.waitState(id, runbook.StateAwaitingApproval)
	if len(r.Approvals) != 0 || r.Artifact != repushed || !strings.Contains(r.Note, "approvals are void, approve again") {
		t.Errorf("after the re-push: approvals %v, artifact %s, note %q", r.Approvals, r.Artifact, r.Note)
	}
	for _, name := range []string{"checkout-api", "checkout-worker"} {
		if got := containerImages(t, c, name)["app"]; got != im.pinned("v1") {
			t.Errorf("%s runs %s before the new approval, want v1's %s", name, got, im.pinned("v1"))
		}
	}

	// Approved again, the re-pushed image is deployed, pinned.
	if _, err := e.do("ava", fmt.Sprintf("/deploy approve %d", id)); err != nil {
		t.Fatal(err)
	}
	r = e.waitState(id, runbook.StateSucceeded)
	if len(r.Approvals) != 1 || r.Approvals[0].Artifact != repushed {
		t.Errorf("approvals %+v, want one of %s", r.Approvals, repushed)
	}
	for _, name := range []string{"checkout-api", "checkout-worker"} {
		if got := containerImages(t, c, name)["app"]; got != repushed {
			t.Errorf("%s runs %s, want the approved %s", name, got, repushed)
		}
	}
}

// A tag the registry does not have fails the run before approval, with
// the reason.
func TestUnknownTagFailsBeforeApproval(t *testing.T) {
	_, x, im := setup(t)
	e := startEngine(t, filepath.Join(t.TempDir(), "s.db"), x, approvalPolicy())
	defer e.stop()
	id := e.deploy("rita", "v9")
	r := e.waitState(id, runbook.StateFailed)
	if want := "cannot resolve what checkout v9 would deploy: " + im.reg.Host + "/shop/checkout:v9 not found in the registry"; r.Note != want {
		t.Errorf("note %q, want %q", r.Note, want)
	}
}

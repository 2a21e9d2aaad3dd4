package kube

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kx "shipmate/internal/adapters/kubernetes"
	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// The Kubernetes executor against a real API server with the real
// Deployment and ReplicaSet controllers.

const ns = "shop"

// checkoutConfig is the example configuration's checkout app.
func checkoutConfig() kx.Config {
	return kx.Config{
		Namespace: ns, Workloads: []string{"deployment/checkout-api", "deployment/checkout-worker"},
		Container: "app", Image: "registry.example.com/shop/checkout:{version}", ProgressDeadline: time.Minute,
	}
}

// setup starts a cluster with the checkout workloads at v1 and returns an
// executor for them.
func setup(t *testing.T) (*Cluster, *kx.Executor) {
	t.Helper()
	c := StartCluster(t)
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, replicas := range map[string]int32{"checkout-api": 3, "checkout-worker": 2} {
		d := checkoutDeployment(name, replicas, "registry.example.com/shop/checkout:v1")
		d.Spec.Template.Annotations = map[string]string{kx.AnnotationVersion: "v1"}
		if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRolledOut(t, c.Client, ns, name)
	}
	cl, err := kx.NewCluster(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	x, err := kx.New(checkoutConfig(), nil, cl)
	if err != nil {
		t.Fatal(err)
	}
	return c, x
}

func checkoutDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	d := newDeployment(name, replicas, image)
	d.Spec.Template.Spec.Containers[0].Name = "app"
	d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "log-shipper", Image: "fluent-bit:3"})
	return d
}

// lines collects step output.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) add(s string) { l.mu.Lock(); l.all = append(l.all, s); l.mu.Unlock() }
func (l *lines) text() string { l.mu.Lock(); defer l.mu.Unlock(); return strings.Join(l.all, "\n") }

func job(action runbook.Action, version, previous string, id uint64) runbook.Job {
	return runbook.Job{RunID: id, Action: action, App: "checkout", Env: "production", Version: version,
		PreviousVersion: previous, Requester: "rita"}
}

func images(t *testing.T, c *Cluster, name string) map[string]string {
	t.Helper()
	d, err := c.Client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, ct := range d.Spec.Template.Spec.Containers {
		out[ct.Name] = ct.Image
	}
	return out
}

func TestTwoWorkloadRolloutCompletesAndReportsProgress(t *testing.T) {
	c, x := setup(t)
	c.Kubelet.SetReadyDelay(300 * time.Millisecond)
	out := &lines{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := x.Deploy(ctx, job(runbook.ActionDeploy, "v2", "v1", 7), out.add); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.text())
	}
	text := out.text()
	for _, want := range []string{
		"deployment/checkout-api: image set to registry.example.com/shop/checkout:v2",
		"deployment/checkout-worker: image set to registry.example.com/shop/checkout:v2",
		"checkout-api: rolled out, 3 of 3 available",
		"checkout-worker: rolled out, 2 of 2 available",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("progress lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(text, "new replicas updated") && !strings.Contains(text, "updated replicas available") && !strings.Contains(text, "pending termination") {
		t.Errorf("no intermediate progress was reported:\n%s", text)
	}
	for _, name := range []string{"checkout-api", "checkout-worker"} {
		im := images(t, c, name)
		if im["app"] != "registry.example.com/shop/checkout:v2" || im["log-shipper"] != "fluent-bit:3" {
			t.Errorf("%s images = %v: only the app container changes", name, im)
		}
		d, _ := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if d.Annotations[kx.AnnotationRunID] != "7" || !strings.Contains(d.Annotations["kubernetes.io/change-cause"], "shipmate run #7: deploy checkout v2 by rita") {
			t.Errorf("%s annotations = %v", name, d.Annotations)
		}
		managed := false
		for _, mf := range d.ManagedFields {
			managed = managed || mf.Manager == "shipmate"
		}
		if !managed {
			t.Errorf("%s: no field manager shipmate", name)
		}
	}
	// Running the step again changes nothing: it is already there.
	out2 := &lines{}
	if err := x.Deploy(ctx, job(runbook.ActionDeploy, "v2", "v1", 7), out2.add); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out2.text(), "deployment/checkout-api: already at v2") {
		t.Errorf("second run:\n%s", out2.text())
	}
	if err := x.Verify(ctx, job(runbook.ActionDeploy, "v2", "v1", 7), out.add); err != nil {
		t.Errorf("verify: %v", err)
	}
}

func TestBrokenImageFailsFastWithDiagnosis(t *testing.T) {
	c, x := setup(t)
	c.Kubelet.Behave(":broken", ImagePullBackOff)
	out := &lines{}
	began := time.Now()
	err := x.Deploy(context.Background(), job(runbook.ActionDeploy, "broken", "v1", 8), out.add)
	took := time.Since(began)
	if err == nil {
		t.Fatalf("a broken image rolled out:\n%s", out.text())
	}
	if took > 20*time.Second {
		t.Errorf("failing took %s; it must not wait for the progress deadline", took)
	}
	if !strings.Contains(err.Error(), "ImagePullBackOff") {
		t.Errorf("error %q does not name ImagePullBackOff", err)
	}
	text := out.text()
	for _, want := range []string{"diagnosis: deployment checkout-api: new pods cannot start", "container app: ImagePullBackOff",
		"Runbook — Deployment hangs:", "Check network connectivity"} {
		if !strings.Contains(text, want) {
			t.Errorf("diagnosis lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(text, "event Warning") {
		t.Errorf("diagnosis shows no warning event:\n%s", text)
	}
	t.Logf("failed after %s", took.Round(time.Millisecond))
}

func TestCrashLoopFailsWithTheCrashLog(t *testing.T) {
	c, x := setup(t)
	c.Kubelet.Behave(":crashy", CrashLoopBackOff)
	c.PodLogs(func(namespace, pod, container string, previous bool) string {
		if previous && container == "app" {
			return "starting checkout v-crashy\nconnecting to postgres://db:5432\npanic: dial tcp 10.0.0.5:5432: connection refused\n"
		}
		return ""
	})
	out := &lines{}
	err := x.Deploy(context.Background(), job(runbook.ActionDeploy, "crashy", "v1", 9), out.add)
	if err == nil || !strings.Contains(err.Error(), "CrashLoopBackOff") {
		t.Fatalf("err = %v\n%s", err, out.text())
	}
	text := out.text()
	for _, want := range []string{"(previous container):", "panic: dial tcp 10.0.0.5:5432: connection refused",
		"Runbook — Health checks failing:", "Check database connectivity"} {
		if !strings.Contains(text, want) {
			t.Errorf("diagnosis lacks %q:\n%s", want, text)
		}
	}
}

func TestUndoRestoresTheRevisionOfThePreviousVersion(t *testing.T) {
	c, x := setup(t)
	ctx := context.Background()
	if err := x.Deploy(ctx, job(runbook.ActionDeploy, "v2", "v1", 10), func(string) {}); err != nil {
		t.Fatal(err)
	}
	out := &lines{}
	if err := x.Rollback(ctx, job(runbook.ActionRollback, "v1", "v2", 11), out.add); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out.text())
	}
	if !strings.Contains(out.text(), "deployment/checkout-api: restoring the revision that ran v1") {
		t.Errorf("output:\n%s", out.text())
	}
	d, _ := c.Client.AppsV1().Deployments(ns).Get(ctx, "checkout-api", metav1.GetOptions{})
	if d.Spec.Template.Spec.Containers[0].Image != "registry.example.com/shop/checkout:v1" || d.Spec.Template.Annotations[kx.AnnotationVersion] != "v1" {
		t.Errorf("template after undo: %+v", d.Spec.Template)
	}
	if _, ok := d.Spec.Template.Labels["pod-template-hash"]; ok {
		t.Errorf("undo copied the pod-template-hash label")
	}
	// kubectl's undo semantics: the old ReplicaSet is reused as the newest revision.
	rss, _ := c.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	n := 0
	for _, rs := range rss.Items {
		if metav1.IsControlledBy(&rs, d) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("checkout-api has %d ReplicaSets after v1 → v2 → v1, want 2 (v1's reused)", n)
	}
}

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

func startEngine(t *testing.T, path string, x runbook.Executor) *engineOn {
	t.Helper()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := runbook.New(runbook.Config{Store: st, Policy: policy(), Executors: map[string]runbook.Executor{"checkout": x},
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
	return e.eng.Do(context.Background(), runbook.Request{User: runbook.User{Platform: "web", ID: who, Person: who},
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
	c, x := setup(t)
	c.Kubelet.Behave(":crashy", CrashLoopBackOff)
	e := startEngine(t, filepath.Join(t.TempDir(), "s.db"), x)
	defer e.stop()

	e.waitState(e.deploy("rita", "v1"), runbook.StateSucceeded)
	e.waitState(e.deploy("rita", "v2"), runbook.StateSucceeded)
	// on_failure: rollback (the default) brings v2 back.
	id := e.deploy("rita", "crashy")
	r := e.waitState(id, runbook.StateRolledBack)
	if !strings.Contains(r.Note, "rolled back to v2") {
		t.Errorf("note %q", r.Note)
	}
	if im := images(t, c, "checkout-api")["app"]; im != "registry.example.com/shop/checkout:v2" {
		t.Fatalf("after the automatic rollback checkout-api runs %s", im)
	}
	waitRolledOut(t, c.Client, ns, "checkout-api")

	// /rollback by the incident team goes back to v1.
	rep, err := e.do("ivan", "/rollback checkout production")
	if err != nil {
		t.Fatal(err)
	}
	e.waitState(rep.RunID, runbook.StateRolledBack)
	if im := images(t, c, "checkout-worker")["app"]; im != "registry.example.com/shop/checkout:v1" {
		t.Fatalf("after /rollback checkout-worker runs %s", im)
	}
	rep, err = e.do("ivan", "/deploy whereis checkout")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.Text, "production: v1") || !strings.Contains(rep.Text, "(live: matches)") {
		t.Errorf("whereis:\n%s", rep.Text)
	}

	// Someone sets an image by hand: whereis flags the drift.
	setImage(t, c.Client, ns, "checkout-api", "registry.example.com/shop/checkout:hotfix-1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		rep, _ = e.do("ivan", "/deploy whereis checkout")
		if strings.Contains(rep.Text, "drift") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(rep.Text, "⚠ drift: production runs checkout-api=registry.example.com/shop/checkout:hotfix-1") {
		t.Errorf("whereis after a manual set image:\n%s", rep.Text)
	}
}

func TestRestartedBotFinishesTheRollout(t *testing.T) {
	c, x := setup(t)
	path := filepath.Join(t.TempDir(), "s.db")
	e := startEngine(t, path, x)
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
	for images(t, c, "checkout-worker")["app"] != "registry.example.com/shop/checkout:v2" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	e.stop() // the bot dies mid-rollout

	cl, err := kx.NewCluster(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	x2, err := kx.New(checkoutConfig(), nil, cl)
	if err != nil {
		t.Fatal(err)
	}
	c.Kubelet.SetReadyDelay(0)
	e2 := startEngine(t, path, x2)
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

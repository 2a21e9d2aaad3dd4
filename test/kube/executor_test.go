package kube

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kx "shipmate/internal/adapters/kubernetes"
	"shipmate/internal/runbook"
)

// The Kubernetes executor against a real API server with the real
// Deployment and ReplicaSet controllers.

const ns = "shop"

// checkoutConfig is the example configuration's checkout app, its images
// on reg.
func checkoutConfig(reg *Registry) kx.Config {
	return kx.Config{
		Namespace: ns, Workloads: []string{"deployment/checkout-api", "deployment/checkout-worker"},
		Container: "app", Image: reg.Host + "/shop/checkout:{version}", ProgressDeadline: time.Minute,
	}
}

// images holds the digests of the checkout versions pushed to the test's
// registry.
type images struct {
	reg     *Registry
	digests map[string]string // version → digest
}

// push pushes a new image as the checkout app's version and returns the
// image pinned by its digest.
func (im *images) push(t *testing.T, version string) string {
	t.Helper()
	im.digests[version] = im.reg.Push(t, "shop/checkout:"+version)
	return im.pinned(version)
}

// pinned is the checkout image of version as the executor sets it.
func (im *images) pinned(version string) string {
	return im.reg.Pinned("shop/checkout", im.digests[version])
}

// setup starts a cluster and a registry holding checkout v1 and v2, with
// the checkout workloads running v1 (pinned by digest, as Shipmate sets
// it), and returns an executor for them.
func setup(t *testing.T) (*Cluster, *kx.Executor, *images) {
	t.Helper()
	return setupOn(t, StartRegistry(t))
}

// setupOn is setup with the images on reg.
func setupOn(t *testing.T, reg *Registry) (*Cluster, *kx.Executor, *images) {
	t.Helper()
	c := StartCluster(t)
	im := &images{reg: reg, digests: map[string]string{}}
	im.push(t, "v1")
	im.push(t, "v2")
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, replicas := range map[string]int32{"checkout-api": 3, "checkout-worker": 2} {
		d := checkoutDeployment(name, replicas, im.pinned("v1"))
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
	x, err := kx.New(checkoutConfig(im.reg), nil, cl)
	if err != nil {
		t.Fatal(err)
	}
	return c, x, im
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

// deployJob is the job of deploying version, with the artifact resolved
// as the engine resolves it before approval.
func deployJob(t *testing.T, x *kx.Executor, version, previous string, id uint64) runbook.Job {
	t.Helper()
	j := job(runbook.ActionDeploy, version, previous, id)
	art, err := x.Resolve(context.Background(), j)
	if err != nil {
		t.Fatalf("resolve %s: %v", version, err)
	}
	j.Artifact = art
	return j
}

func containerImages(t *testing.T, c *Cluster, name string) map[string]string {
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
	c, x, im := setup(t)
	c.Kubelet.SetReadyDelay(300 * time.Millisecond)
	out := &lines{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	j := deployJob(t, x, "v2", "v1", 7)
	v2 := im.pinned("v2") // registry/shop/checkout@sha256:… as pushed
	if j.Artifact != v2 {
		t.Fatalf("v2 resolves to %s, want the pushed %s", j.Artifact, v2)
	}
	if err := x.Deploy(ctx, j, out.add); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.text())
	}
	text := out.text()
	for _, want := range []string{
		"deployment/checkout-api: image set to " + v2 + " (v2)",
		"deployment/checkout-worker: image set to " + v2 + " (v2)",
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
		got := containerImages(t, c, name)
		if got["app"] != v2 || got["log-shipper"] != "fluent-bit:3" {
			t.Errorf("%s images = %v: only the app container changes, to %s", name, got, v2)
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
	// The pods run the pinned image, and Live reads the version back.
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range pods.Items {
		if pod.DeletionTimestamp == nil && pod.Spec.Containers[0].Image != v2 {
			t.Errorf("pod %s runs %s after the rollout", pod.Name, pod.Spec.Containers[0].Image)
		}
	}
	if v, detail, err := x.Live(ctx, "checkout", "production"); err != nil || v != "v2" {
		t.Errorf("Live = %q, %q, %v; want v2", v, detail, err)
	}
	// Running the step again changes nothing: it is already there.
	out2 := &lines{}
	if err := x.Deploy(ctx, j, out2.add); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out2.text(), "deployment/checkout-api: already at v2") {
		t.Errorf("second run:\n%s", out2.text())
	}
	if err := x.Verify(ctx, j, out.add); err != nil {
		t.Errorf("verify: %v", err)
	}
}

func TestBrokenImageFailsFastWithDiagnosis(t *testing.T) {
	c, x, im := setup(t)
	// The registry has the image, the nodes cannot pull it.
	im.push(t, "broken")
	c.Kubelet.Behave(im.digests["broken"], ImagePullBackOff)
	j := deployJob(t, x, "broken", "v1", 8)
	out := &lines{}
	began := time.Now()
	err := x.Deploy(context.Background(), j, out.add)
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
	c, x, im := setup(t)
	im.push(t, "crashy")
	c.Kubelet.Behave(im.digests["crashy"], CrashLoopBackOff)
	c.PodLogs(func(namespace, pod, container string, previous bool) string {
		if previous && container == "app" {
			return "starting checkout v-crashy\nconnecting to postgres://db:5432\npanic: dial tcp 10.0.0.5:5432: connection refused\n"
		}
		return ""
	})
	out := &lines{}
	err := x.Deploy(context.Background(), deployJob(t, x, "crashy", "v1", 9), out.add)
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
	c, x, im := setup(t)
	ctx := context.Background()
	if err := x.Deploy(ctx, deployJob(t, x, "v2", "v1", 10), func(string) {}); err != nil {
		t.Fatal(err)
	}
	// The v1 tag moves on after v1 ran: the rollback brings back what ran.
	im.reg.Push(t, "shop/checkout:v1")
	out := &lines{}
	if err := x.Rollback(ctx, job(runbook.ActionRollback, "v1", "v2", 11), out.add); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out.text())
	}
	if !strings.Contains(out.text(), "deployment/checkout-api: restoring the revision that ran v1") {
		t.Errorf("output:\n%s", out.text())
	}
	d, _ := c.Client.AppsV1().Deployments(ns).Get(ctx, "checkout-api", metav1.GetOptions{})
	// The revision that ran v1 comes back with the image it ran, pinned.
	if d.Spec.Template.Spec.Containers[0].Image != im.pinned("v1") || d.Spec.Template.Annotations[kx.AnnotationVersion] != "v1" {
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
	// Running the rollback again (a re-attach) leaves it alone.
	again := &lines{}
	if err := x.Reattach(ctx, job(runbook.ActionRollback, "v1", "v2", 11), again.add); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(again.text(), "deployment/checkout-api: already at v1") {
		t.Errorf("re-attached rollback:\n%s", again.text())
	}
}

func TestRollbackWithoutTheOldRevisionPinsTheTagAsItIsNow(t *testing.T) {
	c, x, im := setup(t)
	ctx := context.Background()
	if err := x.Deploy(ctx, deployJob(t, x, "v2", "v1", 10), func(string) {}); err != nil {
		t.Fatal(err)
	}
	// v1's ReplicaSets are gone from the history (revisionHistoryLimit).
	rss, err := c.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range rss.Items {
		if rs.Spec.Template.Annotations[kx.AnnotationVersion] == "v1" {
			if err := c.Client.AppsV1().ReplicaSets(ns).Delete(ctx, rs.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	now := im.push(t, "v1")
	out := &lines{}
	if err := x.Rollback(ctx, job(runbook.ActionRollback, "v1", "v2", 11), out.add); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out.text())
	}
	if want := "deployment/checkout-api: image set to " + now + " (v1, as the registry has it now)"; !strings.Contains(out.text(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.text())
	}
	if got := containerImages(t, c, "checkout-worker")["app"]; got != now {
		t.Errorf("checkout-worker runs %s, want %s", got, now)
	}
}

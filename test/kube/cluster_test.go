package kube

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const checkout = "registry.example.com/shop/checkout"

func TestClusterRollsOutADeployment(t *testing.T) {
	c := StartCluster(t)
	c.Kubelet.Behave("broken-registry", ImagePullBackOff)
	c.PodLogs(func(ns, pod, container string, previous bool) string {
		return fmt.Sprintf("line 1\nline 2\nhello from %s/%s/%s previous=%v\n", ns, pod, container, previous)
	})
	ctx := t.Context()
	cs := c.Client

	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments("shop").Create(ctx, newDeployment("checkout", 2, checkout+":v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	waitRolledOut(t, cs, "shop", "checkout")
	t.Logf("v1 rolled out in %v", time.Since(began).Round(time.Millisecond))

	pods := podsOf(t, cs, "shop", "app=checkout")
	if len(pods) != 2 {
		t.Fatalf("want 2 pods, got %d", len(pods))
	}
	for _, p := range pods {
		if p.Spec.NodeName != c.NodeName || p.Status.Phase != corev1.PodRunning || !podReady(&p) || p.Status.PodIP == "" {
			t.Errorf("pod %s: node %q phase %s ready %v ip %q", p.Name, p.Spec.NodeName, p.Status.Phase, podReady(&p), p.Status.PodIP)
		}
		st := p.Status.ContainerStatuses
		if len(st) != 1 || !st[0].Ready || st[0].State.Running == nil || st[0].Image != checkout+":v1" ||
			!strings.HasPrefix(st[0].ImageID, checkout+"@sha256:") || !strings.HasPrefix(st[0].ContainerID, "containerd://") {
			t.Errorf("pod %s: container statuses %+v", p.Name, st)
		}
	}

	// Logs, proxied by the apiserver to the fake kubelet.
	logs, err := cs.CoreV1().Pods("shop").GetLogs(pods[0].Name, &corev1.PodLogOptions{Container: "app"}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("pod logs: %v", err)
	}
	if want := fmt.Sprintf("hello from shop/%s/app previous=false\n", pods[0].Name); !strings.HasSuffix(string(logs), want) {
		t.Errorf("pod logs = %q, want suffix %q", logs, want)
	}
	tail := int64(1)
	logs, err = cs.CoreV1().Pods("shop").GetLogs(pods[0].Name, &corev1.PodLogOptions{TailLines: &tail}).DoRaw(ctx)
	if err != nil || strings.Count(string(logs), "\n") != 1 || !strings.HasPrefix(string(logs), "hello from") {
		t.Errorf("tailLines=1: %q, %v", logs, err)
	}
	// (Stream, as kubectl logs uses, decodes the apiserver's Status; DoRaw
	// would keep only "the server rejected our request for an unknown reason".)
	if _, err := podLogs(t, cs, "shop", pods[0].Name, &corev1.PodLogOptions{Previous: true}); !apierrors.IsBadRequest(err) ||
		!strings.Contains(err.Error(), "previous terminated container") {
		t.Errorf("previous logs of a container that never restarted: %v, want 400 previous terminated container ... not found", err)
	}

	// v2: a new ReplicaSet takes over.
	setImage(t, cs, "shop", "checkout", checkout+":v2")
	waitRolledOut(t, cs, "shop", "checkout")
	rss, err := cs.AppsV1().ReplicaSets("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=checkout"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rss.Items) != 2 {
		t.Fatalf("want 2 ReplicaSets after the v2 rollout, got %d", len(rss.Items))
	}
	for _, rs := range rss.Items {
		image := rs.Spec.Template.Spec.Containers[0].Image
		want := int32(0)
		if image == checkout+":v2" {
			want = 2
		}
		if *rs.Spec.Replicas != want || rs.Status.Replicas != want {
			t.Errorf("ReplicaSet %s (%s): spec.replicas %d status.replicas %d, want %d", rs.Name, image, *rs.Spec.Replicas, rs.Status.Replicas, want)
		}
	}
	waitFor(t, 30*time.Second, "v1 pods gone and 2 v2 pods", func(ctx context.Context) (bool, error) {
		pods := podsOf(t, cs, "shop", "app=checkout")
		return len(pods) == 2 && pods[0].Spec.Containers[0].Image == checkout+":v2" && pods[1].Spec.Containers[0].Image == checkout+":v2", nil
	})
	waitEvent(t, cs, "shop", "Deployment", "checkout", corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled down replica set")

	// An image that cannot be pulled: the rollout stalls.
	broken := "broken-registry.example.com/shop/checkout:v3"
	setImage(t, cs, "shop", "checkout", broken)
	var stuck corev1.Pod
	waitFor(t, 30*time.Second, "a v3 pod in ImagePullBackOff", func(ctx context.Context) (bool, error) {
		for _, p := range podsOf(t, cs, "shop", "app=checkout") {
			st := p.Status.ContainerStatuses
			if p.Spec.Containers[0].Image == broken && len(st) == 1 && st[0].State.Waiting != nil && st[0].State.Waiting.Reason == "ImagePullBackOff" {
				stuck = p
				return true, nil
			}
		}
		return false, nil
	})
	if stuck.Status.Phase != corev1.PodPending || podReady(&stuck) || stuck.Spec.NodeName != c.NodeName {
		t.Errorf("stuck pod: phase %s ready %v node %q", stuck.Status.Phase, podReady(&stuck), stuck.Spec.NodeName)
	}
	if msg := stuck.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, "Back-off pulling image") {
		t.Errorf("waiting message = %q", msg)
	}
	waitEvent(t, cs, "shop", "Pod", stuck.Name, corev1.EventTypeWarning, "Failed", "Failed to pull image")
	waitEvent(t, cs, "shop", "Pod", stuck.Name, corev1.EventTypeWarning, "Failed", "Error: ImagePullBackOff")
	waitEvent(t, cs, "shop", "Pod", stuck.Name, corev1.EventTypeNormal, "BackOff", "Back-off pulling image")
	_, err = podLogs(t, cs, "shop", stuck.Name, &corev1.PodLogOptions{})
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "is waiting to start: trying and failing to pull image") {
		t.Errorf("logs of a pod in ImagePullBackOff: %v", err)
	}
	d, err := cs.AppsV1().Deployments("shop").Get(ctx, "checkout", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.AvailableReplicas != 2 || d.Status.UpdatedReplicas != 1 || d.Status.UnavailableReplicas != 1 {
		t.Errorf("stalled rollout status: %+v", d.Status)
	}
}

func TestKubeletBehaviours(t *testing.T) {
	c := StartCluster(t)
	k := c.Kubelet
	k.Behave("crash", CrashLoopBackOff)
	k.Behave("oom", OOMKilled)
	k.Behave("unready", NotReady)
	k.Behave("pull", ErrImagePull)
	k.Behave("pending", Unschedulable)
	ctx := t.Context()
	cs := c.Client

	for _, name := range []string{"crash", "oom", "unready", "pull", "pending"} {
		if _, err := cs.AppsV1().Deployments("default").Create(ctx, newDeployment(name, 1, "example.com/"+name+":1"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(app string, ok func(*corev1.Pod, *corev1.ContainerStatus) bool) *corev1.Pod {
		t.Helper()
		var found *corev1.Pod
		waitFor(t, 30*time.Second, app+" pod status", func(ctx context.Context) (bool, error) {
			for _, p := range podsOf(t, cs, "default", "app="+app) {
				var st *corev1.ContainerStatus
				if len(p.Status.ContainerStatuses) == 1 {
					st = &p.Status.ContainerStatuses[0]
				}
				if ok(&p, st) {
					found = &p
					return true, nil
				}
			}
			return false, nil
		})
		return found
	}

	crash := pod("crash", func(p *corev1.Pod, st *corev1.ContainerStatus) bool {
		return st != nil && st.State.Waiting != nil && st.State.Waiting.Reason == "CrashLoopBackOff" &&
			st.RestartCount > 0 && st.LastTerminationState.Terminated != nil && st.LastTerminationState.Terminated.ExitCode == 1 &&
			p.Status.Phase == corev1.PodRunning && !podReady(p)
	})
	waitEvent(t, cs, "default", "Pod", crash.Name, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container app")
	prev, err := podLogs(t, cs, "default", crash.Name, &corev1.PodLogOptions{Previous: true})
	if err != nil || !strings.Contains(prev, "panic: runtime error") {
		t.Errorf("previous logs of the crashing pod: %q, %v", prev, err)
	}

	pod("oom", func(p *corev1.Pod, st *corev1.ContainerStatus) bool {
		return st != nil && st.State.Terminated != nil && st.State.Terminated.Reason == "OOMKilled" && st.State.Terminated.ExitCode == 137 && !podReady(p)
	})
	unready := pod("unready", func(p *corev1.Pod, st *corev1.ContainerStatus) bool {
		return st != nil && st.State.Running != nil && !st.Ready && p.Status.Phase == corev1.PodRunning && !podReady(p)
	})
	waitEvent(t, cs, "default", "Pod", unready.Name, corev1.EventTypeWarning, "Unhealthy", "Readiness probe failed")
	pod("pull", func(p *corev1.Pod, st *corev1.ContainerStatus) bool {
		return st != nil && st.State.Waiting != nil && st.State.Waiting.Reason == "ErrImagePull" && p.Status.Phase == corev1.PodPending
	})
	pending := pod("pending", func(p *corev1.Pod, st *corev1.ContainerStatus) bool {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
				return p.Spec.NodeName == ""
			}
		}
		return false
	})
	waitEvent(t, cs, "default", "Pod", pending.Name, corev1.EventTypeWarning, "FailedScheduling", "0/1 nodes are available")

	// Scaling down deletes pods for real: the kubelet finishes the graceful
	// deletion of pods bound to its node.
	scale(t, cs, "default", "unready", 0)
	waitFor(t, 30*time.Second, "unready pods gone", func(ctx context.Context) (bool, error) {
		return len(podsOf(t, cs, "default", "app=unready")) == 0, nil
	})
}

func TestReadyDelayAndKubeconfig(t *testing.T) {
	c := StartCluster(t)
	c.Kubelet.SetReadyDelay(2 * time.Second)

	// The kubeconfig file works for any client, as it would for the built bot.
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	node, err := cs.CoreV1().Nodes().Get(t.Context(), c.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the node through the kubeconfig: %v", err)
	}
	if port := node.Status.DaemonEndpoints.KubeletEndpoint.Port; port == 0 {
		t.Errorf("node has no kubelet port")
	}

	if _, err := cs.AppsV1().Deployments("default").Create(t.Context(), newDeployment("slow", 1, "example.com/slow:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var sawUnready time.Time
	waitFor(t, 30*time.Second, "a running, not yet ready pod", func(ctx context.Context) (bool, error) {
		for _, p := range podsOf(t, cs, "default", "app=slow") {
			if p.Status.Phase == corev1.PodRunning && !podReady(&p) {
				sawUnready = time.Now()
				return true, nil
			}
		}
		return false, nil
	})
	waitRolledOut(t, cs, "default", "slow")
	if d := time.Since(sawUnready); d > 5*time.Second {
		t.Errorf("ready %v after the pod was seen running", d)
	}
}

func newDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "app", Image: image}},
				},
			},
		},
	}
}

func setImage(t *testing.T, cs kubernetes.Interface, ns, name, image string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":%q}]}}}}`, image)
	if _, err := cs.AppsV1().Deployments(ns).Patch(t.Context(), name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("patching %s/%s to %s: %v", ns, name, image, err)
	}
}

func scale(t *testing.T, cs kubernetes.Interface, ns, name string, replicas int32) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	if _, err := cs.AppsV1().Deployments(ns).Patch(t.Context(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitRolledOut waits until the Deployment's rollout is complete, as
// `kubectl rollout status` judges it.
func waitRolledOut(t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	var last appsv1.DeploymentStatus
	waitFor(t, 30*time.Second, "rollout of "+ns+"/"+name, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = d.Status
		want := *d.Spec.Replicas
		return d.Status.ObservedGeneration == d.Generation &&
			d.Status.UpdatedReplicas == want && d.Status.AvailableReplicas == want && d.Status.Replicas == want, nil
	})
	t.Logf("%s/%s rolled out: %+v", ns, name, last)
}

func waitEvent(t *testing.T, cs kubernetes.Interface, ns, kind, name, typ, reason, msgPart string) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("%s event %s on %s %s containing %q", typ, reason, kind, name, msgPart), func(ctx context.Context) (bool, error) {
		evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
			FieldSelector: fmt.Sprintf("involvedObject.kind=%s,involvedObject.name=%s", kind, name),
		})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Type == typ && e.Reason == reason && strings.Contains(e.Message, msgPart) {
				return true, nil
			}
		}
		return false, nil
	})
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, timeout, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func podsOf(t *testing.T, cs kubernetes.Interface, ns, selector string) []corev1.Pod {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

// podLogs reads logs the way kubectl logs does.
func podLogs(t *testing.T, cs kubernetes.Interface, ns, pod string, opts *corev1.PodLogOptions) (string, error) {
	t.Helper()
	rc, err := cs.CoreV1().Pods(ns).GetLogs(pod, opts).Stream(t.Context())
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

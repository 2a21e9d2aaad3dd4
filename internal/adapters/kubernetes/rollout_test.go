package kubernetes

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// These tests check the decision rules on objects whose status is set by
// hand; rollouts themselves are tested against a real API server with the
// real controllers (test/kube).

func ptr[T any](v T) *T { return &v }

func deployment(gen, observed int64, replicas, updated, available, total int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "shop", UID: "d-uid", Generation: gen,
			Annotations: map[string]string{revisionAnnotation: "2"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr(replicas)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: total, UpdatedReplicas: updated,
			AvailableReplicas: available, Conditions: conds},
	}
}

func TestDeploymentRolloutRules(t *testing.T) {
	deadline := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded"}
	for _, tc := range []struct {
		name    string
		d       *appsv1.Deployment
		done    bool
		message string
		failure string
	}{
		{"spec not observed", deployment(3, 2, 3, 3, 3, 3), false, "api: waiting for the new spec to be observed", ""},
		{"updating", deployment(2, 2, 3, 1, 3, 4), false, "api: 1 of 3 new replicas updated, 3 available", ""},
		{"old pending", deployment(2, 2, 3, 3, 2, 4), false, "api: 1 old replicas pending termination", ""},
		{"not available", deployment(2, 2, 3, 3, 2, 3), false, "api: 2 of 3 updated replicas available", ""},
		{"done", deployment(2, 2, 3, 3, 3, 3), true, "api: rolled out, 3 of 3 available", ""},
		{"deadline", deployment(2, 2, 3, 1, 3, 4, deadline), false, "", "deployment api exceeded its progress deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := cachedWatch(t, tc.d)
			r, err := w.status(Workload{Kind: "deployment", Name: "api"}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if r.done != tc.done || r.message != tc.message || r.failure != tc.failure {
				t.Fatalf("got done=%v message=%q failure=%q, want %v %q %q", r.done, r.message, r.failure, tc.done, tc.message, tc.failure)
			}
		})
	}
}

func TestNewPodsThatCannotStartFailTheRollout(t *testing.T) {
	d := deployment(2, 2, 2, 2, 0, 2)
	controller := true
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "api-abc", Namespace: "shop", UID: "rs-new",
		Annotations:     map[string]string{revisionAnnotation: "2"},
		OwnerReferences: []metav1.OwnerReference{{UID: "d-uid", Controller: &controller, Kind: "Deployment", Name: "api"}}}}
	old := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "api-old", Namespace: "shop", UID: "rs-old",
		Annotations:     map[string]string{revisionAnnotation: "1"},
		OwnerReferences: []metav1.OwnerReference{{UID: "d-uid", Controller: &controller, Kind: "Deployment", Name: "api"}}}}
	pod := func(name string, owner types.UID, st corev1.ContainerStatus) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop",
			OwnerReferences: []metav1.OwnerReference{{UID: owner, Kind: "ReplicaSet", Name: "x"}}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{st}}}
	}
	pull := corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "ImagePullBackOff", Message: `Back-off pulling image "registry.example.com/shop/checkout:nope"`}}}
	crash := corev1.ContainerStatus{Name: "app", RestartCount: 3, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}
	oldCrash := pod("api-old-1", "rs-old", crash) // the old revision's trouble is not this rollout's

	w := cachedWatch(t, d, rs, old, pod("api-abc-1", "rs-new", pull), pod("api-abc-2", "rs-new", crash), oldCrash)
	r, err := w.status(Workload{Kind: "deployment", Name: "api"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.failure != "deployment api: new pods cannot start" || len(r.failing) != 2 {
		t.Fatalf("failure %q with %d failing pods, want two of the new revision", r.failure, len(r.failing))
	}
	if r.failing[0].reason != "ImagePullBackOff" || r.failing[1].reason != "CrashLoopBackOff" || !r.failing[1].crashed {
		t.Fatalf("failing = %+v", r.failing)
	}
	if got := issueFor(r); got.Title != "Deployment hangs" {
		t.Fatalf("handbook entry %q", got.Title)
	}
}

func TestStatefulSetRolloutRules(t *testing.T) {
	sts := func(gen, observed int64, ready, updated int32, cur, upd string) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop", UID: "s-uid", Generation: gen},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(3)),
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: observed, ReadyReplicas: ready, UpdatedReplicas: updated,
				CurrentRevision: cur, UpdateRevision: upd}}
	}
	for _, tc := range []struct {
		s       *appsv1.StatefulSet
		done    bool
		message string
	}{
		{sts(2, 1, 3, 3, "a", "a"), false, "db: waiting for the new spec to be observed"},
		{sts(2, 2, 2, 1, "a", "b"), false, "db: 2 of 3 pods ready"},
		{sts(2, 2, 3, 2, "a", "b"), false, "db: 2 of 3 pods at the new revision"},
		{sts(2, 2, 3, 3, "b", "b"), true, "db: rolled out, 3 of 3 ready"},
	} {
		w := cachedWatch(t, tc.s)
		r, err := w.status(Workload{Kind: "statefulset", Name: "db"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r.done != tc.done || r.message != tc.message {
			t.Errorf("got %v %q, want %v %q", r.done, r.message, tc.done, tc.message)
		}
	}
}

func TestConfigTemplates(t *testing.T) {
	c := Config{Namespace: "shop-{env}", Workloads: []string{"deploy/api", "sts/db"}, Image: "reg.example.com/shop/api:{version}"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.ProgressDeadline != DefaultProgressDeadline || c.namespace("staging") != "shop-staging" {
		t.Fatalf("defaults/namespace: %+v %q", c, c.namespace("staging"))
	}
	if v := c.versionOf("reg.example.com/shop/api:v1.2.3"); v != "v1.2.3" {
		t.Fatalf("versionOf = %q", v)
	}
	if v := c.versionOf("reg.example.com/other:v1"); v != "" {
		t.Fatalf("versionOf foreign image = %q", v)
	}
	for _, bad := range []Config{
		{Workloads: []string{"deployment/a"}, Image: "x:{version}"},
		{Namespace: "n", Image: "x:{version}"},
		{Namespace: "n", Workloads: []string{"job/a"}, Image: "x:{version}"},
		{Namespace: "n", Workloads: []string{"deployment/a"}, Image: "x:latest"},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validated", bad)
		} else if !strings.Contains(err.Error(), ":") {
			t.Errorf("error %q does not name its key", err)
		}
	}
}

// A cache that has not yet seen Shipmate's own patch shows the previous,
// finished rollout: it must not count as this one being done.
func TestStatusWaitsForTheCacheToSeeThePatch(t *testing.T) {
	w := cachedWatch(t, deployment(2, 2, 3, 3, 3, 3))
	r, err := w.status(Workload{Kind: "deployment", Name: "api"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.done || r.message != "api: waiting for the new spec to be observed" {
		t.Fatalf("got done=%v %q for a cache behind the patch", r.done, r.message)
	}
	if r, _ := w.status(Workload{Kind: "deployment", Name: "api"}, 2); !r.done {
		t.Fatalf("the cache at the patched generation: %q", r.message)
	}
}

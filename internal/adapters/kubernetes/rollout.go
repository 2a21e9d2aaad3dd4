package kubernetes

import (
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
)

// revisionAnnotation is where the Deployment controller numbers revisions.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// rollout is one workload's rollout as the informers see it now.
type rollout struct {
	done    bool
	message string // "checkout-api: 2 of 3 new replicas updated"
	// failure, when set, ends the rollout as failed (the deadline passed,
	// or pods of the new revision cannot start).
	failure string
	// issue names the handbook entry the failure matches.
	failing []podTrouble
	// newPods are the pods of the revision being rolled out.
	newPods []*corev1.Pod
}

// podTrouble is a pod of the new revision that cannot start, and why.
type podTrouble struct {
	pod       *corev1.Pod
	container string
	reason    string // ImagePullBackOff, CrashLoopBackOff, OOMKilled, ...
	message   string
	crashed   bool // the container ran and died: its previous log explains
}

// fatalWaiting are waiting reasons that do not fix themselves: a rollout
// with such pods fails at once instead of waiting for its deadline.
var fatalWaiting = map[string]bool{
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"InvalidImageName":           true,
	"CrashLoopBackOff":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
}

func labelsEverything() labels.Selector { return labels.Everything() }

// status reads the rollout of workload wl, whose cached copy must be at
// least at generation atLeast (the one Shipmate's own patch produced) to
// say anything about it.
func (w *namespaceWatch) status(wl Workload, atLeast int64) (rollout, error) {
	waiting := rollout{message: fmt.Sprintf("%s: waiting for the new spec to be observed", wl.Name)}
	switch wl.Kind {
	case "deployment":
		d, err := w.deployments.Get(wl.Name)
		if err != nil {
			return rollout{}, notFound(wl, err)
		}
		if d.Generation < atLeast {
			return waiting, nil
		}
		return w.deploymentStatus(d)
	case "statefulset":
		s, err := w.statefulSets.Get(wl.Name)
		if err != nil {
			return rollout{}, notFound(wl, err)
		}
		if s.Generation < atLeast {
			return waiting, nil
		}
		return w.statefulSetStatus(s)
	}
	return rollout{}, fmt.Errorf("%s: unsupported kind", wl)
}

func notFound(wl Workload, err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s not found", wl)
	}
	return err
}

// deploymentStatus applies `kubectl rollout status`'s rules to d, and
// looks at the pods of its newest ReplicaSet.
func (w *namespaceWatch) deploymentStatus(d *appsv1.Deployment) (rollout, error) {
	r := rollout{}
	if d.Generation > d.Status.ObservedGeneration {
		// Until the controller has seen the new template, "the newest
		// ReplicaSet" is still the previous one: its pods say nothing
		// about this rollout (after an undo, they are the failed ones).
		r.message = fmt.Sprintf("%s: waiting for the new spec to be observed", d.Name)
		return r, nil
	}
	rss, err := w.replicaSetsOf(d)
	if err != nil {
		return r, err
	}
	for _, rs := range rss {
		if rs.Annotations[revisionAnnotation] == d.Annotations[revisionAnnotation] && d.Annotations[revisionAnnotation] != "" {
			pods, err := w.podsOf(string(rs.UID))
			if err != nil {
				return r, err
			}
			r.newPods = pods
		}
	}
	r.failing = troubles(r.newPods)

	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	switch {
	case progressDeadlineExceeded(d):
		r.failure = fmt.Sprintf("deployment %s exceeded its progress deadline", d.Name)
	case st.UpdatedReplicas < want:
		r.message = fmt.Sprintf("%s: %d of %d new replicas updated, %d available", d.Name, st.UpdatedReplicas, want, st.AvailableReplicas)
	case st.Replicas > st.UpdatedReplicas:
		r.message = fmt.Sprintf("%s: %d old replicas pending termination", d.Name, st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		r.message = fmt.Sprintf("%s: %d of %d updated replicas available", d.Name, st.AvailableReplicas, st.UpdatedReplicas)
	default:
		r.done = true
		r.message = fmt.Sprintf("%s: rolled out, %d of %d available", d.Name, st.AvailableReplicas, want)
	}
	if len(r.failing) > 0 && !r.done {
		r.failure = fmt.Sprintf("deployment %s: new pods cannot start", d.Name)
	}
	return r, nil
}

func progressDeadlineExceeded(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return true
		}
	}
	return false
}

// statefulSetStatus applies `kubectl rollout status`'s rules to s.
func (w *namespaceWatch) statefulSetStatus(s *appsv1.StatefulSet) (rollout, error) {
	r := rollout{}
	if s.Status.ObservedGeneration == 0 || s.Generation > s.Status.ObservedGeneration {
		r.message = fmt.Sprintf("%s: waiting for the new spec to be observed", s.Name)
		return r, nil
	}
	pods, err := w.podsOf(string(s.UID))
	if err != nil {
		return r, err
	}
	for _, p := range pods {
		if p.Labels[appsv1.ControllerRevisionHashLabelKey] == s.Status.UpdateRevision {
			r.newPods = append(r.newPods, p)
		}
	}
	r.failing = troubles(r.newPods)
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
	st := s.Status
	switch {
	case s.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType:
		r.failure = fmt.Sprintf("statefulset %s: rollout status is only available for the RollingUpdate strategy", s.Name)
	case st.ReadyReplicas < want:
		r.message = fmt.Sprintf("%s: %d of %d pods ready", s.Name, st.ReadyReplicas, want)
	case partitioned(s):
		p := *s.Spec.UpdateStrategy.RollingUpdate.Partition
		if st.UpdatedReplicas < want-p {
			r.message = fmt.Sprintf("%s: %d of %d new pods updated (partition %d)", s.Name, st.UpdatedReplicas, want-p, p)
		} else {
			r.done = true
			r.message = fmt.Sprintf("%s: partitioned rollout complete, %d new pods updated", s.Name, st.UpdatedReplicas)
		}
	case st.UpdateRevision != st.CurrentRevision:
		r.message = fmt.Sprintf("%s: %d of %d pods at the new revision", s.Name, st.UpdatedReplicas, want)
	default:
		r.done = true
		r.message = fmt.Sprintf("%s: rolled out, %d of %d ready", s.Name, st.ReadyReplicas, want)
	}
	if len(r.failing) > 0 && !r.done && r.failure == "" {
		r.failure = fmt.Sprintf("statefulset %s: new pods cannot start", s.Name)
	}
	return r, nil
}

func partitioned(s *appsv1.StatefulSet) bool {
	ru := s.Spec.UpdateStrategy.RollingUpdate
	return ru != nil && ru.Partition != nil && *ru.Partition > 0
}

// troubles returns the pods that cannot start, and why, in a stable order.
func troubles(pods []*corev1.Pod) []podTrouble {
	var out []podTrouble
	for _, p := range pods {
		statuses := append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
		for _, cs := range statuses {
			switch {
			case cs.State.Waiting != nil && fatalWaiting[cs.State.Waiting.Reason]:
				out = append(out, podTrouble{pod: p, container: cs.Name, reason: cs.State.Waiting.Reason,
					message: cs.State.Waiting.Message, crashed: cs.State.Waiting.Reason == "CrashLoopBackOff"})
			case cs.State.Terminated != nil && cs.State.Terminated.Reason == "OOMKilled":
				out = append(out, podTrouble{pod: p, container: cs.Name, reason: "OOMKilled", message: cs.State.Terminated.Message, crashed: true})
			case cs.LastTerminationState.Terminated != nil && cs.LastTerminationState.Terminated.Reason == "OOMKilled" && cs.RestartCount > 0 && !cs.Ready:
				out = append(out, podTrouble{pod: p, container: cs.Name, reason: "OOMKilled", message: cs.LastTerminationState.Terminated.Message, crashed: true})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].pod.Name < out[j].pod.Name })
	return out
}

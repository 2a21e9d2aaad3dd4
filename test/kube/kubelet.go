package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// Behaviour is what the fake kubelet makes of a container. Its value is
// the reason that shows up in the pod's status.
type Behaviour string

const (
	// Healthy: the container runs and is Ready (after the ready delay, if
	// one is set). The default.
	Healthy Behaviour = "Healthy"
	// NotReady: the container runs but its readiness probe never passes.
	NotReady Behaviour = "NotReady"
	// ImagePullBackOff: the image cannot be pulled and the kubelet backs
	// off; the pod stays Pending.
	ImagePullBackOff Behaviour = "ImagePullBackOff"
	// ErrImagePull: the image pull has just failed; the pod stays Pending.
	ErrImagePull Behaviour = "ErrImagePull"
	// CrashLoopBackOff: the container exited with code 1 (restartCount 1,
	// lastState terminated "Error") and is waiting to be restarted.
	CrashLoopBackOff Behaviour = "CrashLoopBackOff"
	// OOMKilled: the container was killed by the OOM killer (state and
	// lastState terminated with reason OOMKilled, exit code 137).
	OOMKilled Behaviour = "OOMKilled"
	// Unschedulable: the pod is never bound to the node; its PodScheduled
	// condition says Unschedulable and a FailedScheduling event is emitted.
	Unschedulable Behaviour = "Unschedulable"
)

type rule struct {
	substr string
	b      Behaviour
}

// Kubelet is a fake kubelet (and a trivial scheduler) for the cluster's
// only Node. For every new pod it picks a Behaviour per container from the
// image rules, binds the pod to the node through pods/binding, writes the
// pod status a real kubelet would write (phase, conditions, hostIP, podIP,
// containerStatuses with image, imageID, containerID, state, lastState,
// restartCount) and emits the matching events. When a pod is deleted it
// finishes the graceful deletion at once, as a kubelet does once the
// containers are stopped.
//
// Rules and the ready delay are read when the fake kubelet first sees a
// pod; changing them does not change pods that already exist.
type Kubelet struct {
	nodeName string

	client      kubernetes.Interface
	pods        corelisters.PodLister
	queue       workqueue.TypedRateLimitingInterface[string]
	broadcaster record.EventBroadcaster
	sink        *eventSink
	kubeletRec  record.EventRecorder
	schedRec    record.EventRecorder

	mu         sync.Mutex
	rules      []rule
	readyDelay time.Duration
	logs       func(namespace, pod, container string, previous bool) string
	runs       map[types.UID]*podRun
	nextIP     int
}

// podRun is what the fake kubelet remembers about one pod.
type podRun struct {
	behaviours map[string]Behaviour // by container name
	readyDelay time.Duration
	started    time.Time // zero until the pod was first synced on the node
	readyAt    time.Time
	ip         string
	emitted    map[string]bool // events already emitted
	events     int             // how many: the status waits for them
}

func newKubelet(nodeName string) *Kubelet {
	return &Kubelet{
		nodeName: nodeName,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "fake-kubelet"}),
		runs: map[types.UID]*podRun{},
	}
}

// Behave makes containers whose image contains imageSubstring behave as b.
// Later rules win over earlier ones; Behave(s, Healthy) undoes a rule for
// new pods.
func (k *Kubelet) Behave(imageSubstring string, b Behaviour) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.rules = append(k.rules, rule{substr: imageSubstring, b: b})
}

// SetReadyDelay makes Healthy containers of pods seen from now on run
// unready for d before they turn Ready, so that tests can watch a rollout
// progress. The default is 0.
func (k *Kubelet) SetReadyDelay(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.readyDelay = d
}

// NodeName is the node the fake kubelet runs pods on.
func (k *Kubelet) NodeName() string { return k.nodeName }

func (k *Kubelet) setLogs(fn func(namespace, pod, container string, previous bool) string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.logs = fn
}

func (k *Kubelet) behaviourFor(image string) Behaviour {
	for i := len(k.rules) - 1; i >= 0; i-- {
		if strings.Contains(image, k.rules[i].substr) {
			return k.rules[i].b
		}
	}
	return Healthy
}

func (k *Kubelet) attach(pods coreinformers.PodInformer, client kubernetes.Interface) error {
	k.mu.Lock()
	k.client = client
	k.pods = pods.Lister()
	k.mu.Unlock()
	k.broadcaster = record.NewBroadcaster()
	k.kubeletRec = k.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: k.nodeName})
	k.schedRec = k.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "default-scheduler"})
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			k.queue.Add(key)
		}
	}
	_, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				k.mu.Lock()
				delete(k.runs, pod.UID)
				k.mu.Unlock()
			}
		},
	})
	return err
}

func (k *Kubelet) run(ctx context.Context, workers int) {
	k.sink = newEventSink(&typedcorev1.EventSinkImpl{Interface: k.client.CoreV1().Events("")})
	k.broadcaster.StartRecordingToSink(k.sink)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { wait.UntilWithContext(ctx, k.worker, time.Second) })
	}
	<-ctx.Done()
	k.queue.ShutDown()
	wg.Wait()
}

func (k *Kubelet) shutdown() {
	k.queue.ShutDown()
	if k.broadcaster != nil {
		k.broadcaster.Shutdown()
	}
}

func (k *Kubelet) worker(ctx context.Context) {
	for {
		key, quit := k.queue.Get()
		if quit {
			return
		}
		err := k.sync(ctx, key)
		switch {
		case err == nil:
			k.queue.Forget(key)
		case ctx.Err() != nil:
		default:
			if !apierrors.IsConflict(err) {
				utilruntime.HandleErrorWithContext(ctx, err, "fake kubelet: syncing pod", "pod", key)
			}
			k.queue.AddRateLimited(key)
		}
		k.queue.Done(key)
	}
}

func (k *Kubelet) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := k.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != k.nodeName {
		return nil
	}
	run := k.runFor(pod)
	switch {
	case pod.DeletionTimestamp != nil:
		return k.kill(ctx, pod, run)
	case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		return nil
	case pod.Spec.NodeName == "":
		return k.schedule(ctx, pod, run)
	default:
		return k.syncStatus(ctx, key, pod, run)
	}
}

func (k *Kubelet) runFor(pod *corev1.Pod) *podRun {
	k.mu.Lock()
	defer k.mu.Unlock()
	if run, ok := k.runs[pod.UID]; ok {
		return run
	}
	run := &podRun{
		behaviours: map[string]Behaviour{},
		readyDelay: k.readyDelay,
		emitted:    map[string]bool{},
	}
	for _, c := range pod.Spec.Containers {
		run.behaviours[c.Name] = k.behaviourFor(c.Image)
	}
	k.runs[pod.UID] = run
	return run
}

// once reports whether the event called key has not been emitted for run
// yet, and marks it emitted.
func (k *Kubelet) once(run *podRun, key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if run.emitted[key] {
		return false
	}
	run.emitted[key] = true
	run.events++
	return true
}

// waitEvents waits until the events emitted for pod so far are written.
func (k *Kubelet) waitEvents(ctx context.Context, pod *corev1.Pod, run *podRun) {
	k.mu.Lock()
	n := run.events
	k.mu.Unlock()
	k.sink.wait(ctx, pod.UID, n)
}

func (k *Kubelet) schedule(ctx context.Context, pod *corev1.Pod, run *podRun) error {
	for _, b := range run.behaviours {
		if b != Unschedulable {
			continue
		}
		msg := "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
		if k.once(run, "FailedScheduling") {
			k.schedRec.Event(pod, corev1.EventTypeWarning, "FailedScheduling", msg)
		}
		k.waitEvents(ctx, pod, run)
		st := pod.Status.DeepCopy()
		st.Phase = corev1.PodPending
		setCondition(st, corev1.PodCondition{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: msg,
			LastTransitionTime: metav1.NewTime(pod.CreationTimestamp.Time),
		})
		return k.updateStatus(ctx, pod, st)
	}
	err := k.client.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: k.nodeName},
	}, metav1.CreateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if k.once(run, "Scheduled") {
		k.schedRec.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, k.nodeName)
	}
	return nil // the informer brings the bound pod back
}

func (k *Kubelet) kill(ctx context.Context, pod *corev1.Pod, run *podRun) error {
	if pod.Spec.NodeName != "" {
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.State.Running != nil && k.once(run, "Killing/"+cs.Name) {
				k.kubeletRec.Eventf(containerRef(pod, cs.Name), corev1.EventTypeNormal, "Killing", "Stopping container %s", cs.Name)
			}
		}
	}
	zero := int64(0)
	err := k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

func (k *Kubelet) syncStatus(ctx context.Context, key string, pod *corev1.Pod, run *podRun) error {
	k.mu.Lock()
	if run.started.IsZero() {
		run.started = time.Now().Truncate(time.Second)
		run.readyAt = time.Now().Add(run.readyDelay)
		run.ip = fmt.Sprintf("10.244.%d.%d", k.nextIP/250, k.nextIP%250+2)
		k.nextIP++
	}
	k.mu.Unlock()

	st, requeue := k.desiredStatus(pod, run, time.Now())
	k.emitEvents(pod, run, st)
	k.waitEvents(ctx, pod, run)
	if err := k.updateStatus(ctx, pod, st); err != nil {
		return err
	}
	if requeue > 0 {
		k.queue.AddAfter(key, requeue)
	}
	return nil
}

func (k *Kubelet) updateStatus(ctx context.Context, pod *corev1.Pod, st *corev1.PodStatus) error {
	if equality.Semantic.DeepEqual(&pod.Status, st) {
		return nil
	}
	p := pod.DeepCopy()
	p.Status = *st
	_, err := k.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// desiredStatus is the status a kubelet would report for pod at now, and
// how long until it changes by itself (0: never).
func (k *Kubelet) desiredStatus(pod *corev1.Pod, run *podRun, now time.Time) (*corev1.PodStatus, time.Duration) {
	started := metav1.NewTime(run.started)
	readyAt := metav1.NewTime(run.readyAt.Truncate(time.Second))
	if readyAt.Before(&started) {
		readyAt = started
	}
	st := pod.Status.DeepCopy()
	st.HostIP = "127.0.0.1"
	st.HostIPs = []corev1.HostIP{{IP: "127.0.0.1"}}
	st.PodIP = run.ip
	st.PodIPs = []corev1.PodIP{{IP: run.ip}}
	st.StartTime = &started

	st.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		cs := corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: imageID(c.Image), ContainerID: containerID(pod, c.Name),
		}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways { // sidecar
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: started}
			cs.Ready, cs.Started = true, ptr(true)
		} else {
			cs.State.Terminated = &corev1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", StartedAt: started, FinishedAt: started, ContainerID: cs.ContainerID,
			}
			cs.Ready, cs.Started = true, ptr(false)
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}

	var requeue time.Duration
	var unready []string
	pending := false
	st.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: ptr(false)}
		id := containerID(pod, c.Name)
		finished := metav1.NewTime(run.started.Add(time.Second))
		switch b := run.behaviours[c.Name]; b {
		case ImagePullBackOff, ErrImagePull:
			pending = true
			msg := fmt.Sprintf("rpc error: code = NotFound desc = failed to pull and unpack image %q: failed to resolve reference %q: %s: not found", fullImage(c.Image), fullImage(c.Image), fullImage(c.Image))
			if b == ImagePullBackOff {
				msg = fmt.Sprintf("Back-off pulling image %q: ErrImagePull: %s", c.Image, msg)
			}
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: string(b), Message: msg}
		case CrashLoopBackOff:
			cs.ImageID, cs.ContainerID, cs.RestartCount = imageID(c.Image), id, 1
			cs.State.Waiting = &corev1.ContainerStateWaiting{
				Reason:  "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off 10s restarting failed container=%s pod=%s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID),
			}
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
				ExitCode: 1, Reason: "Error", StartedAt: started, FinishedAt: finished, ContainerID: id,
			}
		case OOMKilled:
			cs.ImageID, cs.ContainerID, cs.RestartCount = imageID(c.Image), id, 1
			term := &corev1.ContainerStateTerminated{
				ExitCode: 137, Reason: "OOMKilled", StartedAt: started, FinishedAt: finished, ContainerID: id,
			}
			cs.State.Terminated = term
			cs.LastTerminationState.Terminated = term.DeepCopy()
		default: // Healthy, NotReady
			cs.ImageID, cs.ContainerID, cs.Started = imageID(c.Image), id, ptr(true)
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: started}
			if b == Healthy {
				if left := run.readyAt.Sub(now); left > 0 {
					requeue = max(requeue, left)
				} else {
					cs.Ready = true
				}
			}
		}
		if !cs.Ready {
			unready = append(unready, c.Name)
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}

	st.Phase = corev1.PodRunning
	if pending {
		st.Phase = corev1.PodPending
	}
	setCondition(st, corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: started})
	setCondition(st, corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: started})
	for _, typ := range []corev1.PodConditionType{corev1.PodReady, corev1.ContainersReady} {
		cond := corev1.PodCondition{Type: typ, Status: corev1.ConditionTrue, LastTransitionTime: readyAt}
		if len(unready) > 0 {
			cond = corev1.PodCondition{
				Type: typ, Status: corev1.ConditionFalse, LastTransitionTime: started,
				Reason:  "ContainersNotReady",
				Message: fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " ")),
			}
		}
		setCondition(st, cond)
	}
	return st, requeue
}

func (k *Kubelet) emitEvents(pod *corev1.Pod, run *podRun, st *corev1.PodStatus) {
	for _, c := range pod.Spec.Containers {
		ref := containerRef(pod, c.Name)
		emit := func(typ, reason, format string, args ...any) {
			msg := fmt.Sprintf(format, args...)
			if k.once(run, typ+"/"+reason+"/"+c.Name+"/"+msg) {
				k.kubeletRec.Event(ref, typ, reason, msg)
			}
		}
		started := func() {
			emit(corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
			emit(corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in 1.042s (1.042s including waiting). Image size: 24318921 bytes.", c.Image)
			emit(corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
			emit(corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
		}
		pullFailed := func() {
			emit(corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
			emit(corev1.EventTypeWarning, "Failed", "Failed to pull image %q: rpc error: code = NotFound desc = failed to pull and unpack image %q: failed to resolve reference %q: %s: not found", c.Image, fullImage(c.Image), fullImage(c.Image), fullImage(c.Image))
			emit(corev1.EventTypeWarning, "Failed", "Error: %s", "ErrImagePull")
		}
		switch run.behaviours[c.Name] {
		case ImagePullBackOff:
			pullFailed()
			emit(corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", c.Image)
			emit(corev1.EventTypeWarning, "Failed", "Error: %s", "ImagePullBackOff")
		case ErrImagePull:
			pullFailed()
		case CrashLoopBackOff, OOMKilled:
			started()
			emit(corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s", c.Name, fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID))
		case NotReady:
			started()
			emit(corev1.EventTypeWarning, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: %d", 503)
		default:
			started()
		}
	}
}

// serveLogs answers GET /containerLogs/{namespace}/{pod}/{container}, the
// kubelet endpoint the apiserver proxies pods/log to.
func (k *Kubelet) serveLogs(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/containerLogs/") || len(parts) != 3 {
		http.NotFound(w, r)
		return
	}
	ns, name, container := parts[0], parts[1], parts[2]
	k.mu.Lock()
	lister := k.pods
	k.mu.Unlock()
	if lister == nil {
		http.Error(w, "kubelet is starting", http.StatusServiceUnavailable)
		return
	}
	pod, err := lister.Pods(ns).Get(name)
	if err != nil {
		http.Error(w, fmt.Sprintf("pod %q not found", name+"_"+ns), http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	previous := q.Get("previous") == "true"
	var cs *corev1.ContainerStatus
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == container {
			cs = &pod.Status.ContainerStatuses[i]
		}
	}
	for i := range pod.Status.InitContainerStatuses {
		if pod.Status.InitContainerStatuses[i].Name == container {
			cs = &pod.Status.InitContainerStatuses[i]
		}
	}
	// The checks of the kubelet's validateContainerLogStatus.
	switch {
	case cs == nil:
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", container, name), http.StatusBadRequest)
		return
	case previous:
		if cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ContainerID == "" {
			http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", container, name), http.StatusBadRequest)
			return
		}
	case cs.State.Running != nil, cs.State.Terminated != nil, cs.LastTerminationState.Terminated != nil:
	case cs.State.Waiting != nil:
		reason := cs.State.Waiting.Reason
		switch reason {
		case string(ErrImagePull):
			reason = "image can't be pulled"
		case string(ImagePullBackOff):
			reason = "trying and failing to pull image"
		}
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start: %s", container, name, reason), http.StatusBadRequest)
		return
	}

	k.mu.Lock()
	fn := k.logs
	run := k.runs[pod.UID]
	var b Behaviour
	var started time.Time
	if run != nil {
		b, started = run.behaviours[container], run.started
	}
	k.mu.Unlock()
	var text string
	if fn != nil {
		text = fn(ns, name, container, previous)
	} else {
		text = defaultLogs(pod, container, cs.Image, b)
	}

	lines := strings.SplitAfter(text, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if n, err := strconv.Atoi(q.Get("tailLines")); err == nil && n >= 0 && n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	if q.Get("timestamps") == "true" {
		for i, l := range lines {
			lines[i] = started.Add(time.Duration(i)*time.Millisecond).UTC().Format(time.RFC3339Nano) + " " + l
		}
	}
	out := strings.Join(lines, "")
	if n, err := strconv.Atoi(q.Get("limitBytes")); err == nil && n >= 0 && n < len(out) {
		out = out[:n]
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(out))
}

func defaultLogs(pod *corev1.Pod, container, image string, b Behaviour) string {
	s := fmt.Sprintf("starting %s (pod %s/%s, container %s)\n", image, pod.Namespace, pod.Name, container)
	switch b {
	case CrashLoopBackOff:
		return s + "panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a5f21]\n"
	case OOMKilled:
		return s + "loading catalogue into memory\n"
	case NotReady:
		return s + "listening on :8080\nreadiness: database unreachable\n"
	default:
		return s + "listening on :8080\n"
	}
}

func containerRef(pod *corev1.Pod, container string) *corev1.ObjectReference {
	return &corev1.ObjectReference{
		Kind: "Pod", APIVersion: "v1",
		Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, ResourceVersion: pod.ResourceVersion,
		FieldPath: fmt.Sprintf("spec.containers{%s}", container),
	}
}

func setCondition(st *corev1.PodStatus, cond corev1.PodCondition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == cond.Type {
			st.Conditions[i] = cond
			return
		}
	}
	st.Conditions = append(st.Conditions, cond)
}

// fullImage is the fully qualified form a container runtime reports
// (docker.io/library/nginx:latest for nginx).
func fullImage(image string) string {
	ref := image
	first, _, hasSlash := strings.Cut(ref, "/")
	if !hasSlash || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		if !hasSlash {
			ref = "library/" + ref
		}
		ref = "docker.io/" + ref
	}
	if !strings.Contains(ref, "@") && !strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":") {
		ref += ":latest"
	}
	return ref
}

// imageID is a digest reference to the image, as in status.imageID.
func imageID(image string) string {
	ref := fullImage(image)
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref
	}
	repo := ref[:strings.LastIndex(ref, ":")]
	sum := sha256.Sum256([]byte(ref))
	return repo + "@sha256:" + hex.EncodeToString(sum[:])
}

func containerID(pod *corev1.Pod, container string) string {
	sum := sha256.Sum256([]byte(string(pod.UID) + "/" + container))
	return "containerd://" + hex.EncodeToString(sum[:])
}

func ptr[T any](v T) *T { return &v }

package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"shipmate/internal/runbook"
)

// Annotations Shipmate writes. The version annotation sits on the pod
// template, so every ReplicaSet carries the version it runs: that is how
// a rollback finds the revision to restore.
const (
	AnnotationVersion   = "shipmate.dev/version"
	AnnotationRunID     = "shipmate.dev/run-id"
	AnnotationRequester = "shipmate.dev/requester"
	annotationCause     = "kubernetes.io/change-cause"
	podTemplateHash     = "pod-template-hash"
	fieldManager        = "shipmate"
)

// Executor deploys one app's workloads. It implements runbook.Executor,
// Resolver, Verifier, HealthChecker, Reattacher and Inspector.
type Executor struct {
	cfg       Config
	cluster   *Cluster
	workloads []Workload
	smoke     []Smoke
	http      *http.Client
}

var (
	_ runbook.Executor      = (*Executor)(nil)
	_ runbook.Resolver      = (*Executor)(nil)
	_ runbook.Verifier      = (*Executor)(nil)
	_ runbook.HealthChecker = (*Executor)(nil)
	_ runbook.Reattacher    = (*Executor)(nil)
	_ runbook.Inspector     = (*Executor)(nil)
)

// New returns the executor of an app on cluster.
func New(cfg Config, smoke []Smoke, cluster *Cluster) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	x := &Executor{cfg: cfg, cluster: cluster, smoke: smoke, http: &http.Client{}}
	for _, s := range cfg.Workloads {
		wl, _ := ParseWorkload(s)
		x.workloads = append(x.workloads, wl)
	}
	return x, nil
}

// Resolve implements runbook.Resolver: what a version deploys is its image
// reference (with its digest, when the template pins one).
func (x *Executor) Resolve(ctx context.Context, j runbook.Job) (string, error) {
	return x.cfg.image(j.Version), nil
}

// Deploy implements runbook.Executor: it sets the image of every workload
// (one patch each) and follows the rollouts to their end.
func (x *Executor) Deploy(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	return x.converge(ctx, j, p, false)
}

// Rollback implements runbook.Executor: every workload gets back the
// template of the revision that ran j.Version, as `kubectl rollout undo`
// restores one, and the rollouts are followed.
func (x *Executor) Rollback(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	return x.converge(ctx, j, p, true)
}

// Reattach implements runbook.Reattacher. Patching is idempotent (a
// workload already at the version is left alone), so re-attaching is the
// same as running the step again: it finishes what the last process began.
func (x *Executor) Reattach(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	p("re-attaching to the rollout after a restart")
	return x.converge(ctx, j, p, j.Action == runbook.ActionRollback)
}

// converge brings every workload to j.Version and follows the rollouts.
func (x *Executor) converge(ctx context.Context, j runbook.Job, p runbook.Progress, undo bool) error {
	ns := x.cfg.namespace(j.Env)
	// The informers may not have seen a patch yet when the rollout is
	// first looked at: the generation each write produced is the least the
	// cache must show before its status means anything.
	atLeast := map[Workload]int64{}
	for _, wl := range x.workloads {
		changed, gen, err := x.apply(ctx, ns, wl, j, undo)
		if err != nil {
			return fmt.Errorf("%s: %w", wl, err)
		}
		atLeast[wl] = gen
		switch {
		case !changed:
			p(fmt.Sprintf("%s: already at %s", wl, j.Version))
		case undo:
			p(fmt.Sprintf("%s: restoring the revision that ran %s", wl, j.Version))
		default:
			p(fmt.Sprintf("%s: image set to %s", wl, x.cfg.image(j.Version)))
		}
	}
	return x.follow(ctx, ns, atLeast, p)
}

// apply patches workload wl to run j.Version unless it already does, and
// returns the workload's generation after that.
func (x *Executor) apply(ctx context.Context, ns string, wl Workload, j runbook.Job, undo bool) (bool, int64, error) {
	image := x.cfg.image(j.Version)
	tmpl, gen, err := x.template(ctx, ns, wl)
	if err != nil {
		return false, 0, err
	}
	container, err := x.container(tmpl)
	if err != nil {
		return false, 0, err
	}
	if tmpl.Annotations[AnnotationVersion] == j.Version && containerImage(tmpl, container) == image {
		return false, gen, nil
	}
	meta := map[string]string{
		AnnotationRunID: strconv.FormatUint(j.RunID, 10), AnnotationRequester: j.Requester,
		annotationCause: fmt.Sprintf("shipmate run #%d: %s %s %s by %s", j.RunID, j.Action, j.App, j.Version, j.Requester),
	}
	if undo && wl.Kind == "deployment" {
		if gen, err := x.undoDeployment(ctx, ns, wl.Name, j.Version, meta); err != nil || gen > 0 {
			return gen > 0, gen, err
		}
		// The revision was pruned from the history: deploy the version's
		// image instead.
	}
	patch := map[string]any{
		"metadata": map[string]any{"annotations": meta},
		"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"annotations": map[string]string{AnnotationVersion: j.Version}},
			"spec":     map[string]any{"containers": []map[string]string{{"name": container, "image": image}}},
		}},
	}
	gen, err = x.patch(ctx, ns, wl, types.StrategicMergePatchType, patch)
	return true, gen, err
}

// undoDeployment restores the template of the newest ReplicaSet that ran
// version, dropping its pod-template-hash label, as `kubectl rollout undo`
// does, and returns the Deployment's generation after it: 0 when no such
// ReplicaSet is left.
func (x *Executor) undoDeployment(ctx context.Context, ns, name, version string, meta map[string]string) (int64, error) {
	d, err := x.cluster.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	rss, err := x.cluster.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	var best *appsv1.ReplicaSet
	bestRev := -1
	for i := range rss.Items {
		rs := &rss.Items[i]
		if !metav1.IsControlledBy(rs, d) || rs.Spec.Template.Annotations[AnnotationVersion] != version {
			continue
		}
		if rev, _ := strconv.Atoi(rs.Annotations[revisionAnnotation]); rev > bestRev {
			best, bestRev = rs, rev
		}
	}
	if best == nil {
		return 0, nil
	}
	tmpl := best.Spec.Template.DeepCopy()
	delete(tmpl.Labels, podTemplateHash)
	ops := []map[string]any{{"op": "replace", "path": "/spec/template", "value": tmpl}}
	if _, err := x.patch(ctx, ns, Workload{Kind: "deployment", Name: name}, types.JSONPatchType, ops); err != nil {
		return 0, err
	}
	return x.patch(ctx, ns, Workload{Kind: "deployment", Name: name}, types.MergePatchType,
		map[string]any{"metadata": map[string]any{"annotations": meta}})
}

// patch applies a patch as field manager shipmate and returns the
// workload's generation after it.
func (x *Executor) patch(ctx context.Context, ns string, wl Workload, pt types.PatchType, v any) (int64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	opts := metav1.PatchOptions{FieldManager: fieldManager}
	switch wl.Kind {
	case "deployment":
		d, err := x.cluster.Client.AppsV1().Deployments(ns).Patch(ctx, wl.Name, pt, data, opts)
		if err != nil {
			return 0, err
		}
		return d.Generation, nil
	case "statefulset":
		s, err := x.cluster.Client.AppsV1().StatefulSets(ns).Patch(ctx, wl.Name, pt, data, opts)
		if err != nil {
			return 0, err
		}
		return s.Generation, nil
	}
	return 0, fmt.Errorf("unsupported kind %q", wl.Kind)
}

// template reads a workload's pod template from the API server (not the
// cache: a patch must start from what is there now).
func (x *Executor) template(ctx context.Context, ns string, wl Workload) (*corev1.PodTemplateSpec, int64, error) {
	switch wl.Kind {
	case "deployment":
		d, err := x.cluster.Client.AppsV1().Deployments(ns).Get(ctx, wl.Name, metav1.GetOptions{})
		if err != nil {
			return nil, 0, err
		}
		return &d.Spec.Template, d.Generation, nil
	case "statefulset":
		s, err := x.cluster.Client.AppsV1().StatefulSets(ns).Get(ctx, wl.Name, metav1.GetOptions{})
		if err != nil {
			return nil, 0, err
		}
		return &s.Spec.Template, s.Generation, nil
	}
	return nil, 0, fmt.Errorf("unsupported kind %q", wl.Kind)
}

// container picks the container whose image is set.
func (x *Executor) container(t *corev1.PodTemplateSpec) (string, error) {
	names := make([]string, len(t.Spec.Containers))
	for i, c := range t.Spec.Containers {
		names[i] = c.Name
	}
	switch {
	case x.cfg.Container != "":
		if !slices.Contains(names, x.cfg.Container) {
			return "", fmt.Errorf("no container %q (containers: %s)", x.cfg.Container, strings.Join(names, ", "))
		}
		return x.cfg.Container, nil
	case len(names) == 1:
		return names[0], nil
	}
	return "", fmt.Errorf("%d containers (%s): name one with kubernetes.container", len(names), strings.Join(names, ", "))
}

func containerImage(t *corev1.PodTemplateSpec, name string) string {
	for _, c := range t.Spec.Containers {
		if c.Name == name {
			return c.Image
		}
	}
	return ""
}

// recheck is how often a waiting rollout is looked at even without a
// watch event (the informers' caches: no API request).
const recheck = 5 * time.Second

// follow waits until every workload has rolled out, one fails, or the
// progress deadline passes, reporting each workload's progress as it
// changes.
func (x *Executor) follow(ctx context.Context, ns string, atLeast map[Workload]int64, p runbook.Progress) error {
	w, err := x.cluster.watch(ctx, ns)
	if err != nil {
		return err
	}
	deadline := time.NewTimer(x.cfg.ProgressDeadline)
	defer deadline.Stop()
	tick := time.NewTicker(recheck)
	defer tick.Stop()
	shown := map[Workload]string{}
	for {
		changed := w.next() // taken before reading, so no change is missed
		pending := []Workload{}
		for _, wl := range x.workloads {
			r, err := w.status(wl, atLeast[wl])
			if err != nil {
				return err
			}
			if r.message != shown[wl] {
				shown[wl] = r.message
				p(r.message)
			}
			if r.failure != "" {
				return x.diagnose(ctx, ns, wl, r, p)
			}
			if !r.done {
				pending = append(pending, wl)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-deadline.C:
			r, _ := w.status(pending[0], atLeast[pending[0]])
			r.failure = fmt.Sprintf("%s did not finish rolling out within %s", pending[0], x.cfg.ProgressDeadline)
			return x.diagnose(ctx, ns, pending[0], r, p)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// statuses reads the rollout of every workload in env, in order.
func (x *Executor) statuses(ctx context.Context, env string) ([]rollout, error) {
	w, err := x.cluster.watch(ctx, x.cfg.namespace(env))
	if err != nil {
		return nil, err
	}
	out := make([]rollout, len(x.workloads))
	for i, wl := range x.workloads {
		if out[i], err = w.status(wl, 0); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Verify implements runbook.Verifier: every pod of the new revision is
// Ready, then the app's smoke checks pass.
func (x *Executor) Verify(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	rs, err := x.statuses(ctx, j.Env)
	if err != nil {
		return err
	}
	for i, r := range rs {
		ready := 0
		for _, pod := range r.newPods {
			if podReady(pod) {
				ready++
			}
		}
		if !r.done || ready < len(r.newPods) {
			return fmt.Errorf("%s: %d of %d new pods ready", x.workloads[i], ready, len(r.newPods))
		}
		p(fmt.Sprintf("%s: %d new pods ready", x.workloads[i], ready))
	}
	return x.runSmoke(ctx, p)
}

// Health implements runbook.HealthChecker: during monitoring, the
// workloads stay rolled out with no pod failing, and the smoke checks pass.
func (x *Executor) Health(ctx context.Context, j runbook.Job) error {
	rs, err := x.statuses(ctx, j.Env)
	if err != nil {
		return err
	}
	for i, r := range rs {
		if len(r.failing) > 0 {
			t := r.failing[0]
			return fmt.Errorf("%s: pod %s is %s", x.workloads[i], t.pod.Name, t.reason)
		}
		if !r.done {
			return fmt.Errorf("%s: %s", x.workloads[i], r.message)
		}
	}
	return x.runSmoke(ctx, func(string) {})
}

// Live implements runbook.Inspector: the version the workloads' images
// show, and what they run when it is not one version of the template.
func (x *Executor) Live(ctx context.Context, app, env string) (string, string, error) {
	ns := x.cfg.namespace(env)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	w, err := x.cluster.watch(wctx, ns)
	if err != nil {
		return "", "", err
	}
	var parts []string
	versions := map[string]bool{}
	for _, wl := range x.workloads {
		var tmpl *corev1.PodTemplateSpec
		switch wl.Kind {
		case "deployment":
			d, err := w.deployments.Get(wl.Name)
			if err != nil {
				return "", "", notFound(wl, err)
			}
			tmpl = &d.Spec.Template
		case "statefulset":
			s, err := w.statefulSets.Get(wl.Name)
			if err != nil {
				return "", "", notFound(wl, err)
			}
			tmpl = &s.Spec.Template
		}
		name, err := x.container(tmpl)
		if err != nil {
			return "", "", err
		}
		image := containerImage(tmpl, name)
		versions[x.cfg.versionOf(image)] = true
		parts = append(parts, fmt.Sprintf("%s=%s", wl.Name, image))
	}
	detail := strings.Join(parts, ", ")
	if len(versions) == 1 {
		for v := range versions {
			return v, detail, nil
		}
	}
	return "", detail, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// errRolloutFailed marks a failure that comes with a diagnosis.
var errRolloutFailed = errors.New("rollout failed")

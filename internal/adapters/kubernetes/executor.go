package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
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

// Resolve implements runbook.Resolver: what a version deploys is the
// image its tag points at in the registry now, pinned by digest
// (registry/repo@sha256:…). Approvals are bound to it, and Deploy sets
// exactly that image.
func (x *Executor) Resolve(ctx context.Context, j runbook.Job) (string, error) {
	d, err := x.resolve(ctx, x.cfg.namespace(j.Env), j.Version)
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// resolve asks the registry for the digest of version's tag, with the
// credentials found for namespace ns.
func (x *Executor) resolve(ctx context.Context, ns, version string) (name.Digest, error) {
	ref, err := x.cfg.reference(version)
	if err != nil {
		return name.Digest{}, fmt.Errorf("%s is not a valid image reference (is %q a valid tag?)", x.cfg.image(version), version)
	}
	keys, err := x.keychain(ctx, ns)
	if err != nil {
		return name.Digest{}, err
	}
	return digestOf(ctx, ref, keys)
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
	pin := x.pinner(ns, j)
	// The informers may not have seen a patch yet when the rollout is
	// first looked at: the generation each write produced is the least the
	// cache must show before its status means anything.
	atLeast := map[Workload]int64{}
	for _, wl := range x.workloads {
		did, gen, err := x.apply(ctx, ns, wl, j, undo, pin)
		if err != nil {
			return fmt.Errorf("%s: %w", wl, err)
		}
		atLeast[wl] = gen
		if did == "" {
			did = "already at " + j.Version
		}
		p(fmt.Sprintf("%s: %s", wl, did))
	}
	return x.follow(ctx, ns, atLeast, p)
}

// pinner returns what j's workloads get as their image: the approved
// artifact (registry/repo@sha256:…) when j has one. A rollback has none:
// a workload that cannot be undone to an old revision gets the version's
// tag as the registry resolves it then, asked once and only if needed.
func (x *Executor) pinner(ns string, j runbook.Job) func(context.Context) (string, bool, error) {
	if _, err := name.NewDigest(j.Artifact); err == nil {
		return func(context.Context) (string, bool, error) { return j.Artifact, true, nil }
	}
	var pinned string
	return func(ctx context.Context) (string, bool, error) {
		if pinned == "" {
			d, err := x.resolve(ctx, ns, j.Version)
			if err != nil {
				return "", false, err
			}
			pinned = d.String()
		}
		return pinned, false, nil
	}
}

// atVersion reports whether a workload whose pod template is tmpl, with
// image in the container Shipmate sets, already runs what j deploys: the
// approved artifact when j has one, else any image of the version pinned
// by digest (or its tag, as Shipmate set it before it pinned images).
func (x *Executor) atVersion(tmpl *corev1.PodTemplateSpec, image string, j runbook.Job) bool {
	if tmpl.Annotations[AnnotationVersion] != j.Version {
		return false
	}
	if _, err := name.NewDigest(j.Artifact); err == nil {
		return image == j.Artifact
	}
	return x.cfg.pinnedImage(image) || image == x.cfg.image(j.Version)
}

// apply patches workload wl to run j.Version unless it already does, and
// returns what it did ("" for nothing) and the workload's generation after
// that.
func (x *Executor) apply(ctx context.Context, ns string, wl Workload, j runbook.Job, undo bool,
	pin func(context.Context) (string, bool, error)) (string, int64, error) {
	tmpl, gen, err := x.template(ctx, ns, wl)
	if err != nil {
		return "", 0, err
	}
	container, err := x.container(tmpl)
	if err != nil {
		return "", 0, err
	}
	if x.atVersion(tmpl, containerImage(tmpl, container), j) {
		return "", gen, nil
	}
	meta := map[string]string{
		AnnotationRunID: strconv.FormatUint(j.RunID, 10), AnnotationRequester: j.Requester,
		annotationCause: fmt.Sprintf("shipmate run #%d: %s %s %s by %s", j.RunID, j.Action, j.App, j.Version, j.Requester),
	}
	if undo && wl.Kind == "deployment" {
		// The ReplicaSet's template carries the image pinned as it ran.
		if gen, err := x.undoDeployment(ctx, ns, wl.Name, j.Version, meta); err != nil || gen > 0 {
			return "restoring the revision that ran " + j.Version, gen, err
		}
		// The revision was pruned from the history: deploy the version's
		// image instead.
	}
	image, approved, err := pin(ctx)
	if err != nil {
		return "", 0, err
	}
	patch := map[string]any{
		"metadata": map[string]any{"annotations": meta},
		"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"annotations": map[string]string{AnnotationVersion: j.Version}},
			"spec":     map[string]any{"containers": []map[string]string{{"name": container, "image": image}}},
		}},
	}
	gen, err = x.patch(ctx, ns, wl, types.StrategicMergePatchType, patch)
	did := fmt.Sprintf("image set to %s (%s)", image, j.Version)
	if !approved {
		did = fmt.Sprintf("image set to %s (%s, as the registry has it now)", image, j.Version)
	}
	return did, gen, err
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

// errRolloutFailed marks a failure that comes with a diagnosis.
var errRolloutFailed = errors.New("rollout failed")

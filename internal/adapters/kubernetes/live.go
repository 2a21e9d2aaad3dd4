package kubernetes

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"shipmate/internal/runbook"
)

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

// Live implements runbook.Inspector: the version the workloads run, and
// their images (pinned by digest when Shipmate set them).
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
		versions[x.cfg.liveVersion(tmpl, image)] = true
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

// liveVersion is the version a pod template runs: the version annotation
// when the image is the app's pinned by digest (Shipmate writes both in
// one patch, and an undo restores both), else the version its tag shows.
func (c *Config) liveVersion(tmpl *corev1.PodTemplateSpec, image string) string {
	if c.pinnedImage(image) {
		return tmpl.Annotations[AnnotationVersion]
	}
	return c.versionOf(image)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

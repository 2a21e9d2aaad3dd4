package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// undoDeployment restores the template of the newest ReplicaSet that ran
// version, dropping its pod-template-hash label, as `kubectl rollout undo`
// does, and returns the Deployment's generation after it: 0 when no such
// ReplicaSet is left.
func (x *Executor) undoDeployment(ctx context.Context, ns, name, version string, meta map[string]string) (int64, error) {
	client, err := x.cluster.api()
	if err != nil {
		return 0, err
	}
	d, _, err := client.workload(ctx, ns, Workload{Kind: "deployment", Name: name})
	if err != nil {
		return 0, err
	}
	rss, err := client.replicaSets(ctx, ns)
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
	client, err := x.cluster.api()
	if err != nil {
		return 0, err
	}
	return client.patchWorkload(ctx, ns, wl, pt, data)
}

// template reads a workload's pod template from the API server (not the
// cache: a patch must start from what is there now).
func (x *Executor) template(ctx context.Context, ns string, wl Workload) (*corev1.PodTemplateSpec, int64, error) {
	client, err := x.cluster.api()
	if err != nil {
		return nil, 0, err
	}
	meta, tmpl, err := client.workload(ctx, ns, wl)
	if err != nil {
		return nil, 0, err
	}
	return tmpl, meta.Generation, nil
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

package kubernetes

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"shipmate/internal/probe"
)

// service names Kubernetes in probe results.
const service = "kubernetes"

// access is one request Shipmate makes in a namespace, as an access
// review asks about it.
type access struct {
	group, resource, sub, verb, name string
}

// object is what the access is to: "pods/log", "deployments checkout-api".
func (a access) object() string {
	s := a.resource
	if a.sub != "" {
		s += "/" + a.sub
	}
	if a.name != "" {
		s += " " + a.name
	}
	return s
}

// describe groups refused accesses by what they are to, in order: "get,
// list, watch pods; patch deployments checkout-api".
func describe(refused []access) string {
	var objects []string
	verbs := map[string][]string{}
	for _, a := range refused {
		o := a.object()
		if _, ok := verbs[o]; !ok {
			objects = append(objects, o)
		}
		verbs[o] = append(verbs[o], a.verb)
	}
	parts := make([]string, len(objects))
	for i, o := range objects {
		parts[i] = strings.Join(verbs[o], ", ") + " " + o
	}
	return strings.Join(parts, "; ")
}

// needs lists what Shipmate does in a workload's namespace, as
// deploy/rbac.yaml grants it: read, watch and patch the workload, watch
// both kinds of workload and the ReplicaSets and pods (the informers),
// read pods, their logs and events for a diagnosis.
func needs(wl Workload) []access {
	own, other := "deployments", "statefulsets"
	if wl.Kind == "statefulset" {
		own, other = other, own
	}
	out := []access{
		{group: "apps", resource: own, verb: "get", name: wl.Name},
		{group: "apps", resource: own, verb: "patch", name: wl.Name},
		{group: "apps", resource: own, verb: "list"}, {group: "apps", resource: own, verb: "watch"},
		{group: "apps", resource: other, verb: "list"}, {group: "apps", resource: other, verb: "watch"},
	}
	for _, verb := range []string{"get", "list", "watch"} {
		out = append(out, access{group: "apps", resource: "replicasets", verb: verb},
			access{resource: "pods", verb: verb}, access{resource: "events", verb: verb})
	}
	return append(out, access{resource: "pods", sub: "log", verb: "get"})
}

// Probe tries Kubernetes for `bot check --online`: for each of app's
// workloads in each namespace it deploys to (one per environment of envs
// when the namespace names {env}), whether the workload is there and
// whether Shipmate's credentials may do what it needs, by
// SelfSubjectAccessReviews. One result per workload, naming what is
// missing.
func Probe(ctx context.Context, client *Client, app string, cfg Config, envs []string) []probe.Result {
	var namespaces []string
	for _, env := range envs {
		if ns := cfg.namespace(env); !slices.Contains(namespaces, ns) {
			namespaces = append(namespaces, ns)
		}
	}
	if len(envs) == 0 {
		namespaces = []string{cfg.Namespace}
	}
	var out []probe.Result
	for _, ns := range namespaces {
		for _, w := range cfg.Workloads {
			target := fmt.Sprintf("%s %s in %s", app, w, ns)
			wl, err := ParseWorkload(w)
			if err != nil {
				out = append(out, probe.Fail(service, target, err))
				continue
			}
			out = append(out, probeWorkload(ctx, client, cfg, ns, wl, target))
		}
	}
	return out
}

// probeWorkload looks at one workload and reviews the access it needs.
func probeWorkload(ctx context.Context, client *Client, cfg Config, ns string, wl Workload, target string) probe.Result {
	var problems []string
	_, tmpl, err := client.workload(ctx, ns, wl)
	switch {
	case apierrors.IsNotFound(err):
		problems = append(problems, "not found")
	case apierrors.IsForbidden(err):
		// The review below names the missing get.
	case err != nil:
		return probe.Fail(service, target, err)
	default:
		if _, err := (&Executor{cfg: cfg}).container(tmpl); err != nil {
			problems = append(problems, err.Error())
		}
	}
	want := needs(wl)
	if cfg.Registry == nil {
		want = append(want, pullSecretAccess(ctx, client, ns, tmpl)...)
	}
	missing, err := review(ctx, client, ns, want)
	if err != nil {
		return probe.Fail(service, target, fmt.Errorf("access review: %w", err))
	}
	if len(missing) > 0 {
		problems = append(problems, "missing "+describe(missing))
	}
	if len(problems) > 0 {
		return probe.Fail(service, target, fmt.Errorf("%s", strings.Join(problems, ". ")))
	}
	return probe.Pass(service, target, fmt.Sprintf("found; all %d permissions granted", len(want)))
}

// pullSecretAccess is what reading the workload's pull secrets takes: its
// service account, and the secrets that it and the pod template name (any
// secret, when no name is known).
func pullSecretAccess(ctx context.Context, client *Client, ns string, tmpl *corev1.PodTemplateSpec) []access {
	sa := "default"
	var secrets []string
	if tmpl != nil {
		if tmpl.Spec.ServiceAccountName != "" {
			sa = tmpl.Spec.ServiceAccountName
		}
		for _, ref := range tmpl.Spec.ImagePullSecrets {
			secrets = appendNew(secrets, ref.Name)
		}
	}
	if acc, err := client.serviceAccount(ctx, ns, sa); err == nil {
		for _, ref := range acc.ImagePullSecrets {
			secrets = appendNew(secrets, ref.Name)
		}
	}
	out := []access{{resource: "serviceaccounts", verb: "get", name: sa}}
	if len(secrets) == 0 {
		return append(out, access{resource: "secrets", verb: "get"})
	}
	for _, s := range secrets {
		out = append(out, access{resource: "secrets", verb: "get", name: s})
	}
	return out
}

// review asks the API server, side by side, whether the credentials may
// make each request in ns, and returns those refused, in order.
func review(ctx context.Context, client *Client, ns string, want []access) ([]access, error) {
	allowed := make([]bool, len(want))
	errs := make([]error, len(want))
	var wg sync.WaitGroup
	for i, a := range want {
		wg.Go(func() {
			r := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
				Namespace: ns, Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.sub, Name: a.name,
			}}}
			got, err := client.accessReview(ctx, r)
			if err == nil {
				allowed[i] = got.Status.Allowed
			}
			errs[i] = err
		})
	}
	wg.Wait()
	var missing []access
	for i, a := range want {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if !allowed[i] {
			missing = append(missing, a)
		}
	}
	return missing, nil
}

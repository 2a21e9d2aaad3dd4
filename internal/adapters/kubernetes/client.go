package kubernetes

import (
	"context"
	"fmt"
	"io"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Client is Shipmate's Kubernetes API client: one REST client for each API
// group version Shipmate uses, on a scheme that knows only those. client-go's
// clientset (and each of its typed clients) registers every built-in API
// group when its package is initialised, which costs every bot start time
// and memory whether or not it deploys to Kubernetes.
type Client struct {
	apps  rest.Interface // apps/v1: deployments, statefulsets, replicasets
	core  rest.Interface // v1: pods and their logs, events, service accounts, secrets
	authz rest.Interface // authorization.k8s.io/v1: the probe's access reviews
}

// codecs is the scheme of the three group versions, built on first use.
var codecs = sync.OnceValues(func() (serializer.CodecFactory, runtime.ParameterCodec) {
	s := runtime.NewScheme()
	// The options types (ListOptions, ...) of the unversioned group, as
	// client-go's own scheme registers them.
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, corev1.AddToScheme, authv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err) // only a programming error: the types are fixed
		}
	}
	return serializer.NewCodecFactory(s), runtime.NewParameterCodec(s)
})

// newClient builds a client for cfg, with Shipmate's user agent and
// kubectl's rate limits, one rate limiter and one connection pool shared by
// its group versions.
func newClient(cfg *rest.Config) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "shipmate"
	}
	// client-go's defaults (5 requests/s, bursts of 10) would make a
	// release train of many apps queue behind its own rate limiter; these
	// are kubectl's.
	if cfg.QPS == 0 {
		cfg.QPS = 50
	}
	if cfg.Burst == 0 {
		cfg.Burst = 300
	}
	if cfg.RateLimiter == nil {
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: client: %w", err)
	}
	cf, _ := codecs()
	c := &Client{}
	for _, g := range []struct {
		gv   schema.GroupVersion
		path string
		to   *rest.Interface
	}{
		{appsv1.SchemeGroupVersion, "/apis", &c.apps},
		{corev1.SchemeGroupVersion, "/api", &c.core},
		{authv1.SchemeGroupVersion, "/apis", &c.authz},
	} {
		gcfg := rest.CopyConfig(cfg)
		gcfg.GroupVersion = &g.gv
		gcfg.APIPath = g.path
		gcfg.NegotiatedSerializer = cf.WithoutConversion()
		rc, err := rest.RESTClientForConfigAndClient(gcfg, hc)
		if err != nil {
			return nil, fmt.Errorf("kubernetes: client: %w", err)
		}
		*g.to = rc
	}
	return c, nil
}

// workloadObject returns an empty object of wl's kind and its resource.
func workloadObject(wl Workload) (runtime.Object, string, error) {
	switch wl.Kind {
	case "deployment":
		return &appsv1.Deployment{}, "deployments", nil
	case "statefulset":
		return &appsv1.StatefulSet{}, "statefulsets", nil
	}
	return nil, "", fmt.Errorf("unsupported kind %q", wl.Kind)
}

// templateOf returns a workload's object metadata and pod template.
func templateOf(obj runtime.Object) (*metav1.ObjectMeta, *corev1.PodTemplateSpec) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &o.ObjectMeta, &o.Spec.Template
	case *appsv1.StatefulSet:
		return &o.ObjectMeta, &o.Spec.Template
	}
	return nil, nil
}

// workload reads a workload from the API server and returns its metadata
// and pod template.
func (c *Client) workload(ctx context.Context, ns string, wl Workload) (*metav1.ObjectMeta, *corev1.PodTemplateSpec, error) {
	obj, resource, err := workloadObject(wl)
	if err != nil {
		return nil, nil, err
	}
	if err := c.apps.Get().Namespace(ns).Resource(resource).Name(wl.Name).Do(ctx).Into(obj); err != nil {
		return nil, nil, err
	}
	meta, tmpl := templateOf(obj)
	return meta, tmpl, nil
}

// patchWorkload applies a patch as field manager shipmate and returns the
// workload's generation after it.
func (c *Client) patchWorkload(ctx context.Context, ns string, wl Workload, pt types.PatchType, data []byte) (int64, error) {
	obj, resource, err := workloadObject(wl)
	if err != nil {
		return 0, err
	}
	err = c.apps.Patch(pt).Namespace(ns).Resource(resource).Name(wl.Name).
		VersionedParams(&metav1.PatchOptions{FieldManager: fieldManager}, metav1.ParameterCodec).
		Body(data).Do(ctx).Into(obj)
	if err != nil {
		return 0, err
	}
	meta, _ := templateOf(obj)
	return meta.Generation, nil
}

// replicaSets lists the ReplicaSets of a namespace.
func (c *Client) replicaSets(ctx context.Context, ns string) (*appsv1.ReplicaSetList, error) {
	out := &appsv1.ReplicaSetList{}
	return out, c.apps.Get().Namespace(ns).Resource("replicasets").Do(ctx).Into(out)
}

// events lists the events of a namespace that the field selector picks.
func (c *Client) events(ctx context.Context, ns, fieldSelector string) (*corev1.EventList, error) {
	out := &corev1.EventList{}
	return out, c.core.Get().Namespace(ns).Resource("events").
		VersionedParams(&metav1.ListOptions{FieldSelector: fieldSelector}, metav1.ParameterCodec).
		Do(ctx).Into(out)
}

// logs streams a container's log.
func (c *Client) logs(ctx context.Context, ns, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	_, params := codecs()
	return c.core.Get().Namespace(ns).Resource("pods").Name(pod).SubResource("log").
		VersionedParams(opts, params).Stream(ctx)
}

// serviceAccount reads a service account.
func (c *Client) serviceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	out := &corev1.ServiceAccount{}
	return out, c.core.Get().Namespace(ns).Resource("serviceaccounts").Name(name).Do(ctx).Into(out)
}

// secret reads a secret.
func (c *Client) secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	out := &corev1.Secret{}
	return out, c.core.Get().Namespace(ns).Resource("secrets").Name(name).Do(ctx).Into(out)
}

// accessReview asks the API server whether Shipmate may do what r names.
func (c *Client) accessReview(ctx context.Context, r *authv1.SelfSubjectAccessReview) (*authv1.SelfSubjectAccessReview, error) {
	out := &authv1.SelfSubjectAccessReview{}
	return out, c.authz.Post().Resource("selfsubjectaccessreviews").Body(r).Do(ctx).Into(out)
}

package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is one Kubernetes API server as Shipmate sees it: a client and,
// per namespace, one set of informers shared by every run and app there.
// Runs wait on the informers' caches, so following a rollout costs watch
// events, not polling requests.
type Cluster struct {
	// Client is the API client: set by NewCluster and
	// NewClusterForClient; a lazy cluster builds it on first use (api).
	Client kubernetes.Interface

	// config is a lazy cluster's client configuration (nil once built, or
	// for an eager one); clientErr is why building the client failed.
	config    *rest.Config
	clientErr error

	ctx    context.Context
	cancel context.CancelFunc

	mu         sync.Mutex
	namespaces map[string]*namespaceWatch
}

// namespaceWatch is the informers of one namespace and a broadcast of
// "something changed" to the runs waiting there.
type namespaceWatch struct {
	deployments  appslisters.DeploymentNamespaceLister
	statefulSets appslisters.StatefulSetNamespaceLister
	replicaSets  appslisters.ReplicaSetNamespaceLister
	pods         corelisters.PodNamespaceLister
	synced       []cache.InformerSynced

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
}

// RESTConfig builds a client configuration: kubeconfig empty means
// in-cluster, falling back to $KUBECONFIG and ~/.kube/config.
func RESTConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	if kubeconfig == "" && kubeContext == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return cfg, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: kubeContext}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes: client configuration: %w", err)
	}
	return cfg, nil
}

// NewCluster returns a Cluster for cfg. Call Close when done.
func NewCluster(cfg *rest.Config) (*Cluster, error) {
	client, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	return NewClusterForClient(client), nil
}

// NewLazyCluster returns a Cluster for cfg that builds its client when a
// step first needs it: a bot whose Kubernetes apps are not deployed does
// not hold the clients' memory. A client that cannot be built fails each
// step that needs it, with the reason.
func NewLazyCluster(cfg *rest.Config) *Cluster {
	c := NewClusterForClient(nil)
	c.config = rest.CopyConfig(cfg)
	return c
}

// api returns the cluster's client, building a lazy cluster's on first
// use.
func (c *Cluster) api() (kubernetes.Interface, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Client == nil && c.clientErr == nil {
		if c.config == nil {
			c.clientErr = errors.New("kubernetes: no client configuration")
		} else {
			c.Client, c.clientErr = newClient(c.config)
			c.config = nil
		}
	}
	return c.Client, c.clientErr
}

// newClient builds a client for cfg, with Shipmate's user agent and
// kubectl's rate limits.
func newClient(cfg *rest.Config) (kubernetes.Interface, error) {
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
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: client: %w", err)
	}
	return client, nil
}

// NewClusterForClient returns a Cluster on an existing client.
func NewClusterForClient(client kubernetes.Interface) *Cluster {
	ctx, cancel := context.WithCancel(context.Background())
	return &Cluster{Client: client, ctx: ctx, cancel: cancel, namespaces: map[string]*namespaceWatch{}}
}

// Close stops the informers.
func (c *Cluster) Close() { c.cancel() }

// watch returns the namespace's informers, starting them on first use and
// waiting for their caches to fill.
func (c *Cluster) watch(ctx context.Context, namespace string) (*namespaceWatch, error) {
	client, err := c.api()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	w, ok := c.namespaces[namespace]
	if !ok {
		w = &namespaceWatch{changed: make(chan struct{})}
		f := informers.NewSharedInformerFactoryWithOptions(client, 10*time.Minute, informers.WithNamespace(namespace))
		handler := cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { w.notify() },
			UpdateFunc: func(any, any) { w.notify() },
			DeleteFunc: func(any) { w.notify() },
		}
		for _, inf := range []cache.SharedIndexInformer{
			f.Apps().V1().Deployments().Informer(),
			f.Apps().V1().StatefulSets().Informer(),
			f.Apps().V1().ReplicaSets().Informer(),
			f.Core().V1().Pods().Informer(),
		} {
			if _, err := inf.AddEventHandler(handler); err != nil {
				c.mu.Unlock()
				return nil, err
			}
			w.synced = append(w.synced, inf.HasSynced)
		}
		w.deployments = f.Apps().V1().Deployments().Lister().Deployments(namespace)
		w.statefulSets = f.Apps().V1().StatefulSets().Lister().StatefulSets(namespace)
		w.replicaSets = f.Apps().V1().ReplicaSets().Lister().ReplicaSets(namespace)
		w.pods = f.Core().V1().Pods().Lister().Pods(namespace)
		f.Start(c.ctx.Done())
		c.namespaces[namespace] = w
	}
	c.mu.Unlock()
	if !cache.WaitForCacheSync(ctx.Done(), w.synced...) {
		return nil, fmt.Errorf("kubernetes: namespace %s: caches did not sync: %w", namespace, context.Cause(ctx))
	}
	return w, nil
}

func (w *namespaceWatch) notify() {
	w.mu.Lock()
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// next returns a channel closed at the next change in the namespace.
func (w *namespaceWatch) next() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

// replicaSetsOf returns the ReplicaSets a Deployment owns.
func (w *namespaceWatch) replicaSetsOf(d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	all, err := w.replicaSets.List(labelsEverything())
	if err != nil {
		return nil, err
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range all {
		for _, ref := range rs.OwnerReferences {
			if ref.UID == d.UID && ref.Controller != nil && *ref.Controller {
				out = append(out, rs)
			}
		}
	}
	return out, nil
}

// podsOf returns the pods a controller (ReplicaSet or StatefulSet) owns.
func (w *namespaceWatch) podsOf(uid string) ([]*corev1.Pod, error) {
	all, err := w.pods.List(labelsEverything())
	if err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for _, p := range all {
		for _, ref := range p.OwnerReferences {
			if string(ref.UID) == uid {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

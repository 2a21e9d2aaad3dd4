package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
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
	Client *Client

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
func (c *Cluster) api() (*Client, error) {
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

// NewClusterForClient returns a Cluster on an existing client.
func NewClusterForClient(client *Client) *Cluster {
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
		var err error
		if w, err = startWatch(c.ctx, client, namespace); err != nil {
			c.mu.Unlock()
			return nil, err
		}
		c.namespaces[namespace] = w
	}
	c.mu.Unlock()
	if !cache.WaitForCacheSync(ctx.Done(), w.synced...) {
		return nil, fmt.Errorf("kubernetes: namespace %s: caches did not sync: %w", namespace, context.Cause(ctx))
	}
	return w, nil
}

// startWatch starts the informers of a namespace, one each on its
// Deployments, StatefulSets, ReplicaSets and pods.
func startWatch(ctx context.Context, client *Client, namespace string) (*namespaceWatch, error) {
	var informers []cache.SharedIndexInformer
	var indexers []cache.Indexer
	for _, r := range []struct {
		api      rest.Interface
		resource string
		object   runtime.Object
	}{
		{client.apps, "deployments", &appsv1.Deployment{}},
		{client.apps, "statefulsets", &appsv1.StatefulSet{}},
		{client.apps, "replicasets", &appsv1.ReplicaSet{}},
		{client.core, "pods", &corev1.Pod{}},
	} {
		lw := cache.NewListWatchFromClient(r.api, r.resource, namespace, fields.Everything())
		inf := cache.NewSharedIndexInformer(lw, r.object, 10*time.Minute,
			cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		informers = append(informers, inf)
		indexers = append(indexers, inf.GetIndexer())
	}
	w := newNamespaceWatch(namespace, indexers[0], indexers[1], indexers[2], indexers[3])
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.notify() },
		UpdateFunc: func(any, any) { w.notify() },
		DeleteFunc: func(any) { w.notify() },
	}
	for _, inf := range informers {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, err
		}
		w.synced = append(w.synced, inf.HasSynced)
	}
	for _, inf := range informers {
		go inf.Run(ctx.Done())
	}
	return w, nil
}

// newNamespaceWatch returns the listers of a namespace on the caches of its
// Deployments, StatefulSets, ReplicaSets and pods.
func newNamespaceWatch(namespace string, deployments, statefulSets, replicaSets, pods cache.Indexer) *namespaceWatch {
	return &namespaceWatch{
		deployments:  appslisters.NewDeploymentLister(deployments).Deployments(namespace),
		statefulSets: appslisters.NewStatefulSetLister(statefulSets).StatefulSets(namespace),
		replicaSets:  appslisters.NewReplicaSetLister(replicaSets).ReplicaSets(namespace),
		pods:         corelisters.NewPodLister(pods).Pods(namespace),
		changed:      make(chan struct{}),
	}
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

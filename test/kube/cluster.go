package kube

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/storage/etcd3/testserver"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	kubeapiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
	"k8s.io/kubernetes/pkg/controller/deployment"
	"k8s.io/kubernetes/pkg/controller/replicaset"
)

// DefaultNodeName is the name of the single Node of every Cluster.
const DefaultNodeName = "shipmate-node-1"

// Cluster is a real kube-apiserver + etcd + deployment & replicaset
// controllers + a fake kubelet, all inside the test process.
type Cluster struct {
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// Client is a clientset built from Config.
	Client kubernetes.Interface
	// Kubelet controls how pods behave.
	Kubelet *Kubelet
	// Kubeconfig is the path of a kubeconfig file pointing at this cluster
	// (written into t.TempDir()), for a built bot's --config and for
	// KUBECONFIG. Its context is named "shipmate-test" and its default
	// namespace is "default".
	Kubeconfig string
	// NodeName is the name of the cluster's only Node; every pod the fake
	// kubelet runs is bound to it.
	NodeName string
}

// StartCluster starts a cluster and stops everything in t.Cleanup, in the
// right order: fake kubelet and controllers (and their informers) first,
// then the apiserver, then etcd. It calls t.Fatal if anything fails.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	began := time.Now()

	kubelet := newKubelet(DefaultNodeName)

	// The kubelet's HTTPS endpoint must exist before the apiserver starts,
	// because its CA and the apiserver's kubelet client certificate are
	// apiserver flags.
	logSrv, err := startLogServer(t.TempDir(), DefaultNodeName, http.HandlerFunc(kubelet.serveLogs))
	if err != nil {
		t.Fatalf("kube: starting the fake kubelet's log server: %v", err)
	}
	t.Cleanup(logSrv.Close)

	etcd := testserver.RunEtcd(t, nil) // its own t.Cleanup stops etcd last
	t.Cleanup(func() { _ = etcd.Close() })
	storage := storagebackend.NewDefaultConfig("/registry", nil)
	storage.Transport.ServerList = etcd.Endpoints()

	flags := []string{
		"--endpoint-reconciler-type=none",
		// No service account controller runs, so no "default" ServiceAccount
		// would ever exist in new namespaces.
		"--disable-admission-plugins=ServiceAccount",
		// pods/log, exec, ... are proxied to the fake kubelet over
		// verified, mutually authenticated TLS.
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--kubelet-certificate-authority=" + logSrv.CAFile,
		"--kubelet-client-certificate=" + logSrv.ClientCertFile,
		"--kubelet-client-key=" + logSrv.ClientKeyFile,
		// As in a real cluster: a client that is not an admin (such as one
		// impersonating Shipmate's service account under deploy/rbac.yaml)
		// gets only what its roles grant.
		"--authorization-mode=RBAC",
	}
	server := kubeapiservertesting.StartTestServerOrDie(t, &kubeapiservertesting.TestServerInstanceOptions{
		EnableCertAuth:         true,
		DisableInvariantChecks: true,
	}, flags, storage)
	t.Cleanup(server.TearDownFn)

	cfg := rest.CopyConfig(server.ClientConfig)
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("kube: clientset: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var factory informers.SharedInformerFactory
	// Registered before anything runs so that a failure below still stops
	// what was started. Runs before server.TearDownFn (cleanups are LIFO):
	// informers left running make the apiserver's teardown hang.
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if factory != nil {
			factory.Shutdown()
		}
		kubelet.shutdown()
	})

	if err := createNode(ctx, client, DefaultNodeName, logSrv.Port); err != nil {
		t.Fatalf("kube: creating node: %v", err)
	}

	factory = informers.NewSharedInformerFactory(mustClient(t, cfg, "shared-informers"), 0)
	dc, err := deployment.NewDeploymentController(ctx,
		factory.Apps().V1().Deployments(),
		factory.Apps().V1().ReplicaSets(),
		factory.Core().V1().Pods(),
		mustClient(t, cfg, "deployment-controller"))
	if err != nil {
		t.Fatalf("kube: deployment controller: %v", err)
	}
	rsc := replicaset.NewReplicaSetController(ctx,
		factory.Apps().V1().ReplicaSets(),
		factory.Core().V1().Pods(),
		mustClient(t, cfg, "replicaset-controller"),
		replicaset.BurstReplicas)
	if err := kubelet.attach(factory.Core().V1().Pods(), mustClient(t, cfg, "kubelet/v1.37.2 (linux/amd64) shipmate-fake")); err != nil {
		t.Fatalf("kube: fake kubelet: %v", err)
	}

	factory.Start(ctx.Done())
	wg.Go(func() { dc.Run(ctx, 5) })
	wg.Go(func() { rsc.Run(ctx, 5) })
	wg.Go(func() { kubelet.run(ctx, 2) })
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("kube: informer for %v did not sync", typ)
		}
	}

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := writeKubeconfig(kubeconfig, cfg); err != nil {
		t.Fatalf("kube: writing kubeconfig: %v", err)
	}

	t.Logf("kube: cluster started in %v (apiserver %s, kubelet https://127.0.0.1:%d)", time.Since(began).Round(time.Millisecond), cfg.Host, logSrv.Port)
	return &Cluster{
		Config:     cfg,
		Client:     client,
		Kubelet:    kubelet,
		Kubeconfig: kubeconfig,
		NodeName:   DefaultNodeName,
	}
}

// PodLogs sets what GET pods/{name}/log returns: fn is called with the
// pod's namespace and name, the container and whether the previous
// (terminated) instance was asked for. tailLines, limitBytes and timestamps
// are applied to its result; with follow=true the stream ends after it. nil
// restores the default, which prints a few lines that depend on how the
// container behaves (a nil-pointer panic for CrashLoopBackOff, ...).
// fn may be called concurrently.
//
// Like a real kubelet, the fake one answers 400 (so the client sees an
// error) for a container that is waiting to start (image pull problems)
// and for previous=true on a container that never restarted; fn is not
// called then.
func (c *Cluster) PodLogs(fn func(namespace, pod, container string, previous bool) string) {
	c.Kubelet.setLogs(fn)
}

func mustClient(t testing.TB, cfg *rest.Config, userAgent string) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(cfg), userAgent))
	if err != nil {
		t.Fatalf("kube: clientset for %s: %v", userAgent, err)
	}
	return c
}

func createNode(ctx context.Context, client kubernetes.Interface, name string, kubeletPort int) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
			},
		},
		Spec: corev1.NodeSpec{
			PodCIDR:  "10.244.0.0/24",
			PodCIDRs: []string{"10.244.0.0/24"},
		},
	}
	created, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	resources := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("8"),
		corev1.ResourceMemory:           resource.MustParse("32Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	cond := func(typ corev1.NodeConditionType, status corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: typ, Status: status, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	created.Status = corev1.NodeStatus{
		Capacity:    resources,
		Allocatable: resources,
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
			{Type: corev1.NodeHostName, Address: name},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{
			KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(kubeletPort)},
		},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               "5e1f0c5a0d6c4f3e9b7a2c1d0e9f8a7b",
			SystemUUID:              "5e1f0c5a-0d6c-4f3e-9b7a-2c1d0e9f8a7b",
			BootID:                  "0b6f6f9e-6a55-4b8e-a1a4-0f4b5d5c2e11",
			KernelVersion:           "6.12.0-shipmate",
			OSImage:                 "Debian GNU/Linux 13 (trixie)",
			ContainerRuntimeVersion: "containerd://2.1.4",
			KubeletVersion:          "v1.37.2",
			OperatingSystem:         "linux",
			Architecture:            "amd64",
		},
	}
	_, err = client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
	return err
}

func writeKubeconfig(path string, cfg *rest.Config) error {
	if cfg.BearerToken == "" || len(cfg.CAData) == 0 {
		return fmt.Errorf("apiserver loopback config has no token or CA data")
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["shipmate-test"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
		TLSServerName:            cfg.ServerName,
	}
	kc.AuthInfos["shipmate-test-admin"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["shipmate-test"] = &clientcmdapi.Context{
		Cluster:   "shipmate-test",
		AuthInfo:  "shipmate-test-admin",
		Namespace: "default",
	}
	kc.CurrentContext = "shipmate-test"
	return clientcmd.WriteToFile(*kc, path)
}

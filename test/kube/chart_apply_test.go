package kube

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	sigsyaml "sigs.k8s.io/yaml"
)

// warnings keeps the API server's warnings (such as Pod Security
// admission's) for a client.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// Every object the chart renders, for the defaults and with every optional
// part on, is accepted by a real API server: server-side apply, dry run,
// strict field validation, in namespaces that enforce the restricted Pod
// Security Standard (whose checks of a pod template come back as
// warnings, which fail the test too).
func TestChartAppliesToAPIServer(t *testing.T) {
	c := StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, ns := range []string{releaseNamespace, "shop-staging", "shop-production"} {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted",
			"pod-security.kubernetes.io/warn":    "restricted",
		}}}
		if _, err := c.Client.CoreV1().Namespaces().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	installServiceMonitorCRD(ctx, t, c.Config)

	warn := &warnings{}
	cfg := rest.CopyConfig(c.Config)
	cfg.WarningHandlerWithContext = warn
	dyn := dynamic.NewForConfigOrDie(cfg)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(cfg)))

	for name, files := range map[string][]string{"defaults": nil, "values-all.yaml": {"testdata/values-all.yaml"}} {
		objs := objects(t, mustRender(t, nil, files...))
		for _, o := range objs {
			if err := applyDryRun(ctx, dyn, mapper, o); err != nil {
				t.Errorf("%s: %s/%s: %v", name, o.GetKind(), o.GetName(), err)
			}
			for _, w := range warn.take() {
				t.Errorf("%s: %s/%s: the API server warns: %s", name, o.GetKind(), o.GetName(), w)
			}
		}
		t.Logf("%s: %d objects applied: %s", name, len(objs), strings.Join(kinds(objs), " "))
	}
}

// applyDryRun applies o with server-side apply, as a dry run, refusing
// unknown or duplicate fields.
func applyDryRun(ctx context.Context, dyn dynamic.Interface, mapper *restmapper.DeferredDiscoveryRESTMapper, o *unstructured.Unstructured) error {
	gvk := o.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	data, err := o.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = dyn.Resource(m.Resource).Namespace(o.GetNamespace()).Patch(ctx, o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
		FieldManager:    "shipmate-chart-test",
		DryRun:          []string{metav1.DryRunAll},
		FieldValidation: metav1.FieldValidationStrict,
		Force:           new(true),
	})
	return err
}

// installServiceMonitorCRD creates testdata/servicemonitor-crd.yaml and
// waits until the API server serves it.
func installServiceMonitorCRD(ctx context.Context, t *testing.T, cfg *rest.Config) {
	t.Helper()
	data, err := os.ReadFile("testdata/servicemonitor-crd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := sigsyaml.UnmarshalStrict(data, crd); err != nil {
		t.Fatal(err)
	}
	client := apiextensions.NewForConfigOrDie(cfg)
	if _, err := client.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the ServiceMonitor CRD is not established: %v", err)
	}
}

package kubernetes

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"shipmate/internal/runbook"
)

// A lazy cluster builds no client until a step needs one, then keeps the
// one it built.
func TestLazyClusterBuildsItsClientOnFirstUse(t *testing.T) {
	cl := NewLazyCluster(&rest.Config{Host: "http://127.0.0.1:1"})
	defer cl.Close()
	if cl.Client != nil {
		t.Fatal("a lazy cluster built its client at once")
	}
	first, err := cl.api()
	if err != nil || first == nil {
		t.Fatalf("api() = %v, %v", first, err)
	}
	again, _ := cl.api()
	if again != first {
		t.Error("a second use built another client")
	}
}

// A client that cannot be built fails each step with the reason, and
// keeps failing (no panic, no step that seems to work).
func TestLazyClusterWithoutClientFailsSteps(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-ca.pem")
	cl := NewLazyCluster(&rest.Config{Host: "https://127.0.0.1:1", TLSClientConfig: rest.TLSClientConfig{CAFile: missing}})
	defer cl.Close()
	x, err := New(Config{Namespace: "shop", Workloads: []string{"deployment/api"}, Image: "registry.example/shop/api:{version}"}, nil, cl)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		err := x.Deploy(context.Background(), runbook.Job{App: "api", Env: "staging", Version: "v1"}, func(string) {})
		if err == nil || !strings.Contains(err.Error(), "no-ca.pem") {
			t.Errorf("Deploy = %v, want the reason the client cannot be built", err)
		}
	}
}

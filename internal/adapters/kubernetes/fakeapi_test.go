package kubernetes

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// fakeAPI returns a client of an API server that serves GETs of objs, each
// at its own path, and answers 404 Not Found to anything else. It is enough
// for the reads the resolver makes; rollouts are tested against a real API
// server in test/kube.
func fakeAPI(t *testing.T, objs ...runtime.Object) *Client {
	t.Helper()
	served := map[string][]byte{}
	for _, o := range objs {
		var path string
		switch o := o.(type) {
		case *appsv1.Deployment:
			o.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
			path = fmt.Sprintf("/apis/apps/v1/namespaces/%s/deployments/%s", o.Namespace, o.Name)
		case *corev1.ServiceAccount:
			o.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}
			path = fmt.Sprintf("/api/v1/namespaces/%s/serviceaccounts/%s", o.Namespace, o.Name)
		case *corev1.Secret:
			o.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}
			path = fmt.Sprintf("/api/v1/namespaces/%s/secrets/%s", o.Namespace, o.Name)
		default:
			t.Fatalf("fakeAPI does not serve %T", o)
		}
		body, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		served[path] = body
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if body, ok := served[r.URL.Path]; ok && r.Method == http.MethodGet {
			_, _ = w.Write(body)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
			Status: metav1.StatusFailure, Reason: metav1.StatusReasonNotFound, Code: http.StatusNotFound,
			Message: r.URL.Path + " not found"})
	}))
	t.Cleanup(srv.Close)
	client, err := newClient(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// cachedWatch returns the watch of namespace shop on caches that hold objs,
// as its informers would have filled them.
func cachedWatch(t *testing.T, objs ...any) *namespaceWatch {
	t.Helper()
	newIndexer := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	d, s, rs, p := newIndexer(), newIndexer(), newIndexer(), newIndexer()
	for _, o := range objs {
		var err error
		switch o.(type) {
		case *appsv1.Deployment:
			err = d.Add(o)
		case *appsv1.StatefulSet:
			err = s.Add(o)
		case *appsv1.ReplicaSet:
			err = rs.Add(o)
		case *corev1.Pod:
			err = p.Add(o)
		default:
			t.Fatalf("no cache for %T", o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return newNamespaceWatch("shop", d, s, rs, p)
}

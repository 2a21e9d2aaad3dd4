// Package registrytest serves go-containerregistry's in-memory registry on
// loopback for tests that resolve image tags to digests: the Kubernetes
// executor's own and the integration tests of test/kube.
package registrytest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is an in-memory OCI registry (go-containerregistry's) served
// over plain HTTP on loopback, where tests push the images whose tags the
// Kubernetes executor resolves to digests.
type Registry struct {
	// Host is host:port, the registry part of the images' references.
	Host string
	auth *authn.Basic
}

// Start starts a registry that anyone may use, stopped in
// t.Cleanup.
func Start(t testing.TB) *Registry {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return &Registry{Host: strings.TrimPrefix(srv.URL, "http://")}
}

// StartPrivate starts a registry that answers only requests with
// the user and password (HTTP basic authentication), stopped in t.Cleanup.
func StartPrivate(t testing.TB, user, password string) *Registry {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="shipmate test registry"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &Registry{Host: strings.TrimPrefix(srv.URL, "http://"), auth: &authn.Basic{Username: user, Password: password}}
}

// Push uploads a new random image as repoTag (such as "shop/checkout:v2",
// moving the tag if it exists) and returns the image's digest.
func (r *Registry) Push(t testing.TB, repoTag string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(r.Host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	var opts []remote.Option
	if r.auth != nil {
		opts = append(opts, remote.WithAuth(r.auth))
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatalf("registry: pushing %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// Pinned is the reference of repo (such as "shop/checkout") on this
// registry pinned to digest, as the executor sets it.
func (r *Registry) Pinned(repo, digest string) string { return r.Host + "/" + repo + "@" + digest }

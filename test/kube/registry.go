package kube

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is an in-memory OCI registry (go-containerregistry's) served
// over plain HTTP on loopback, where tests push the images whose tags the
// Kubernetes executor resolves to digests. The fake kubelet pulls nothing:
// what a container does is set with Kubelet.Behave, by digest.
type Registry struct {
	// Host is host:port, the registry part of the images' references.
	Host string
}

// StartRegistry starts a registry, stopped in t.Cleanup.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return &Registry{Host: strings.TrimPrefix(srv.URL, "http://")}
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
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("kube: pushing %s: %v", ref, err)
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

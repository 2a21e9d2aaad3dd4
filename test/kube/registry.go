package kube

import "shipmate/internal/adapters/kubernetes/registrytest"

// Registry is an in-memory OCI registry on loopback, where tests push the
// images whose tags the Kubernetes executor resolves to digests. The fake
// kubelet pulls nothing: what a container does is set with Kubelet.Behave,
// by digest.
type Registry = registrytest.Registry

// StartRegistry starts a registry that anyone may use; StartPrivateRegistry
// one that wants a user and password.
var (
	StartRegistry        = registrytest.Start
	StartPrivateRegistry = registrytest.StartPrivate
)

// Package kube runs a real, in-process Kubernetes control plane for
// integration tests of shipmate's Kubernetes executor.
//
// StartCluster brings up, inside the test binary:
//
//   - etcd (embedded, k8s.io/apiserver/pkg/storage/etcd3/testserver),
//   - a real kube-apiserver (k8s.io/kubernetes/cmd/kube-apiserver/app/testing),
//     authorizing with RBAC (the tests' own clients are admins),
//   - the real Deployment and ReplicaSet controllers of kube-controller-manager,
//     which record their events (ScalingReplicaSet, SuccessfulCreate, ...) to
//     the apiserver,
//   - one Node object and a fake kubelet (Kubelet) that "schedules" pods to
//     that node through the pods/binding subresource, writes realistic pod
//     status (Running/Ready by default, or ImagePullBackOff, ErrImagePull,
//     CrashLoopBackOff, OOMKilled, NotReady, Unschedulable per image rule),
//     emits the matching kubelet events, finishes graceful deletions, and
//     serves container logs over TLS so that GET pods/{name}/log works
//     through the apiserver exactly as against a real cluster.
//
// StartRegistry (or StartPrivateRegistry, behind a password) serves an
// in-memory OCI registry on loopback, where tests push the images whose
// tags the executor resolves to digests.
//
// There is no scheduler, garbage collector, namespace controller, service
// account controller or kube-proxy: deleting a Deployment leaves its
// ReplicaSets behind, and a deleted namespace stays Terminating.
//
// This package lives in its own Go module (shipmate/test/kube) so that
// k8s.io/kubernetes never enters the bot's own go.mod. Run its tests with
//
//	cd test/kube && go test ./...
package kube

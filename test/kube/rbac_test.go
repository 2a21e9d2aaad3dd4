package kube

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	kx "shipmate/internal/adapters/kubernetes"
	"shipmate/internal/runbook"
)

// applyRBAC creates the objects of deploy/rbac.yaml (and the shipmate
// namespace its service account lives in).
func applyRBAC(t *testing.T, c *Cluster) {
	t.Helper()
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shipmate"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("deploy/rbac.yaml: %v", err)
		}
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			_, err = c.Client.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = c.Client.RbacV1().Roles(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = c.Client.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("deploy/rbac.yaml: unexpected %T", obj)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	waitAuthorized(t, c, "system:serviceaccount:shipmate:shipmate", authv1.ResourceAttributes{Namespace: ns, Verb: "patch", Group: "apps", Resource: "deployments"})
}

// waitAuthorized waits until the API server's authorizer, which learns of
// new roles and bindings from its own watch a moment after they are
// stored, allows user the request.
func waitAuthorized(t *testing.T, c *Cluster, user string, attrs authv1.ResourceAttributes) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		review := &authv1.SubjectAccessReview{Spec: authv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: &attrs}}
		got, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err == nil && got.Status.Allowed {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s is still not allowed to %s %s: %v", user, attrs.Verb, attrs.Resource, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Shipmate's service account, with no more rights than deploy/rbac.yaml
// grants, resolves an image of a private registry through the pull secret
// of the namespace's default service account, deploys it, diagnoses a
// crash and undoes a rollout.
func TestShippedRBACIsEnough(t *testing.T) {
	const user, password = "shop-puller", "pull-Pa55word-41d7"
	c, _, im := setupOn(t, StartPrivateRegistry(t, user, password))
	applyRBAC(t, c)
	ctx := context.Background()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: ns}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: fmt.Appendf(nil, `{"auths":{%q:{"auth":%q}}}`, im.reg.Host, auth)}}
	if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}}
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:shipmate:shipmate"}
	if _, err := mustClient(t, cfg, "rbac-check").CoreV1().Secrets("shipmate").List(ctx, metav1.ListOptions{}); err == nil {
		t.Fatal("the impersonated service account may list secrets: the test does not run under deploy/rbac.yaml")
	}
	cl, err := kx.NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	x, err := kx.New(checkoutConfig(im.reg), nil, cl)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out := &lines{}
	j := deployJob(t, x, "v2", "v1", 1)
	if j.Artifact != im.pinned("v2") {
		t.Fatalf("v2 resolves to %s, want %s", j.Artifact, im.pinned("v2"))
	}
	if err := x.Deploy(ctx, j, out.add); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.text())
	}
	if err := x.Verify(ctx, j, out.add); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if v, _, err := x.Live(ctx, "checkout", "production"); err != nil || v != "v2" {
		t.Fatalf("Live = %q, %v", v, err)
	}

	im.push(t, "crashy")
	c.Kubelet.Behave(im.digests["crashy"], CrashLoopBackOff)
	err = x.Deploy(ctx, deployJob(t, x, "crashy", "v2", 2), out.add)
	if err == nil || !strings.Contains(out.text(), "(previous container):") || !strings.Contains(out.text(), "  event ") {
		t.Fatalf("crash loop: err %v, diagnosis without the crash log or events:\n%s", err, out.text())
	}
	if err := x.Rollback(ctx, job(runbook.ActionRollback, "v2", "crashy", 3), out.add); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out.text())
	}
	if got := containerImages(t, c, "checkout-api")["app"]; got != im.pinned("v2") {
		t.Errorf("after the rollback checkout-api runs %s, want %s", got, im.pinned("v2"))
	}
	if strings.Contains(out.text(), password) || strings.Contains(out.text(), auth) {
		t.Errorf("the step output shows the registry password:\n%s", out.text())
	}
}

package kube

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	kx "shipmate/internal/adapters/kubernetes"
	"shipmate/internal/probe"
)

// probeTimeout bounds one probe, as `bot check --online` does.
const probeTimeout = 30 * time.Second

// probeAs runs the Kubernetes probe of cfg with the credentials of the
// service account user (impersonated).
func probeAs(t *testing.T, c *Cluster, user string, cfg kx.Config) []probe.Result {
	t.Helper()
	rc := rest.CopyConfig(c.Config)
	rc.Impersonate = rest.ImpersonationConfig{UserName: user}
	cl, err := kx.NewCluster(rc)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	return kx.Probe(ctx, cl.Client, "checkout", cfg, []string{"staging", "production"})
}

// The access reviews of `bot check --online` against the API server's own
// RBAC authorizer: the service account deploy/rbac.yaml sets up has every
// permission Shipmate needs; a workload that is not there, and a service
// account without the role, fail with what is wrong. The built bot's
// `bot check --online` prints the same, one line per workload.
func TestProbeReviewsTheShippedRole(t *testing.T) {
	c, _, im := setup(t)
	applyRBAC(t, c)
	const shipmate = "system:serviceaccount:shipmate:shipmate"
	cfg := checkoutConfig(im.reg)

	got := probeAs(t, c, shipmate, cfg)
	if len(got) != 2 {
		t.Fatalf("got %d results, want one per workload: %+v", len(got), got)
	}
	for i, w := range cfg.Workloads {
		r := got[i]
		if !r.OK || r.Service != "kubernetes" || r.Target != "checkout "+w+" in shop" {
			t.Errorf("%s: %+v, want ok", w, r)
		}
	}

	cfg.Workloads = append(cfg.Workloads, "deployment/ghost")
	got = probeAs(t, c, shipmate, cfg)
	if r := got[len(got)-1]; r.OK || r.Detail != "not found" {
		t.Errorf("a workload that is not there: %+v", r)
	}

	got = probeAs(t, c, "system:serviceaccount:shipmate:nobody", checkoutConfig(im.reg))
	if len(got) != 2 {
		t.Fatalf("got %d results, want one per workload: %+v", len(got), got)
	}
	for _, want := range []string{"missing get, patch deployments checkout-api; list, watch deployments; list, watch statefulsets", "get, list, watch replicasets",
		"get pods/log", "get serviceaccounts default", "get secrets"} {
		if r := got[0]; r.OK || !strings.Contains(r.Detail, want) {
			t.Errorf("without the role: %q does not name %q", r.Detail, want)
		}
	}

	// The built bot, with the kubeconfig's (admin) credentials.
	config := botConfig(t, c.Kubeconfig, im.reg.Host, map[string][]string{"checkout": {"deployment/checkout-api", "deployment/ghost"}})
	out, err := exec.Command(builtBot(t), "check", "--config", config, "--online").Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("bot check --online: %v, want exit status 1", err)
	}
	want := "ok    kubernetes  checkout deployment/checkout-api in shop: found; all 18 permissions granted\n" +
		"FAIL  kubernetes  checkout deployment/ghost in shop: not found\n"
	if string(out) != want {
		t.Errorf("bot check --online printed:\n%s\nwant:\n%s", out, want)
	}
}

package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	kx "shipmate/internal/adapters/kubernetes"
	"shipmate/internal/runbook"
	"shipmate/internal/runbook/executortest"
)

// The Kubernetes executor keeps the executor contract against a real API
// server. The cases share one cluster and registry; each gets a namespace
// of its own with a Deployment "demo" running v0. Version "bad" crashes
// (CrashLoopBackOff) and "hold" never becomes Ready, so its rollout runs
// until it is cancelled.
func TestExecutorContract(t *testing.T) {
	c := StartCluster(t)
	reg := StartRegistry(t)
	digests := map[string]string{}
	for _, v := range []string{"v0", "v1", "v2", "bad", "hold"} {
		digests[v] = reg.Push(t, "contract/demo:"+v)
	}
	c.Kubelet.Behave(digests["bad"], CrashLoopBackOff)
	c.Kubelet.Behave(digests["hold"], NotReady)
	var seq atomic.Int32

	executortest.Run(t, func(t *testing.T) executortest.Setup {
		ns := fmt.Sprintf("contract-%d", seq.Add(1))
		ctx := context.Background()
		if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		d := newDeployment("demo", 1, reg.Pinned("contract/demo", digests["v0"]))
		d.Spec.Template.Annotations = map[string]string{kx.AnnotationVersion: "v0"}
		if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRolledOut(t, c.Client, ns, "demo")

		steps := &stepCount{n: map[string]int{}}
		cfg := rest.CopyConfig(c.Config)
		cfg.Wrap(steps.wrap)
		cl, err := kx.NewCluster(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		x, err := kx.New(kx.Config{Namespace: ns, Workloads: []string{"deployment/demo"}, Container: "app",
			Image: reg.Host + "/contract/demo:{version}", ProgressDeadline: 2 * time.Minute}, nil, cl)
		if err != nil {
			t.Fatal(err)
		}
		return executortest.Setup{Executor: x, Good: "v1", Other: "v2", Fail: "bad", Block: "hold", Started: steps.started}
	})
}

// stepCount counts the steps the executor starts, as the API server sees
// them: every step writes the Deployment's change-cause ("shipmate run #N:
// deploy demo v1 by rita") in exactly one patch, whether it sets an image
// or restores an old revision.
type stepCount struct {
	mu sync.Mutex
	n  map[string]int // "action version" → patches accepted
}

func (s *stepCount) started(action runbook.Action, version string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[string(action)+" "+version]
}

func (s *stepCount) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method != http.MethodPatch || !strings.Contains(r.URL.Path, "/deployments/") || r.Body == nil {
			return rt.RoundTrip(r)
		}
		body, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := rt.RoundTrip(r)
		if err != nil || resp.StatusCode/100 != 2 {
			return resp, err
		}
		var p struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		if json.Unmarshal(body, &p) == nil {
			// "shipmate run #5: rollback demo v1 by rita"
			if _, what, ok := strings.Cut(p.Metadata.Annotations["kubernetes.io/change-cause"], ": "); ok {
				if f := strings.Fields(what); len(f) >= 3 {
					s.mu.Lock()
					s.n[f[0]+" "+f[2]]++
					s.mu.Unlock()
				}
			}
		}
		return resp, nil
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

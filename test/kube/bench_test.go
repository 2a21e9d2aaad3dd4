package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
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
)

// countingTransport counts the API requests Shipmate makes, by verb.
type countingTransport struct {
	next  http.RoundTripper
	total atomic.Int64
	watch atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.total.Add(1)
	if r.URL.Query().Get("watch") == "true" {
		c.watch.Add(1)
	}
	return c.next.RoundTrip(r)
}

// BenchmarkRollouts200 follows 200 rollouts at once (200 apps of one
// workload each, in one namespace) through one Cluster: it reports the API
// requests Shipmate made per rollout and the heap it held while they ran.
func BenchmarkRollouts200(b *testing.B) {
	const apps = 200
	c := StartCluster(b)
	reg := StartRegistry(b)
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	for i := range apps {
		d := newDeployment(fmt.Sprintf("svc-%03d", i), 1, reg.Host+"/fleet/svc:v0")
		if _, err := c.Client.AppsV1().Deployments("fleet").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	counter := &countingTransport{}
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 500, 1000
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter }
	cl, err := kx.NewCluster(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	xs := make([]*kx.Executor, apps)
	for i := range apps {
		xs[i], err = kx.New(kx.Config{Namespace: "fleet", Workloads: []string{fmt.Sprintf("deployment/svc-%03d", i)},
			Image: reg.Host + "/fleet/svc:{version}", ProgressDeadline: 5 * time.Minute}, nil, cl)
		if err != nil {
			b.Fatal(err)
		}
	}

	var peak atomic.Uint64
	b.ResetTimer()
	for n := range b.N {
		version := fmt.Sprintf("v%d", n+1)
		artifact := reg.Pinned("fleet/svc", reg.Push(b, "fleet/svc:"+version)) // resolved before approval, not here
		before := counter.total.Load()
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		stop := make(chan struct{})
		go func() {
			var ms runtime.MemStats
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					runtime.ReadMemStats(&ms)
					if ms.HeapAlloc > base.HeapAlloc && ms.HeapAlloc-base.HeapAlloc > peak.Load() {
						peak.Store(ms.HeapAlloc - base.HeapAlloc)
					}
				}
			}
		}()
		var wg sync.WaitGroup
		errs := make(chan error, apps)
		began := time.Now()
		for i, x := range xs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j := runbook.Job{RunID: uint64(i + 1), Action: runbook.ActionDeploy, App: fmt.Sprintf("svc-%03d", i), Env: "production", Version: version, Artifact: artifact}
				if err := x.Deploy(ctx, j, func(string) {}); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(stop)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		b.ReportMetric(float64(counter.total.Load()-before)/apps, "requests/rollout")
		b.ReportMetric(time.Since(began).Seconds(), "s/200-rollouts")
	}
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(counter.watch.Load()), "watches")
}

// BenchmarkBotRollouts200 runs 200 deployments at once through the built
// bot (200 apps of one Deployment each) and reports the bot's API
// requests per rollout, from its own /metrics, and its peak resident
// memory — the bot alone, not the test's API server.
func BenchmarkBotRollouts200(b *testing.B) {
	const apps = 200
	c := StartCluster(b)
	reg := StartRegistry(b)
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	workloads := map[string][]string{}
	for i := range apps {
		name := fmt.Sprintf("svc-%03d", i)
		d := newDeployment(name, 1, reg.Host+"/shop/"+name+":v0")
		d.Spec.Template.Spec.Containers[0].Name = "app"
		if _, err := c.Client.AppsV1().Deployments("shop").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		workloads[name] = []string{"deployment/" + name}
	}
	bot := startBot(b, botConfig(b, c.Kubeconfig, reg.Host, workloads))
	b.ResetTimer()
	for n := range b.N {
		b.StopTimer()
		for i := range apps {
			reg.Push(b, fmt.Sprintf("shop/svc-%03d:v%d", i, n+1))
		}
		b.StartTimer()
		before := bot.kubeRequests(b)
		began := time.Now()
		ids := make([]uint64, apps)
		var wg sync.WaitGroup
		for i := range apps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids[i], _ = bot.command(b, "rita", fmt.Sprintf("/deploy svc-%03d v%d production", i, n+1))
			}()
		}
		wg.Wait()
		for _, id := range ids {
			bot.waitState(b, id, "succeeded", 5*time.Minute)
		}
		b.ReportMetric(time.Since(began).Seconds(), "s/200-rollouts")
		b.ReportMetric((bot.kubeRequests(b)-before)/apps, "requests/rollout")
	}
	b.ReportMetric(bot.peakRSS(b)/(1<<20), "bot-peak-RSS-MB")
}

// kubeRequests sums shipmate_kubernetes_requests_total from the bot's /metrics.
func (bot *runningBot) kubeRequests(b testing.TB) float64 {
	resp, err := http.Get("http://" + bot.addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	total := 0.0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "shipmate_kubernetes_requests_total{") {
			var v float64
			fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &v)
			total += v
		}
	}
	return total
}

// peakRSS is the bot process's high-water resident memory, in bytes.
func (bot *runningBot) peakRSS(b testing.TB) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", bot.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb * 1024
		}
	}
	b.Fatal("no VmHWM in /proc status")
	return 0
}

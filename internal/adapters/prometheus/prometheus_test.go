package prometheus_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	client "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"shipmate/internal/adapters/prometheus"
)

// prometheusBin is Debian's Prometheus, which `make deps` installs.
const prometheusBin = "/usr/bin/prometheus"

// service is the app Prometheus scrapes: every scrape first serves 100
// requests of app demo in staging, a share of them failing with 500 and
// all of them taking the same time, as the test sets them.
type service struct {
	reg      *client.Registry
	requests *client.CounterVec
	latency  *client.HistogramVec

	mu       sync.Mutex
	errRatio float64
	seconds  float64
}

func newService() *service {
	s := &service{reg: client.NewRegistry(), errRatio: 0.01, seconds: 0.15}
	s.requests = client.NewCounterVec(client.CounterOpts{Name: "http_requests_total", Help: "Requests served."},
		[]string{"app", "env", "code"})
	s.latency = client.NewHistogramVec(client.HistogramOpts{Name: "http_request_duration_seconds", Help: "Request latency.",
		Buckets: []float64{0.05, 0.1, 0.2, 0.3, 0.5, 1, 2}}, []string{"app", "env"})
	s.reg.MustRegister(s.requests, s.latency)
	return s
}

// set changes the share of failing requests and their latency from the
// next scrape on.
func (s *service) set(errRatio, seconds float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errRatio, s.seconds = errRatio, seconds
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	failed := math.Round(100 * s.errRatio)
	s.requests.WithLabelValues("demo", "staging", "500").Add(failed)
	s.requests.WithLabelValues("demo", "staging", "200").Add(100 - failed)
	for range 100 {
		s.latency.WithLabelValues("demo", "staging").Observe(s.seconds)
	}
	s.mu.Unlock()
	promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// server is a Prometheus process on a loopback port.
type server struct {
	url    string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	once   sync.Once
}

// startPrometheus runs Prometheus scraping target every second, with its
// storage in a temporary folder, and waits until it scrapes it.
func startPrometheus(t *testing.T, target string) (*server, *prometheus.Client) {
	t.Helper()
	if _, err := os.Stat(prometheusBin); err != nil {
		t.Fatalf("%v: this test runs Debian's prometheus package (make deps installs it)", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	text := fmt.Sprintf("global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n  - job_name: app\n    static_configs: [{targets: [%q]}]\n", target)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	s := &server{url: "http://" + addr, stderr: &bytes.Buffer{}}
	s.cmd = exec.Command(prometheusBin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	s.cmd.Stdout, s.cmd.Stderr = s.stderr, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.kill)
	c, err := prometheus.New(prometheus.Config{URL: s.url, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "Prometheus scrapes the service", 20*time.Second, func() bool {
		v, ok, err := c.Query(context.Background(), `up{job="app"}`, time.Now())
		return err == nil && ok && v == 1
	}, s)
	return s, c
}

// kill stops Prometheus (once).
func (s *server) kill() {
	s.once.Do(func() {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	})
}

// freeAddr is a loopback address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// eventually polls cond until it holds, failing the test (with
// Prometheus's own output, when s is given) if it does not within d.
func eventually(t *testing.T, what string, d time.Duration, cond func() bool, s *server) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			out := ""
			if s != nil {
				out = "\nprometheus said:\n" + s.stderr.String()
			}
			t.Fatalf("%s: not within %s%s", what, d, out)
		}
		<-tick.C
	}
}

// errorsQuery is the share of failed requests of the last 5 seconds.
const errorsQuery = `sum(rate(http_requests_total{app="{app}",env="{env}",code=~"5.."}[5s])) / sum(rate(http_requests_total{app="{app}",env="{env}"}[5s]))`

// latencyQuery is their p95.
const latencyQuery = `histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{app="{app}",env="{env}"}[5s])))`

// The adapter's answers from a real Prometheus: one series or a scalar is
// a value; no series or NaN is no data; several series, a range vector or
// a bad query are errors that say so.
func TestQuery(t *testing.T) {
	t.Parallel()
	svc := newService()
	app := httptest.NewServer(svc)
	defer app.Close()
	prom, c := startPrometheus(t, app.Listener.Addr().String())
	ctx := context.Background()
	ratio := strings.NewReplacer("{app}", "demo", "{env}", "staging").Replace(errorsQuery)
	eventually(t, "two scrapes in the error ratio's window", 10*time.Second, func() bool {
		_, ok, err := c.Query(ctx, ratio, time.Now())
		return err == nil && ok
	}, prom)

	for _, tc := range []struct {
		name, q string
		want    float64
		ok      bool
		err     string
	}{
		{"error ratio", ratio, 0.01, true, ""},
		{"a scalar", `scalar(up{job="app"}) * 3`, 3, true, ""},
		{"no series", `up{job="nothing"}`, 0, false, ""},
		{"NaN", `vector(0) / vector(0)`, 0, false, ""},
		{"several series", `http_requests_total{app="demo"}`, 0, false, "the query returned 2 series, want one: aggregate them"},
		{"a range vector", `up{job="app"}[10s]`, 0, false, "the query returned a range vector"},
		{"a bad query", `rate(up{job="app"}[5s]`, 0, false, "prometheus: bad_data:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, ok, err := c.Query(ctx, tc.q, time.Now())
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
			case err != nil || ok != tc.ok || math.Abs(v-tc.want) > 1e-9:
				t.Errorf("got %v, %v, %v; want %v, %v", v, ok, err, tc.want, tc.ok)
			}
		})
	}
	if l := c.Link(ratio); !strings.HasPrefix(l, prom.url+"/graph?g0.expr=sum%28rate") {
		t.Errorf("link %q", l)
	}

	prom.kill()
	if _, ok, err := c.Query(ctx, ratio, time.Now()); err == nil || ok || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Prometheus down: %v, %v; want the connection refused", ok, err)
	}
}

// Package promtest runs a real Prometheus for tests (Debian's, which `make
// deps` installs) scraping a small service whose error ratio and latency
// the test sets.
package promtest

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	client "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"

	"shipmate/internal/logtest"
)

// Bin is Debian's Prometheus.
const Bin = "/usr/bin/prometheus"

// Service is an app's metrics as Prometheus scrapes them: every scrape
// first serves 100 requests of app in env, a share of them failing with
// 500 and all of them taking the same time, as the test sets them. Its
// metrics are http_requests_total{app,env,code} and the histogram
// http_request_duration_seconds{app,env}.
type Service struct {
	URL string // what Prometheus scrapes

	app, env string
	reg      *client.Registry
	requests *client.CounterVec
	latency  *client.HistogramVec

	mu       sync.Mutex
	errRatio float64
	seconds  float64
}

// NewService serves app in env with 1% errors and 150 ms latency until
// the test ends.
func NewService(t testing.TB, app, env string) *Service {
	s := &Service{app: app, env: env, reg: client.NewRegistry(), errRatio: 0.01, seconds: 0.15}
	s.requests = client.NewCounterVec(client.CounterOpts{Name: "http_requests_total", Help: "Requests served."},
		[]string{"app", "env", "code"})
	s.latency = client.NewHistogramVec(client.HistogramOpts{Name: "http_request_duration_seconds", Help: "Request latency.",
		Buckets: []float64{0.05, 0.1, 0.2, 0.3, 0.5, 1, 2}}, []string{"app", "env"})
	s.reg.MustRegister(s.requests, s.latency)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Set changes the share of failing requests and their latency from the
// next scrape on.
func (s *Service) Set(errRatio, seconds float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errRatio, s.seconds = errRatio, seconds
}

// ServeHTTP serves a scrape, after the requests of the second since the
// last one.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	failed := math.Round(100 * s.errRatio)
	s.requests.WithLabelValues(s.app, s.env, "500").Add(failed)
	s.requests.WithLabelValues(s.app, s.env, "200").Add(100 - failed)
	for range 100 {
		s.latency.WithLabelValues(s.app, s.env).Observe(s.seconds)
	}
	s.mu.Unlock()
	promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// Server is a Prometheus process on a loopback port, with its storage in
// a temporary folder.
type Server struct {
	URL string

	t      testing.TB
	cmd    *exec.Cmd
	api    v1.API
	output *logtest.Buffer
	once   sync.Once
}

// Start runs Prometheus scraping the services every second as job "app",
// and waits until it has scraped them twice (a rate has data). It is
// stopped when the test ends.
func Start(t testing.TB, services ...*Service) *Server {
	t.Helper()
	var targets []string
	for _, s := range services {
		targets = append(targets, strings.TrimPrefix(s.URL, "http://"))
	}
	return StartWith(t, Config{Jobs: map[string][]string{"app": targets}})
}

// Config is what a Prometheus for a test scrapes, and the rules it loads.
type Config struct {
	// Jobs are the targets (host:port, serving /metrics) of each job.
	Jobs map[string][]string
	// RuleFiles are rule files it evaluates every second.
	RuleFiles []string
}

// StartWith runs Prometheus as cfg says, scraping every second, and waits
// until it has scraped every job twice. It is stopped when the test ends.
func StartWith(t testing.TB, cfg Config) *Server {
	t.Helper()
	if _, err := os.Stat(Bin); err != nil {
		t.Fatalf("%v: these tests run Debian's prometheus package (make deps installs it)", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(configText(cfg)), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	s := &Server{URL: "http://" + addr, t: t, output: &logtest.Buffer{}}
	c, err := api.NewClient(api.Config{Address: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	s.api = v1.NewAPI(c)
	s.cmd = exec.Command(Bin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	for job := range cfg.Jobs {
		s.Eventually("Prometheus has scraped job "+job+" twice", 20*time.Second, func() bool {
			return s.instant(fmt.Sprintf(`min(count_over_time(up{job=%q}[1m]))`, job)) >= 2
		})
	}
	return s
}

// configText is cfg as Prometheus's configuration file.
func configText(cfg Config) string {
	var b strings.Builder
	b.WriteString("global: {scrape_interval: 1s, evaluation_interval: 1s}\n")
	if len(cfg.RuleFiles) > 0 {
		b.WriteString("rule_files:\n")
		for _, f := range cfg.RuleFiles {
			fmt.Fprintf(&b, "  - %s\n", strconv.Quote(f))
		}
	}
	b.WriteString("scrape_configs:\n")
	for job, targets := range cfg.Jobs {
		quoted := make([]string, len(targets))
		for i, t := range targets {
			quoted[i] = strconv.Quote(t)
		}
		fmt.Fprintf(&b, "  - job_name: %s\n    static_configs: [{targets: [%s]}]\n", strconv.Quote(job), strings.Join(quoted, ", "))
	}
	return b.String()
}

// API is the Prometheus HTTP API of the server.
func (s *Server) API() v1.API { return s.api }

// instant is the value of the one series query q gives now, or NaN when
// there is none.
func (s *Server) instant(q string) float64 {
	v, _, _, err := s.api.Query(context.Background(), q, time.Now())
	if vec, ok := v.(model.Vector); err == nil && ok && len(vec) == 1 {
		return float64(vec[0].Value)
	}
	return math.NaN()
}

// Eventually polls cond until it holds, failing the test with
// Prometheus's own output if it does not within d.
func (s *Server) Eventually(what string, d time.Duration, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: not within %s\nprometheus said:\n%s", what, d, s.output.String())
		}
		<-tick.C
	}
}

// Kill stops Prometheus, as a crash would (once).
func (s *Server) Kill() {
	s.once.Do(func() {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	})
}

// freeAddr is a loopback address with a port nothing listens on now.
func freeAddr(t testing.TB) string {
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

package prometheus_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"shipmate/internal/adapters/prometheus"
	"shipmate/internal/adapters/prometheus/promtest"
)

// client is a client of the Prometheus p.
func client(t *testing.T, p *promtest.Server) *prometheus.Client {
	t.Helper()
	c, err := prometheus.New(prometheus.Config{URL: p.URL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
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
	prom := promtest.Start(t, promtest.NewService(t, "demo", "staging"))
	c := client(t, prom)
	ctx := context.Background()
	ratio := strings.NewReplacer("{app}", "demo", "{env}", "staging").Replace(errorsQuery)

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
	if l := c.Link(ratio); !strings.HasPrefix(l, prom.URL+"/graph?g0.expr=sum%28rate") {
		t.Errorf("link %q", l)
	}

	prom.Kill()
	if _, ok, err := c.Query(ctx, ratio, time.Now()); err == nil || ok || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Prometheus down: %v, %v; want the connection refused", ok, err)
	}
}

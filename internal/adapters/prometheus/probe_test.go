package prometheus_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/adapters/prometheus"
	"shipmate/internal/adapters/prometheus/promtest"
	"shipmate/internal/probe"
	"shipmate/internal/runbook"
)

// behindBearer serves Prometheus at target to requests with the bearer
// token only, as an authenticating proxy in front of it does.
func behindBearer(t *testing.T, target, token string) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// probePolicy watches staging with two checks, one of them only for
// billing, and production with one that demo replaces by its own.
func probePolicy(queries map[string]string) *runbook.Policy {
	p := &runbook.Policy{
		Envs: []runbook.Environment{
			{Name: "staging", Analysis: runbook.AnalysisRule{Checks: []string{"errors", "latency"}}},
			{Name: "production", Analysis: runbook.AnalysisRule{Checks: []string{"errors"}}},
		},
		Apps:     map[string]runbook.App{"demo": {Name: "demo"}, "billing": {Name: "billing"}},
		Analysis: map[string]runbook.MetricCheck{},
	}
	for k, q := range queries {
		p.Analysis[k] = runbook.MetricCheck{Query: q}
	}
	return p
}

func TestProbe(t *testing.T) {
	t.Parallel()
	prom := promtest.Start(t, promtest.NewService(t, "demo", "staging"))
	const token = "pr0m-bearer-7oken"
	cfg := prometheus.Config{URL: behindBearer(t, prom.URL, token), BearerToken: token}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	got := prometheus.Probe(ctx, cfg, probePolicy(map[string]string{"errors": errorsQuery, "latency": latencyQuery}))
	want := []probe.Result{
		{Service: "prometheus", Target: "query vector(1)", OK: true, Detail: "answered by " + cfg.URL},
		{Service: "prometheus", Target: "analysis", OK: true, Detail: "3 queries answered"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	broken := map[string]string{
		"errors":  `sum(rate(http_requests_total{app="{app}",env="{env}"}[5s])`,        // a parenthesis short
		"latency": `up{job="app"} or label_replace(vector(1), "app", "{app}", "", "")`, // two series
	}
	got = prometheus.Probe(ctx, cfg, probePolicy(broken))
	var lines []string
	for _, r := range got[1:] {
		if r.OK {
			t.Errorf("%s passed", r.Target)
		}
		lines = append(lines, r.Target)
	}
	wantTargets := []string{"analysis errors (staging, app billing)", "analysis latency (staging, app billing)", "analysis errors (production, app billing)"}
	if diff := cmp.Diff(wantTargets, lines); diff != "" {
		t.Errorf("failed queries (-want +got):\n%s", diff)
	}
	if len(got) == 4 && (!strings.Contains(got[1].Detail, "bad_data") || !strings.Contains(got[2].Detail, "series")) {
		t.Errorf("details: %q, %q", got[1].Detail, got[2].Detail)
	}

	wrong := cfg
	wrong.BearerToken = "wr0ng-bearer-7oken"
	got = prometheus.Probe(ctx, wrong, probePolicy(nil))
	if len(got) != 1 || got[0].OK || !strings.Contains(got[0].Detail, "401") || strings.Contains(got[0].Detail, "7oken") {
		t.Errorf("a wrong token: %+v, want one failure naming the 401, not the token", got)
	}
}

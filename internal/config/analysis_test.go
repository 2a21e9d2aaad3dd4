package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/runbook"
)

// analysisHead defines two metric checks on a Prometheus; it comes before
// valid in withAnalysis, taking its first 12 lines.
const analysisHead = `prometheus: {url: "${PROMETHEUS_URL}"}
analysis:
  errors:
    query: 'sum(rate(http_requests_total{app="{app}",env="{env}",code=~"5.."}[2m])) / sum(rate(http_requests_total{app="{app}",env="{env}"}[2m]))'
    max: 0.01
    max_vs_baseline: 2.0
    format: percent
  latency:
    query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{app="{app}",env="{env}"}[5m])))'
    max_vs_baseline: 1.5
    format: ms
    label: p95
`

// withAnalysis is valid with the post-deployment analysis: production
// monitors for 30 minutes, watched by both checks; the web app watches
// errors only.
func withAnalysis(t *testing.T) string {
	t.Helper()
	text := analysisHead + valid
	for old, repl := range map[string]string{
		"    rollback: [requester, lead]\n":        "    rollback: [requester, lead]\n    monitor: 30m\n    analysis: [errors, latency]\n    failures_to_rollback: 4\n",
		"    exec: {deploy: [d], rollback: [r]}\n": "    exec: {deploy: [d], rollback: [r]}\n    analysis: [errors]\n",
	} {
		if !strings.Contains(text, old) {
			t.Fatalf("%q is not in the valid config", old)
		}
		text = strings.Replace(text, old, repl, 1)
	}
	return text
}

func prometheusURL(name string) (string, bool) {
	if name == "PROMETHEUS_URL" {
		return "http://prometheus:9090", true
	}
	return "", false
}

func TestAnalysis(t *testing.T) {
	c, err := Parse([]byte(withAnalysis(t)), prometheusURL)
	if err != nil {
		t.Fatal(err)
	}
	one := 0.01
	want := map[string]runbook.MetricCheck{
		"errors": {Query: `sum(rate(http_requests_total{app="{app}",env="{env}",code=~"5.."}[2m])) / sum(rate(http_requests_total{app="{app}",env="{env}"}[2m]))`,
			Max: &one, MaxVsBaseline: 2, Format: runbook.FormatPercent},
		"latency": {Label: "p95", Query: `histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{app="{app}",env="{env}"}[5m])))`,
			MaxVsBaseline: 1.5, Format: runbook.FormatMillis},
	}
	if diff := cmp.Diff(want, c.Policy.Analysis); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	staging, _ := c.Policy.Env("staging")
	prod, _ := c.Policy.Env("production")
	if diff := cmp.Diff(runbook.AnalysisRule{Every: time.Minute, FailuresToRollback: 3}, staging.Analysis); diff != "" {
		t.Errorf("staging's defaults (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(runbook.AnalysisRule{Checks: []string{"errors", "latency"}, Every: time.Minute, FailuresToRollback: 4}, prod.Analysis); diff != "" {
		t.Errorf("production (-want +got):\n%s", diff)
	}
	if got := c.Policy.Apps["web"].Analysis; !cmp.Equal(got, []string{"errors"}) {
		t.Errorf("web's own checks %q", got)
	}
	if c.Prometheus == nil || c.Prometheus.Path() != "prometheus" {
		t.Errorf("prometheus block %+v", c.Prometheus)
	}

	// An app's empty list turns the analysis off for it; none keeps the
	// environments'.
	off, err := Parse([]byte(strings.Replace(withAnalysis(t), "    analysis: [errors]\n", "    analysis: []\n", 1)), prometheusURL)
	if err != nil {
		t.Fatal(err)
	}
	if got := off.Policy.Apps["web"].Analysis; got == nil || len(got) != 0 {
		t.Errorf("analysis: [] gives %#v, want an empty list", got)
	}
	inherit, err := Parse([]byte(strings.Replace(withAnalysis(t), "    analysis: [errors]\n", "", 1)), prometheusURL)
	if err != nil {
		t.Fatal(err)
	}
	if got := inherit.Policy.Apps["web"].Analysis; got != nil {
		t.Errorf("no analysis: gives %#v, want nil", got)
	}

	// An unset ${PROMETHEUS_URL} leaves the analysis off, as an unset
	// ${JENKINS_URL} leaves Jenkins off: the file still loads.
	c, err = Parse([]byte(withAnalysis(t)), noVars)
	if err != nil {
		t.Fatal(err)
	}
	if c.Prometheus != nil || len(c.Policy.Analysis) != 2 {
		t.Errorf("without PROMETHEUS_URL: prometheus %v, %d checks", c.Prometheus, len(c.Policy.Analysis))
	}
}

func TestAnalysisErrors(t *testing.T) {
	for _, tc := range []struct{ name, old, new, want string }{
		{"unknown check key", "    max: 0.01\n", "    max: 0.01\n    min: 0\n",
			`analysis.errors.min: unknown key (line 6)`},
		{"unknown env key", "    failures_to_rollback: 4\n", "    failures_to_rollback: 4\n    analysis_interval: 1m\n",
			`environments.production.analysis_interval: unknown key (line 35)`},
		{"no prometheus block", "prometheus: {url: \"${PROMETHEUS_URL}\"}\n", "",
			`analysis: needs the top-level prometheus: block (url: ${PROMETHEUS_URL}) to run its queries on (line 1)`},
		{"placeholder outside a string", `histogram_quantile(0.95, sum by (le)`, `histogram_quantile(0.95, {env} + sum by (le)`,
			`analysis.latency.query: {env} is outside a quoted string: put it in a label value, such as app="{app}" (line 9)`},
		{"no query", `query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{app="{app}",env="{env}"}[5m])))'`, `query: " "`,
			`analysis.latency.query: required: the PromQL query, such as 'sum(rate(http_requests_total{app="{app}",code=~"5.."}[2m]))' (line 9)`},
		{"no bound", "    max_vs_baseline: 1.5\n", "",
			`analysis.latency: give max, max_vs_baseline or both: the bound a measurement fails above (line 8)`},
		{"max not a number", "max: 0.01", "max: 1%",
			`analysis.errors.max: want a number such as 0.01, got "1%" (line 5)`},
		{"multiple below 1", "max_vs_baseline: 1.5", "max_vs_baseline: 0.5",
			`analysis.latency.max_vs_baseline: want a multiple of the baseline of at least 1, such as 2.0, got 0.5 (line 10)`},
		{"bad format", "format: ms", "format: seconds",
			`analysis.latency.format: want percent (a ratio), ms (seconds) or number, got "seconds" (line 11)`},
		{"label on two lines", "label: p95", `label: "p95\nlatency"`,
			`analysis.latency.label: want a short name on one line (at most 40 characters), such as p95 (line 12)`},
		{"bad check key", "  latency:\n", "  Latency:\n",
			`analysis.Latency: invalid analysis check key (use lowercase letters, digits, - and _, starting with a letter) (line 8)`},
		{"unknown check in an env", "analysis: [errors, latency]", "analysis: [errors, saturation]",
			`environments.production.analysis[1]: unknown analysis check "saturation" (define it under analysis:) (line 33)`},
		{"duplicate check in an env", "analysis: [errors, latency]", "analysis: [errors, errors]",
			`environments.production.analysis[1]: duplicate analysis check "errors" (line 33)`},
		{"unknown check in an app", "    analysis: [errors]\n", "    analysis: [errs]\n",
			`apps.web.analysis[0]: unknown analysis check "errs" (define it under analysis:) (line 39)`},
		{"failures_to_rollback 0", "failures_to_rollback: 4", "failures_to_rollback: 0",
			`environments.production.failures_to_rollback: must be at least 1, got 0 (line 34)`},
		{"analysis_every 0", "    failures_to_rollback: 4\n", "    failures_to_rollback: 4\n    analysis_every: 0s\n",
			`environments.production.analysis_every: must be more than 0 (line 35)`},
		{"analysis without a window", "    monitor: 5m\n", "    analysis: [errors]\n",
			`environments.staging.analysis: runs during the monitoring window: set monitor, such as monitor: 30m (line 23)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := withAnalysis(t)
			if !strings.Contains(text, tc.old) {
				t.Fatalf("%q is not in the configuration", tc.old)
			}
			text = strings.Replace(text, tc.old, tc.new, 1)
			_, err := Parse([]byte(text), prometheusURL)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n got: %v\nwant: %s", err, tc.want)
			}
		})
	}
}

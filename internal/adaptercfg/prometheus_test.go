package adaptercfg

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/adapters/prometheus"
)

// prometheusConfig is valid with a Prometheus whose block the cases
// change, and one analysis check; its line 2 is the block.
const prometheusConfig = `analysis: {errors: {query: 'sum(rate(x{app="{app}"}[2m]))', max: 0.01}}
prometheus: {url: "${PROMETHEUS_URL}", bearer_token: "${PROMETHEUS_TOKEN}"}
` + valid

func prometheusEnv(name string) (string, bool) {
	v, ok := map[string]string{"PROMETHEUS_URL": "https://prometheus.example.com:9090", "PROMETHEUS_TOKEN": "pr0m-t0ken-s3cret"}[name]
	return v, ok
}

// The prometheus: block is the adapter's to check, with the key and line
// of each mistake; its token is a secret.
func TestPrometheusBlock(t *testing.T) {
	s, err := Parse([]byte(prometheusConfig), prometheusEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := &prometheus.Config{URL: "https://prometheus.example.com:9090", BearerToken: "pr0m-t0ken-s3cret", Timeout: prometheus.DefaultTimeout}
	if diff := cmp.Diff(want, s.Prometheus); diff != "" {
		t.Errorf("prometheus (-want +got):\n%s", diff)
	}
	if !cmp.Equal(s.Secrets(), []string{"pr0m-t0ken-s3cret"}) {
		t.Errorf("secrets %q", s.Secrets())
	}

	for _, tc := range []struct{ name, old, new, want string }{
		{"unknown key", `bearer_token: "${PROMETHEUS_TOKEN}"}`, `bearer_token: "${PROMETHEUS_TOKEN}", token: x}`,
			`prometheus.token: unknown key (line 2)`},
		{"not a URL", `url: "${PROMETHEUS_URL}"`, `url: "prometheus:9090"`,
			`prometheus.url: want http:// or https:// and a host, such as http://prometheus:9090 (line 2)`},
		{"credentials in the URL", `url: "${PROMETHEUS_URL}"`, `url: "https://u:p@prometheus:9090"`,
			`prometheus.url: put the credentials in username: and password:, or bearer_token:, not in the URL (line 2)`},
		{"username without password", `bearer_token: "${PROMETHEUS_TOKEN}"}`, `username: shipmate}`,
			`prometheus.password: username and password go together (basic auth; an unset ${VAR} leaves one empty) (line 2)`},
		{"token and basic auth", `bearer_token: "${PROMETHEUS_TOKEN}"}`, `bearer_token: "${PROMETHEUS_TOKEN}", username: a, password: b}`,
			`prometheus.bearer_token: use bearer_token or username and password, not both (line 2)`},
		{"cert without key", `bearer_token: "${PROMETHEUS_TOKEN}"}`, `tls: {cert: c.pem}}`,
			`prometheus.tls.key: cert and key go together (a client certificate and its key) (line 2)`},
		{"bad timeout", `bearer_token: "${PROMETHEUS_TOKEN}"}`, `timeout: soon}`,
			`prometheus.timeout: invalid duration "soon" (line 2)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(strings.Replace(prometheusConfig, tc.old, tc.new, 1)), prometheusEnv)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n got: %v\nwant: %s", err, tc.want)
			}
		})
	}

	// Basic auth and TLS files, read as written.
	s, err = Parse([]byte(strings.Replace(prometheusConfig, `bearer_token: "${PROMETHEUS_TOKEN}"}`,
		`username: shipmate, password: "${PROMETHEUS_TOKEN}", timeout: 5s, tls: {ca: ca.pem, insecure_skip_verify: true}}`, 1)), prometheusEnv)
	if err != nil {
		t.Fatal(err)
	}
	want = &prometheus.Config{URL: "https://prometheus.example.com:9090", Username: "shipmate", Password: "pr0m-t0ken-s3cret",
		TLS: &prometheus.TLS{CA: "ca.pem", InsecureSkipVerify: true}, Timeout: 5 * time.Second}
	if diff := cmp.Diff(want, s.Prometheus); diff != "" {
		t.Errorf("prometheus (-want +got):\n%s", diff)
	}

	// Unset, the analysis is off.
	if s, err := Parse([]byte(prometheusConfig), noVars); err != nil || s.Prometheus != nil {
		t.Errorf("without PROMETHEUS_URL: %+v, %v", s, err)
	}
}

// Package prometheus is the post-deployment analysis's Prometheus: it
// implements runbook.Analyzer with instant queries through
// client_golang's HTTP API client.
package prometheus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"shipmate/internal/runbook"
)

// Client queries one Prometheus server. It is safe for concurrent use.
type Client struct {
	api     v1.API
	base    string
	timeout time.Duration
}

var (
	_ runbook.Analyzer       = (*Client)(nil)
	_ runbook.AnalysisLinker = (*Client)(nil)
)

// New returns a client of the server c (checked by Validate) names. It
// reads the TLS files now, so that a missing one is found at start.
func New(c Config) (*Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if c.TLS != nil {
		tc, err := tlsConfig(*c.TLS)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tc
	}
	var rt http.RoundTripper = tr
	if c.BearerToken != "" || c.Username != "" {
		rt = authRoundTripper{next: tr, bearer: c.BearerToken, user: c.Username, password: c.Password}
	}
	cl, err := api.NewClient(api.Config{Address: c.URL, RoundTripper: rt})
	if err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{api: v1.NewAPI(cl), base: strings.TrimRight(c.URL, "/"), timeout: timeout}, nil
}

// tlsConfig loads the PEM files t names.
func tlsConfig(t TLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("prometheus.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("prometheus.tls.ca: no PEM certificate in %s", t.CA)
		}
		tc.RootCAs = pool
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("prometheus.tls.cert: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// authRoundTripper logs every request in, with a bearer token or basic
// auth.
type authRoundTripper struct {
	next                   http.RoundTripper
	bearer, user, password string
}

func (a authRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	if a.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+a.bearer)
	} else {
		req.SetBasicAuth(a.user, a.password)
	}
	return a.next.RoundTrip(req)
}

// Query implements runbook.Analyzer: it evaluates q at time at, which must
// give one number, a scalar or a vector of one series. No series, or NaN,
// is no data; more than one series is an error that says so.
func (c *Client) Query(ctx context.Context, q string, at time.Time) (float64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	v, _, _, err := c.api.Query(ctx, q, at, v1.WithTimeout(c.timeout))
	if err != nil {
		var perr *v1.Error
		if errors.As(err, &perr) {
			// Prometheus's own word (a bad query, a timeout), without the
			// response's raw body.
			return 0, false, fmt.Errorf("prometheus: %s", perr.Error())
		}
		return 0, false, fmt.Errorf("prometheus: %w", err)
	}
	return single(v)
}

// single reads the one number a query's result holds.
func single(v model.Value) (float64, bool, error) {
	var f float64
	switch v := v.(type) {
	case *model.Scalar:
		f = float64(v.Value)
	case model.Vector:
		switch len(v) {
		case 0:
			return 0, false, nil
		case 1:
			f = float64(v[0].Value)
		default:
			return 0, false, fmt.Errorf("the query returned %d series, want one: aggregate them, with sum() or max(); the first is %s", len(v), v[0].Metric)
		}
	case model.Matrix:
		return 0, false, errors.New("the query returned a range vector, want one number: put it in a function such as rate() or avg_over_time()")
	default:
		return 0, false, fmt.Errorf("the query returned a %s, want one number", v.Type())
	}
	if math.IsNaN(f) {
		return 0, false, nil
	}
	return f, true, nil
}

// Link implements runbook.AnalysisLinker: q in Prometheus's graph page.
func (c *Client) Link(q string) string {
	return c.base + "/graph?" + url.Values{"g0.expr": {q}, "g0.tab": {"0"}}.Encode()
}

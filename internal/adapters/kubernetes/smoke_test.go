package kubernetes

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSmokeChecks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			_, _ = io.WriteString(w, "ok v2")
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		default:
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	x := &Executor{http: srv.Client()}
	for _, tc := range []struct {
		smoke Smoke
		err   string
	}{
		{Smoke{URL: srv.URL + "/healthz"}, ""},
		{Smoke{URL: srv.URL + "/healthz", Expect: 200, Contains: "v2"}, ""},
		{Smoke{URL: srv.URL + "/healthz", Contains: "v3"}, `the response does not contain "v3"`},
		{Smoke{URL: srv.URL + "/down"}, "status 503, want 200"},
		{Smoke{URL: srv.URL + "/down", Expect: 503}, ""},
		{Smoke{URL: srv.URL + "/slow", Timeout: 50 * time.Millisecond}, "context deadline exceeded"},
	} {
		x.smoke = []Smoke{tc.smoke}
		var out []string
		err := x.runSmoke(context.Background(), func(l string) { out = append(out, l) })
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%+v: %v", tc.smoke, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%+v: err %v, want %q", tc.smoke, err, tc.err)
		case tc.err == "" && (len(out) != 1 || !strings.HasPrefix(out[0], "smoke: GET "+tc.smoke.URL)):
			t.Errorf("%+v: output %q", tc.smoke, out)
		}
	}
}

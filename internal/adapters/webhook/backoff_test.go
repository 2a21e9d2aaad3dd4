package webhook

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoffDoublesWithJitterUpToTheCap(t *testing.T) {
	d := &Deliverer{o: Options{MinBackoff: time.Second, MaxBackoff: 10 * time.Second}}
	for attempt, full := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		for range 50 {
			if got := d.backoff(attempt); got < full/2 || got > full {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", attempt, got, full/2, full)
			}
		}
	}
	if got := d.backoff(1 << 20); got > 10*time.Second {
		t.Errorf("backoff of a huge attempt = %s, beyond the cap", got)
	}
}

func TestRetryAfter(t *testing.T) {
	d := &Deliverer{o: Options{Now: now}}
	for _, tc := range []struct {
		status int
		header string
		want   time.Duration
	}{
		{http.StatusTooManyRequests, "7", 7 * time.Second},
		{http.StatusServiceUnavailable, t0.Add(time.Minute).Format(http.TimeFormat), time.Minute},
		{http.StatusServiceUnavailable, t0.Add(-time.Minute).Format(http.TimeFormat), 0},
		{http.StatusTooManyRequests, "86400", maxRetryAfter},
		{http.StatusTooManyRequests, "soon", -1},
		{http.StatusTooManyRequests, "", -1},
		{http.StatusInternalServerError, "7", -1},
	} {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
		if tc.header != "" {
			resp.Header.Set("Retry-After", tc.header)
		}
		if got := d.retryAfter(resp); got != tc.want {
			t.Errorf("%d Retry-After %q: %s, want %s", tc.status, tc.header, got, tc.want)
		}
	}
}

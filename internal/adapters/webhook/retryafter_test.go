package webhook

import (
	"net/http"
	"testing"
	"time"
)

// A 429 or 503 says how long to wait (seconds or a date); anything else,
// or a header that cannot be read, leaves it to the backoff (-1).
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

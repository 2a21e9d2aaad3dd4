package kubernetes

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// defaultSmokeTimeout bounds one smoke check.
const defaultSmokeTimeout = 10 * time.Second

// runSmoke runs the app's smoke checks in order; the first that fails
// fails the step.
func (x *Executor) runSmoke(ctx context.Context, p func(string)) error {
	for _, s := range x.smoke {
		if err := x.check(ctx, s); err != nil {
			return fmt.Errorf("smoke check %s: %w", s.URL, err)
		}
		p(fmt.Sprintf("smoke: GET %s %d", s.URL, want(s)))
	}
	return nil
}

func want(s Smoke) int {
	if s.Expect == 0 {
		return http.StatusOK
	}
	return s.Expect
}

func (x *Executor) check(ctx context.Context, s Smoke) error {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = defaultSmokeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "shipmate-smoke")
	resp, err := x.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want(s) {
		return fmt.Errorf("status %d, want %d", resp.StatusCode, want(s))
	}
	if s.Contains != "" && !strings.Contains(string(body), s.Contains) {
		return fmt.Errorf("the response does not contain %q", s.Contains)
	}
	return nil
}

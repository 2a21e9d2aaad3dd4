// Package probe is what `bot check --online` reports: each adapter tries
// the service it talks to and says, per thing tried, whether it works.
// Adapters import this package; it imports none of them.
package probe

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Result is one thing tried: a login, a job, a workload's permissions.
type Result struct {
	// Service is the outside system ("slack", "jenkins").
	Service string
	// Target is what was tried ("auth.test", "job deploy/billing").
	Target string
	OK     bool
	// Detail is what was found, or what is wrong.
	Detail string
}

// Pass is a result that works.
func Pass(service, target, detail string) Result {
	return Result{Service: service, Target: target, OK: true, Detail: detail}
}

// Fail is a result that does not work, saying why.
func Fail(service, target string, err error) Result {
	detail := "failed"
	if err != nil {
		detail = err.Error()
	}
	return Result{Service: service, Target: target, Detail: detail}
}

// Check tries one service and returns a result per thing tried.
type Check struct {
	Service string
	Run     func(ctx context.Context) []Result
}

// Run runs the checks side by side, each bounded by timeout, and returns
// their results in the order of checks. A check that does not return
// within its time, or panics, gives one failed result instead.
func Run(ctx context.Context, timeout time.Duration, checks []Check) []Result {
	out := make([][]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { out[i] = runOne(ctx, timeout, c) })
	}
	wg.Wait()
	var all []Result
	for _, rs := range out {
		all = append(all, rs...)
	}
	return all
}

// runOne runs c, giving up on it after timeout even if it does not watch
// its context.
func runOne(ctx context.Context, timeout time.Duration, c Check) []Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan []Result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- []Result{Fail(c.Service, "check", fmt.Errorf("the check broke off: %v", p))}
			}
		}()
		done <- c.Run(ctx)
	}()
	select {
	case rs := <-done:
		if len(rs) == 0 {
			return []Result{Fail(c.Service, "check", fmt.Errorf("the check tried nothing"))}
		}
		return rs
	case <-ctx.Done():
		return []Result{Fail(c.Service, "check", fmt.Errorf("no answer within %s", timeout))}
	}
}

// Redact replaces every secret (of four characters or more: shorter ones
// would blank out ordinary words) in the results' text.
func Redact(rs []Result, secrets []string) []Result {
	var pairs []string
	for _, s := range secrets {
		if len(s) >= 4 {
			pairs = append(pairs, s, "[redacted]")
		}
	}
	if len(pairs) == 0 {
		return rs
	}
	r := strings.NewReplacer(pairs...)
	out := make([]Result, len(rs))
	for i, x := range rs {
		x.Target, x.Detail = r.Replace(x.Target), r.Replace(x.Detail)
		out[i] = x
	}
	return out
}

// AllOK reports whether every result works.
func AllOK(rs []Result) bool {
	for _, r := range rs {
		if !r.OK {
			return false
		}
	}
	return true
}

// Write prints one line per result:
//
//	ok    slack       auth.test: team Acme, bot @shipmate
//	FAIL  jenkins     job deploy/checkout: not found (404)
func Write(w io.Writer, rs []Result) error {
	for _, r := range rs {
		status := "ok"
		if !r.OK {
			status = "FAIL"
		}
		line := r.Target
		if r.Detail != "" {
			line += ": " + r.Detail
		}
		// One result, one line: a multi-line error would look like more.
		line = strings.Join(strings.Fields(line), " ")
		if _, err := fmt.Fprintf(w, "%-5s %-11s %s\n", status, r.Service, line); err != nil {
			return err
		}
	}
	return nil
}

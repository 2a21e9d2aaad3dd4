package slack

import (
	"context"
	"errors"
	"regexp"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
)

// failed handles a failed background call for s and reports whether to
// try again: after Retry-After for a rate limit, after a growing backoff
// for a transient error (a few times). A permanent error drops the
// content; one saying the message or channel is gone drops everything for
// the message. Callers hold c.mu.
func (c *Chat) failed(s *slot, method string, err error) bool {
	if c.ctx.Err() != nil {
		return false // closing
	}
	kind, wait := classify(err)
	ev := func(e *zerolog.Event) *zerolog.Event {
		return e.Str("method", method).Str("channel", s.key.channel).Str("ts", s.key.ts).Str("error", redact(err.Error()))
	}
	switch kind {
	case failRateLimited:
		s.notBefore = later(s.notBefore, time.Now().Add(wait))
		ev(c.log.Debug()).Dur("retry_after", wait).Msg("slack: rate limited; waiting")
		return true
	case failTransient:
		s.failures++
		if s.failures > maxFailures {
			ev(c.log.Warn()).Int("attempts", s.failures).Msg("slack: giving up on a message edit after repeated failures")
			s.failures = 0
			return false
		}
		wait = min(c.opt.MinInterval<<(s.failures-1), maxBackoff)
		s.notBefore = later(s.notBefore, time.Now().Add(wait))
		ev(c.log.Info()).Int("attempt", s.failures).Dur("retry_in", wait).Msg("slack: message edit failed; retrying")
		return true
	case failGone:
		ev(c.log.Warn()).Msg("slack: the message or its channel is gone; no more edits to it")
		s.gone = true
		s.pending, s.lines, s.skipped = nil, nil, 0
		return false
	default:
		ev(c.log.Warn()).Msg("slack: message edit refused; dropped")
		return false
	}
}

// try runs a call whose caller waits for it, retrying a rate limit (up to
// maxSyncRetryAfter) or a transient error a few times. A post retried
// after a 5xx may show twice if Slack took it but failed to answer: rarer,
// and better, than a run without its message.
func (c *Chat) try(ctx context.Context, method string, call func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := call(ctx)
		if err == nil || attempt == syncAttempts || ctx.Err() != nil {
			return err
		}
		kind, wait := classify(err)
		switch kind {
		case failRateLimited:
			if wait > maxSyncRetryAfter {
				return err
			}
		case failTransient:
			wait = syncBackoff << (attempt - 1)
		default:
			return err
		}
		c.log.Debug().Str("method", method).Str("error", redact(err.Error())).Dur("retry_in", wait).Msg("slack: call failed; retrying")
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		case <-c.ctx.Done():
			t.Stop()
			return err
		}
	}
}

// failure is what a failed Slack call calls for.
type failure int

const (
	failPermanent   failure = iota // this content cannot be sent: drop it
	failRateLimited                // retry after Retry-After
	failTransient                  // retry after a backoff
	failGone                       // the message or channel is gone: stop
)

// goneErrors are Slack errors saying a message can no longer be edited.
var goneErrors = map[string]bool{
	"channel_not_found": true, "message_not_found": true, "is_archived": true, "not_in_channel": true,
	"cant_update_message": true, "edit_window_closed": true, "thread_not_found": true,
}

// transientErrors are Slack errors worth retrying.
var transientErrors = map[string]bool{
	"internal_error": true, "fatal_error": true, "service_unavailable": true, "request_timeout": true,
	"ratelimited": true, "rate_limited": true, "team_added_to_org": true,
}

// classify tells a failed call's error apart.
func classify(err error) (failure, time.Duration) {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return failRateLimited, max(rl.RetryAfter, time.Second)
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch {
		case goneErrors[se.Err]:
			return failGone, 0
		case transientErrors[se.Err]:
			return failTransient, 0
		}
		return failPermanent, 0
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		if sc.Retryable() {
			return failTransient, 0
		}
		return failPermanent, 0
	}
	// Network errors, timeouts, a proxy's HTML page.
	return failTransient, 0
}

// tokenRE matches Slack tokens, which must never reach the log.
var tokenRE = regexp.MustCompile(`\b(xox[a-z]|xapp)-[0-9A-Za-z-]+`)

// redact removes tokens from s.
func redact(s string) string { return tokenRE.ReplaceAllString(s, "$1-REDACTED") }

func errText(err error) string {
	if err == nil {
		return "no permalink"
	}
	return redact(err.Error())
}

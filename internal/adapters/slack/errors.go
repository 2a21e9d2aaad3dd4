package slack

import (
	"errors"
	"regexp"
	"time"

	"github.com/slack-go/slack"

	"shipmate/internal/chat"
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
func classify(err error) (chat.Failure, time.Duration) {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return chat.RateLimited, max(rl.RetryAfter, time.Second)
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch {
		case goneErrors[se.Err]:
			return chat.Gone, 0
		case transientErrors[se.Err]:
			return chat.Transient, 0
		}
		return chat.Permanent, 0
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		if sc.Retryable() {
			return chat.Transient, 0
		}
		return chat.Permanent, 0
	}
	// Network errors, timeouts, a proxy's HTML page.
	return chat.Transient, 0
}

// tokenRE matches Slack tokens, which must never reach the log.
var tokenRE = regexp.MustCompile(`\b(xox[a-z]|xapp)-[0-9A-Za-z-]+`)

// redact removes tokens from s.
func redact(s string) string { return tokenRE.ReplaceAllString(s, "$1-REDACTED") }

// redactedError is an error of a Slack call whose text shows no token.
type redactedError struct{ err error }

func (e redactedError) Error() string { return redact(e.err.Error()) }
func (e redactedError) Unwrap() error { return e.err }

// redacted wraps err so that its text shows no token.
func redacted(err error) error {
	if err == nil {
		return nil
	}
	return redactedError{err}
}

func errText(err error) string {
	if err == nil {
		return "no permalink"
	}
	return redact(err.Error())
}

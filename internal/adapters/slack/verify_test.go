package slack

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Slack's published test vector (its request-signing docs, also in
// slackapi/python-slack-sdk's tests).
const (
	verifyTestSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	verifyTestTimestamp = "1531420618"
	verifyTestBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	verifyTestSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

var verifyTestTime = time.Unix(1531420618, 0)

// verifyTestHeader is a request header carrying a timestamp and signature;
// an empty value leaves that header out.
func verifyTestHeader(ts, sig string) http.Header {
	h := http.Header{}
	if ts != "" {
		h.Set("X-Slack-Request-Timestamp", ts)
	}
	if sig != "" {
		h.Set("X-Slack-Signature", sig)
	}
	return h
}

func TestVerifySignature(t *testing.T) {
	body := []byte(verifyTestBody)
	flipped := []byte(verifyTestBody)
	flipped[10] ^= 1
	upper := "v0=" + strings.ToUpper(strings.TrimPrefix(verifyTestSignature, "v0="))

	tests := []struct {
		name   string
		secret string
		now    time.Time
		h      http.Header
		body   []byte
		want   error
	}{
		{"published vector", verifyTestSecret, verifyTestTime.Add(time.Minute), verifyTestHeader(verifyTestTimestamp, verifyTestSignature), body, nil},
		{"at the timestamp", verifyTestSecret, verifyTestTime, verifyTestHeader(verifyTestTimestamp, verifyTestSignature), body, nil},
		{"5 minutes late", verifyTestSecret, verifyTestTime.Add(5 * time.Minute), verifyTestHeader(verifyTestTimestamp, verifyTestSignature), body, nil},
		{"5 minutes early", verifyTestSecret, verifyTestTime.Add(-5 * time.Minute), verifyTestHeader(verifyTestTimestamp, verifyTestSignature), body, nil},
		{"upper-case hex", verifyTestSecret, verifyTestTime, verifyTestHeader(verifyTestTimestamp, upper), body, nil},
		{"6 minutes late", verifyTestSecret, verifyTestTime.Add(6 * time.Minute), verifyTestHeader(verifyTestTimestamp, verifyTestSignature), body, errStaleRequest},
		{"6 minutes early", verifyTestSecret, verifyTestTime.Add(-6 * time.Minute), verifyTestHeader(verifyTestTimestamp, verifyTestSignature), body, errStaleRequest},
		{"5 minutes and a second", verifyTestSecret, verifyTestTime.Add(5*time.Minute + time.Second), verifyTestHeader(verifyTestTimestamp, verifyTestSignature), body, errStaleRequest},
		{"huge timestamp", verifyTestSecret, verifyTestTime, verifyTestHeader("9223372036854775807", verifyTestSignature), body, errStaleRequest},
		{"smallest timestamp", verifyTestSecret, verifyTestTime, verifyTestHeader("-9223372036854775808", verifyTestSignature), body, errStaleRequest},
		{"flipped body byte", verifyTestSecret, verifyTestTime, verifyTestHeader(verifyTestTimestamp, verifyTestSignature), flipped, errBadSignature},
		{"empty body", verifyTestSecret, verifyTestTime, verifyTestHeader(verifyTestTimestamp, verifyTestSignature), nil, errBadSignature},
		{"wrong secret", "8f742231b10e8888abcd99yyyzzz85a6", verifyTestTime, verifyTestHeader(verifyTestTimestamp, verifyTestSignature), body, errBadSignature},
		{"empty secret", "", verifyTestTime, verifyTestHeader(verifyTestTimestamp, verifyTestSignature), body, errBadSignature},
		{"timestamp changed", verifyTestSecret, verifyTestTime, verifyTestHeader("1531420619", verifyTestSignature), body, errBadSignature},
		{"no headers", verifyTestSecret, verifyTestTime, verifyTestHeader("", ""), body, errNoSignature},
		{"no signature", verifyTestSecret, verifyTestTime, verifyTestHeader(verifyTestTimestamp, ""), body, errNoSignature},
		{"no timestamp", verifyTestSecret, verifyTestTime, verifyTestHeader("", verifyTestSignature), body, errNoSignature},
		{"non-numeric timestamp", verifyTestSecret, verifyTestTime, verifyTestHeader("1531420618a", verifyTestSignature), body, errBadSignature},
		{"fractional timestamp", verifyTestSecret, verifyTestTime, verifyTestHeader("1531420618.0", verifyTestSignature), body, errBadSignature},
		{"no v0= prefix", verifyTestSecret, verifyTestTime, verifyTestHeader(verifyTestTimestamp, strings.TrimPrefix(verifyTestSignature, "v0=")), body, errBadSignature},
		{"other version", verifyTestSecret, verifyTestTime, verifyTestHeader(verifyTestTimestamp, "v1="+strings.TrimPrefix(verifyTestSignature, "v0=")), body, errBadSignature},
		{"short hex", verifyTestSecret, verifyTestTime, verifyTestHeader(verifyTestTimestamp, verifyTestSignature[:len(verifyTestSignature)-2]), body, errBadSignature},
		{"long hex", verifyTestSecret, verifyTestTime, verifyTestHeader(verifyTestTimestamp, verifyTestSignature+"00"), body, errBadSignature},
		{"odd-length hex", verifyTestSecret, verifyTestTime, verifyTestHeader(verifyTestTimestamp, verifyTestSignature[:len(verifyTestSignature)-1]), body, errBadSignature},
		{"not hex", verifyTestSecret, verifyTestTime, verifyTestHeader(verifyTestTimestamp, "v0="+strings.Repeat("zz", 32)), body, errBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifySignature(tt.secret, tt.now, tt.h, tt.body)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("verifySignature = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifySignRequest(t *testing.T) {
	ts, sig := signRequest(verifyTestSecret, verifyTestTime, []byte(verifyTestBody))
	if ts != verifyTestTimestamp || sig != verifyTestSignature {
		t.Errorf("signRequest = %q, %q; want the published %q, %q", ts, sig, verifyTestTimestamp, verifyTestSignature)
	}

	now := time.Date(2025, 3, 14, 13, 45, 30, 500, time.UTC)
	body := []byte(`payload={"type":"block_actions"}`)
	ts, sig = signRequest("s3cr3t", now, body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", sig)
	if err := verifySignature("s3cr3t", now.Add(2*time.Second), h, body); err != nil {
		t.Errorf("a request signed by signRequest does not verify: %v", err)
	}
	if err := verifySignature("other", now, h, body); !errors.Is(err, errBadSignature) {
		t.Errorf("verify with another secret = %v, want errBadSignature", err)
	}
	if err := verifySignature("s3cr3t", now.Add(10*time.Minute), h, body); !errors.Is(err, errStaleRequest) {
		t.Errorf("verify 10 minutes later = %v, want errStaleRequest", err)
	}
}

package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Errors of verifySignature. All of them mean: answer 401 and do nothing.
var (
	errNoSignature  = errors.New("missing Slack signature headers")
	errStaleRequest = errors.New("Slack request timestamp is more than 5 minutes away")
	errBadSignature = errors.New("Slack signature does not match")
)

// The signing scheme's headers, version prefix and replay window.
const (
	verifyHeaderSignature = "X-Slack-Signature"
	verifyHeaderTimestamp = "X-Slack-Request-Timestamp"
	verifyVersion         = "v0"
	verifyMaxSkew         = 5 * time.Minute
)

// verifySignature checks X-Slack-Signature
// (v0=hex(HMAC-SHA256(secret, "v0:"+ts+":"+body))) and
// X-Slack-Request-Timestamp (within 5 minutes of now, either direction),
// comparing in constant time (hmac.Equal). The clock is a parameter, unlike
// slack-go's SecretsVerifier, so that tests can use fixed vectors.
//
// Missing headers give errNoSignature, a timestamp too far from now gives
// errStaleRequest, and anything else wrong (a timestamp that is not whole
// seconds, a signature that is not "v0=" and 64 hex digits, or a mismatch)
// gives errBadSignature.
func verifySignature(secret string, now time.Time, h http.Header, body []byte) error {
	sig, ts := h.Get(verifyHeaderSignature), h.Get(verifyHeaderTimestamp)
	if sig == "" || ts == "" {
		return errNoSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errBadSignature
	}
	// Compare seconds with bounds around now: subtracting a hostile
	// timestamp, or turning it into a Duration, could overflow.
	window := int64(verifyMaxSkew / time.Second)
	if sec < now.Unix()-window || sec > now.Unix()+window {
		return errStaleRequest
	}
	hexSig, ok := strings.CutPrefix(sig, verifyVersion+"=")
	if !ok {
		return errBadSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return errBadSignature
	}
	if !hmac.Equal(got, verifyMAC(secret, ts, body)) {
		return errBadSignature
	}
	return nil
}

// signRequest is the inverse of verifySignature, for tests and the fake
// Slack: it returns the values of X-Slack-Request-Timestamp and
// X-Slack-Signature for body sent at ts.
func signRequest(secret string, ts time.Time, body []byte) (timestamp, signature string) {
	timestamp = strconv.FormatInt(ts.Unix(), 10)
	return timestamp, verifyVersion + "=" + hex.EncodeToString(verifyMAC(secret, timestamp, body))
}

// verifyMAC is HMAC-SHA256(secret, "v0:" + timestamp + ":" + body).
func verifyMAC(secret, timestamp string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(verifyVersion + ":" + timestamp + ":"))
	mac.Write(body)
	return mac.Sum(nil)
}

// Package webhook sends the audit trail to outgoing webhooks: each entry
// of the store's outbox is POSTed as a CloudEvents 1.0 JSON event to
// every endpoint that wants it, signed with the endpoint's secret, in
// order, retried until the endpoint takes it.
//
// The events are written from the CloudEvents 1.0 specification (the
// structured JSON mode) by hand: the project's SDK,
// github.com/cloudevents/sdk-go/v2, is not among the modules this build
// may use, and one struct is all that is needed of it.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"shipmate/internal/runbook"
)

// The headers of a delivery.
const (
	// ContentType is CloudEvents' structured JSON mode.
	ContentType = "application/cloudevents+json"
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the
	// body with the endpoint's secret (GitHub's scheme).
	SignatureHeader = "X-Shipmate-Signature"
	// DeliveryHeader carries the event's id, the same on every retry.
	DeliveryHeader = "X-Shipmate-Delivery"
)

// TypePrefix starts every event's type: dev.shipmate.run.transition for
// a run's transition, dev.shipmate.lock for a lock placed.
const TypePrefix = "dev.shipmate."

// Event is a CloudEvents 1.0 event in the structured JSON mode. Data is
// the audit entry, whose fields are the README's audit schema.
type Event struct {
	SpecVersion     string        `json:"specversion"`
	ID              string        `json:"id"`
	Source          string        `json:"source"`
	Type            string        `json:"type"`
	Time            time.Time     `json:"time"`
	Subject         string        `json:"subject,omitempty"`
	DataContentType string        `json:"datacontenttype"`
	Data            runbook.Audit `json:"data"`
}

// EventOf is the outbox entry e as an event from source. Its id is the
// entry's: receivers dedupe on source and id.
func EventOf(e runbook.OutboxEntry, source string) Event {
	a := e.Audit
	ev := Event{
		SpecVersion: "1.0", ID: e.ID, Source: source, Type: TypePrefix + a.Event,
		Time: a.At.UTC(), DataContentType: "application/json", Data: a,
	}
	if a.Run != 0 {
		ev.Type = TypePrefix + "run." + a.Event
		ev.Subject = "run/" + strconv.FormatUint(a.Run, 10)
	} else if a.App != "" {
		ev.Subject = "lock/" + a.App + "/" + a.Env
	}
	return ev
}

// Sign is the value of SignatureHeader for body signed with secret.
func Sign(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature (SignatureHeader's value) signs body
// with secret, in constant time: what a receiver written in Go does.
func Verify(body []byte, secret, signature string) bool {
	got, ok := strings.CutPrefix(signature, "sha256=")
	if !ok {
		return false
	}
	mac, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(mac, m.Sum(nil))
}

// encode is the body of a delivery of e.
func encode(e runbook.OutboxEntry, source string) ([]byte, error) {
	return json.Marshal(EventOf(e, source))
}

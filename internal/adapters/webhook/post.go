package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"shipmate/internal/backoff"
	"shipmate/internal/runbook"
)

// Results of a delivery attempt, the result label of
// shipmate_webhook_deliveries_total.
const (
	resultDelivered = "delivered" // 2xx: the endpoint has it
	resultFailed    = "failed"    // no answer, 5xx, 408 or 429: retried
	resultRefused   = "refused"   // another 4xx: the endpoint will never take it; skipped
)

// deliver POSTs e to ep until ep takes it (2xx) or refuses it for good
// (a 4xx but 408 and 429), backing off in between. It returns false only
// if ctx ended first.
func (d *Deliverer) deliver(ctx context.Context, ep *endpoint, e runbook.OutboxEntry) bool {
	body, err := encode(e, d.o.Source)
	if err != nil {
		// An audit entry always encodes; if one ever does not, it is
		// said, not silently lost.
		d.m.deliveries.WithLabelValues(ep.label, resultRefused).Inc()
		d.o.Log.Error().Err(err).Str("endpoint", ep.label).Str("id", e.ID).Msg("webhook: cannot encode the event; skipped")
		return true
	}
	wait := backoff.Backoff{Min: d.o.MinBackoff, Max: d.o.MaxBackoff}
	for attempt := 0; ctx.Err() == nil; attempt++ {
		status, after, err := d.post(ctx, ep, e.ID, body)
		log := d.o.Log.With().Str("endpoint", ep.label).Str("id", e.ID).Str("event", e.Audit.Event).Int("attempt", attempt+1).Logger()
		switch {
		case err == nil && status/100 == 2:
			d.m.deliveries.WithLabelValues(ep.label, resultDelivered).Inc()
			log.Debug().Int("status", status).Msg("webhook: delivered")
			return true
		case err == nil && status/100 == 4 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
			d.m.deliveries.WithLabelValues(ep.label, resultRefused).Inc()
			log.Error().Int("status", status).Msg("webhook: the endpoint refused the event; it is skipped, not retried")
			return true
		case ctx.Err() != nil:
			return false
		}
		d.m.deliveries.WithLabelValues(ep.label, resultFailed).Inc()
		in := wait.Next()
		if after >= 0 {
			in = after
		}
		ev := log.Warn().Dur("retry_in", in)
		if err != nil {
			ev = ev.Err(err)
		} else {
			ev = ev.Int("status", status)
		}
		ev.Msg("webhook: not delivered; retrying")
		if !backoff.Sleep(ctx, in) {
			return false
		}
	}
	return false
}

// post makes one attempt. It returns the status and how long the
// endpoint asked to wait (Retry-After; -1 if it did not say), or an error
// that names no URL: a URL's path may hold a token. An attempt under way
// when ctx ends has stopGrace more to finish, so that a bot that stops
// records what it delivered rather than sending it again.
func (d *Deliverer) post(ctx context.Context, ep *endpoint, id string, body []byte) (int, time.Duration, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.o.Timeout)
	defer cancel()
	defer context.AfterFunc(ctx, func() { time.AfterFunc(stopGrace, cancel) })()
	ctx = rctx
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, -1, errors.New("cannot make the request")
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "Shipmate-Webhook")
	req.Header.Set(SignatureHeader, Sign(body, ep.Secret))
	req.Header.Set(DeliveryHeader, id)
	resp, err := d.o.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, -1, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, d.retryAfter(resp), nil
}

// stopGrace is how long an attempt under way may go on once the
// deliverer is stopped.
const stopGrace = 2 * time.Second

// retryAfter reads a 429's or 503's Retry-After: seconds or an HTTP date,
// capped at maxRetryAfter; -1 when absent or unreadable.
func (d *Deliverer) retryAfter(resp *http.Response) time.Duration {
	v := resp.Header.Get("Retry-After")
	if v == "" || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return -1
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(d.o.Now()), 0), maxRetryAfter)
	}
	return -1
}

// metrics are the deliveries' metrics.
type metrics struct {
	deliveries *prometheus.CounterVec
	backlog    *prometheus.GaugeVec
	expired    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shipmate_webhook_deliveries_total",
			Help: "Attempts to deliver an event to a webhook, by endpoint (its host) and result: delivered, failed (retried) or refused (a 4xx: skipped).",
		}, []string{"endpoint", "result"}),
		backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shipmate_webhook_outbox_backlog",
			Help: "Events in the outbox not yet given to the endpoint (on the replica that delivers).",
		}, []string{"endpoint"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shipmate_webhook_expired_total",
			Help: "Events dropped from the outbox, past its maximum age, before every endpoint took them.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.backlog, m.expired} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"shipmate/internal/backoff"
	"shipmate/internal/commands"
	"shipmate/internal/runbook"
)

// Endpoint is one webhook: where events go, the secret that signs them,
// and which it wants (empty: all).
type Endpoint struct {
	URL    string
	Secret string
	Events []string
	Apps   []string
	Envs   []string
}

// Defaults of Options.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 5 * time.Minute
	DefaultPoll       = time.Second
	DefaultPruneEvery = time.Hour
	// DefaultMaxAge bounds how long an event waits for an endpoint that
	// does not take it: past it, upkeep drops it undelivered, and says so
	// at error level, so that a dead endpoint cannot grow the store for
	// ever.
	DefaultMaxAge = 7 * 24 * time.Hour
	// maxRetryAfter caps the wait an endpoint asks for with Retry-After.
	maxRetryAfter = time.Hour
	// batch is how many entries are read from the outbox at a time.
	batch = 100
)

// Options configure a Deliverer. Zero durations take the defaults.
type Options struct {
	Outbox    runbook.Outbox
	Endpoints []Endpoint
	// Source is every event's source: receivers dedupe on it and the id.
	Source string
	// Client sends the requests (default: a client of its own).
	Client *http.Client
	// Timeout bounds one POST.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before a retry, which
	// doubles from the first to the second, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// Poll is how often the outbox is read when it has nothing new.
	Poll time.Duration
	// PruneEvery is how often delivered entries are dropped from the
	// outbox, and those older than MaxAge whether delivered or not.
	PruneEvery time.Duration
	MaxAge     time.Duration
	Now        func() time.Time
	Log        zerolog.Logger
	// Registerer gets the deliveries' metrics (nil: none are exposed).
	Registerer prometheus.Registerer
}

// Deliverer sends the outbox's events to the endpoints, each on its own:
// an endpoint that is down delays only its own events, and runs never
// wait for any.
type Deliverer struct {
	o         Options
	endpoints []*endpoint
	m         *metrics
}

// endpoint is an Endpoint with the names it goes by.
type endpoint struct {
	Endpoint
	// cursor names its cursor in the store: a hash of its URL, so that
	// another URL is another endpoint, which starts afresh.
	cursor string
	// label names it in logs and metrics: its host, never its URL, whose
	// path may hold a token.
	label string
}

// New checks o and returns a Deliverer.
func New(o Options) (*Deliverer, error) {
	if o.Outbox == nil {
		return nil, errors.New("webhook: no outbox")
	}
	setDefaults(&o)
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	d := &Deliverer{o: o, m: m}
	hosts := map[string]int{}
	for i, e := range o.Endpoints {
		u, err := url.Parse(e.URL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("webhook: notify[%d]: not a URL", i)
		}
		sum := sha256.Sum256([]byte(e.URL))
		ep := &endpoint{Endpoint: e, cursor: "webhook-" + hex.EncodeToString(sum[:8]), label: u.Host}
		if hosts[u.Host]++; hosts[u.Host] > 1 {
			ep.label = fmt.Sprintf("%s#%d", u.Host, hosts[u.Host])
		}
		d.endpoints = append(d.endpoints, ep)
	}
	return d, nil
}

func setDefaults(o *Options) {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Timeout, DefaultTimeout)
	def(&o.MinBackoff, DefaultMinBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	def(&o.Poll, DefaultPoll)
	def(&o.PruneEvery, DefaultPruneEvery)
	def(&o.MaxAge, DefaultMaxAge)
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Start gives each endpoint new to the store its cursor, at the end of
// the outbox: a new endpoint gets what happens from now on, not the
// history. Call it before the bot changes anything, on every replica,
// so that nothing written after start-up is missed whoever delivers.
func (d *Deliverer) Start(ctx context.Context) error {
	for _, ep := range d.endpoints {
		if _, err := d.o.Outbox.StartCursor(ctx, ep.cursor); err != nil {
			return fmt.Errorf("webhook %s: start its cursor: %w", ep.label, err)
		}
	}
	return nil
}

// Run delivers until ctx ends, and drops from the outbox what every
// endpoint has been given. On etcd only the leader runs it, under its
// fenced context: the cursors are in the store, so the next leader goes
// on where this one stopped.
func (d *Deliverer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, ep := range d.endpoints {
		wg.Go(func() { d.serve(ctx, ep) })
	}
	t := time.NewTicker(d.o.PruneEvery)
	defer t.Stop()
	for {
		d.prune(ctx)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// prune drops delivered entries and those past MaxAge.
func (d *Deliverer) prune(ctx context.Context) {
	names := make([]string, len(d.endpoints))
	for i, ep := range d.endpoints {
		names[i] = ep.cursor
	}
	dropped, undelivered, err := d.o.Outbox.PruneOutbox(ctx, names, d.o.Now().Add(-d.o.MaxAge))
	switch {
	case err != nil && ctx.Err() == nil:
		d.o.Log.Warn().Err(err).Msg("webhook: drop delivered events from the outbox")
	case undelivered > 0:
		d.m.expired.Add(float64(undelivered))
		d.o.Log.Error().Int("events", undelivered).Dur("max_age", d.o.MaxAge).
			Msg("webhook: events older than the outbox keeps them were dropped before every endpoint took them")
	case dropped > 0:
		d.o.Log.Debug().Int("events", dropped).Msg("webhook: delivered events dropped from the outbox")
	}
}

// serve delivers to ep, in order, until ctx ends.
func (d *Deliverer) serve(ctx context.Context, ep *endpoint) {
	defer d.m.backlog.DeleteLabelValues(ep.label)
	var pos string
	if !d.retry(ctx, ep, "read its cursor", func() (err error) {
		pos, err = d.o.Outbox.StartCursor(ctx, ep.cursor)
		return err
	}) {
		return
	}
	for {
		entries, err := d.o.Outbox.OutboxAfter(ctx, pos, batch)
		if err != nil && ctx.Err() == nil {
			d.o.Log.Warn().Err(err).Str("endpoint", ep.label).Msg("webhook: read the outbox")
		}
		if n, err := d.o.Outbox.OutboxBacklog(ctx, pos); err == nil {
			d.m.backlog.WithLabelValues(ep.label).Set(float64(n))
		}
		if len(entries) == 0 {
			if !backoff.Sleep(ctx, d.o.Poll) {
				return
			}
			continue
		}
		last := pos
		for _, e := range entries {
			if ep.wants(e.Audit) {
				if !d.deliver(ctx, ep, e) {
					return
				}
				if !d.save(ctx, ep, e.Pos) {
					return
				}
				last = e.Pos
			}
			pos = e.Pos
		}
		// Past events it does not want, the cursor moves once a batch.
		if pos != last && !d.save(ctx, ep, pos) {
			return
		}
	}
}

// save stores ep's cursor at pos, retried until it is stored or ctx
// ends (false). Each write outlives ctx by up to saveTimeout, so that a
// bot that stops right after a delivery still records it and does not
// send it again; it keeps ctx's values, so a deposed leader's write is
// still refused.
func (d *Deliverer) save(ctx context.Context, ep *endpoint, pos string) bool {
	return d.retry(ctx, ep, "move its cursor", func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
		defer cancel()
		return d.o.Outbox.SetCursor(sctx, ep.cursor, pos)
	})
}

// saveTimeout bounds one write of a cursor.
const saveTimeout = 5 * time.Second

// retry calls f until it succeeds (true) or ctx ends (false), backing off
// in between.
func (d *Deliverer) retry(ctx context.Context, ep *endpoint, what string, f func() error) bool {
	wait := backoff.Backoff{Min: d.o.MinBackoff, Max: d.o.MaxBackoff}
	for {
		err := f()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		in := wait.Next()
		d.o.Log.Warn().Err(err).Str("endpoint", ep.label).Dur("retry_in", in).Msg("webhook: " + what)
		if !backoff.Sleep(ctx, in) {
			return false
		}
	}
}

// wants reports whether a is an event ep asked for. A lock on every app
// concerns each app.
func (ep *endpoint) wants(a runbook.Audit) bool {
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	allApps := a.Run == 0 && a.App == commands.AllApps
	return in(ep.Events, a.Event) && (allApps || in(ep.Apps, a.App)) && in(ep.Envs, a.Env)
}

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"shipmate/internal/adaptercfg"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/term"

	"shipmate/internal/adapters/discord"
	"shipmate/internal/adapters/metrics"
	slackadapter "shipmate/internal/adapters/slack"
	"shipmate/internal/adapters/webhook"
	"shipmate/internal/config"
	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// defaultTick is how often the engine's timers are checked.
const defaultTick = 5 * time.Second

// Main is the running bot: the store, the engine and the HTTP server, wired
// from the configuration.
type Main struct {
	cfg     *config.Config
	log     zerolog.Logger
	tick    time.Duration
	store   backend
	engine  *runbook.Engine
	metrics *metrics.Metrics
	health  *metrics.Health
	slack   *slackadapter.Adapter
	discord *discord.Adapter
	slackCh *slackadapter.Chat
	ln      net.Listener
	srv     *http.Server
	// console is the web console's own server, when chat.web.listen
	// gives it one.
	console   *http.Server
	consoleLn net.Listener
	readKey   string   // lets bot export read through the console; never logged
	onStop    []func() // run by Close (stops cluster informers)
	// replicas is set when the store is etcd: the bot is one of several.
	replicas *replicas
	// webhooks delivers the audit trail to the notify endpoints (nil:
	// none configured).
	webhooks *webhook.Deliverer
	// problems are lasting faults found at start, reported by /readyz.
	problems []string
	// background tracks what runs beside the main loop (chat adapters
	// still connecting, store upkeep); stopBackground ends it.
	background     sync.WaitGroup
	stopBackground context.CancelFunc
}

// Backoff of a chat adapter that cannot connect at start.
var (
	chatRetryFirst = 2 * time.Second
	chatRetryMax   = 2 * time.Minute
)

// unavailable stands in for an executor that could not be built: every
// step fails with the reason.
type unavailable struct{ err error }

func (u unavailable) Deploy(context.Context, runbook.Job, runbook.Progress) error   { return u.err }
func (u unavailable) Rollback(context.Context, runbook.Job, runbook.Progress) error { return u.err }

// NewMain opens the store, builds the adapters and the engine, and binds
// the listeners. Nothing runs until Run.
func NewMain(s *adaptercfg.Settings, log zerolog.Logger, tick time.Duration) (*Main, error) {
	m := &Main{cfg: s.Config, log: log, tick: tick, metrics: metrics.New(s.Policy.AppNames())}
	m.health = m.metrics.RegisterHealth(metrics.HealthSources{
		Components: m.components, Now: time.Now,
		Active: func(ctx context.Context) ([]*runbook.Run, error) { return m.store.ActiveRuns(ctx) },
	})
	executors, checkers, err := m.executors(s)
	if err != nil {
		return nil, err
	}
	if m.store, err = m.openStore(s); err != nil {
		return nil, err
	}
	if b, ok := m.store.(*store.Store); ok {
		res, err := b.CompactedAtOpen()
		store.LogCompaction(m.log, res, err)
	}
	if err := m.startWebhooks(s.Config); err != nil {
		_ = m.store.Close()
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	ch, err := m.chats(s)
	if err != nil {
		_ = m.store.Close()
		return nil, err
	}
	m.engine = runbook.New(runbook.Config{
		Store: m.store, Policy: &s.Policy, Executors: executors, Checkers: checkers, Chats: ch.chats, Groups: ch.groups,
		Log: log, Observer: m.metrics, Secrets: s.Secrets(), Follow: m.replicas != nil,
		Analyzer: m.analyzer(s),
	})
	m.metrics.SetLeader(m.replicas == nil)
	if err := m.startAdapters(s, ch); err != nil {
		_ = m.store.Close()
		return nil, err
	}
	if err := m.listen(m.routes(), ch.web); err != nil {
		_ = m.store.Close()
		return nil, err
	}
	return m, nil
}

// routes is the main listener's mux: probes, metrics and the chat
// platforms' endpoints (the console joins it in listen, unless it has a
// listener of its own).
func (m *Main) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", m.ready)
	mux.Handle("GET /metrics", m.metrics.Handler())
	if m.slack != nil && m.cfg.Chat.Slack.AppToken == "" {
		m.slack.Routes(mux)
	}
	if m.discord != nil {
		m.discord.Routes(mux)
	}
	return mux
}

// components says whether the store answers and each configured chat is
// connected (shipmate_up).
func (m *Main) components() map[string]error {
	out := map[string]error{"store": m.store.Ping()}
	if m.slack != nil {
		out["slack"] = m.slack.Ready()
	}
	if m.discord != nil {
		out["discord"] = m.discord.Ready()
	}
	return out
}

// ready answers /readyz: the store is open and readable and the bot is not
// draining.
func (m *Main) ready(w http.ResponseWriter, r *http.Request) {
	problems := append([]string(nil), m.problems...)
	if err := m.store.Ping(); err != nil {
		problems = append(problems, "store: "+err.Error())
	}
	if m.engine.Draining() {
		problems = append(problems, "draining")
	}
	if m.slack != nil {
		if err := m.slack.Ready(); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if m.discord != nil {
		if err := m.discord.Ready(); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		http.Error(w, strings.Join(problems, "\n"), http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ready\n"+m.role(r.Context()))
}

// Run resumes unfinished runs, serves until ctx ends, then drains: no new
// runs start, running steps finish, approved and monitored runs stay parked
// in the store for the next start.
func (m *Main) Run(ctx context.Context) error {
	if m.replicas == nil {
		if err := m.engine.Resume(ctx); err != nil {
			return err
		}
	}
	serveErr := make(chan error, 2)
	m.serve(serveErr)
	// Chat services connect once the server listens (Discord checks an
	// interactions endpoint by calling it), each on its own, retried until
	// it works: one being down must keep neither the console nor the
	// other chat down, nor stay off until a restart. /readyz says which
	// is not connected yet.
	// Background work ends with stopBackground, not with ctx: a leader's
	// work goes on while it drains.
	bctx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	m.stopBackground = stopBackground
	if m.slack != nil {
		m.startChat(bctx, "slack", m.slack.Start)
	}
	if m.discord != nil {
		m.startChat(bctx, "discord", m.discord.Start)
	}
	m.background.Go(func() { m.runUpkeep(bctx) })
	m.background.Go(func() { m.runWebhooks(bctx) })
	m.background.Go(func() { m.publishDORA(bctx) })
	if m.replicas != nil {
		// The leader resumes the runs when it is elected.
		m.background.Go(func() { m.campaign(bctx) })
		m.background.Go(func() { m.watch(bctx) })
	}

	t := time.NewTicker(m.tick)
	defer t.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-serveErr:
			return fmt.Errorf("http server: %w", err)
		case <-t.C:
			if err := m.engine.Tick(ctx); err != nil && ctx.Err() == nil {
				m.log.Error().Err(err).Msg("tick")
			}
		}
	}

	// Running steps finish first: a leader among replicas keeps the lead
	// (and its lease) meanwhile, and resigns after, so that another
	// replica takes over at once rather than when the lease expires.
	m.engine.Drain()
	m.log.Info().Msg("waiting for running steps to finish")
	if err := m.engine.Wait(context.Background()); err != nil {
		return err
	}
	m.stopBackground()
	m.background.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if m.slackCh != nil {
		// Messages still being paced out (the last state of each run).
		if err := m.slackCh.Flush(sctx); err != nil {
			m.log.Warn().Err(err).Msg("slack: not every message update was sent")
		}
	}
	return m.shutdown(sctx)
}

// pruneEvery is how often the store drops what it no longer needs.
const pruneEvery = time.Hour

// keepPerEnv is how many of the newest runs of each app and environment
// the retention keeps whatever their age.
const keepPerEnv = 10

// startChat runs start in the background until it succeeds or ctx ends,
// waiting longer after each failure.
func (m *Main) startChat(ctx context.Context, name string, start func(context.Context) error) {
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		wait := chatRetryFirst
		for {
			err := start(ctx)
			if err == nil || ctx.Err() != nil {
				return
			}
			m.log.Error().Err(err).Str("chat", name).Dur("retry_in", wait).Msg("chat: cannot connect; retrying")
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
			wait = min(2*wait, chatRetryMax)
		}
	}()
}

// Close releases everything; work still running is cut off unrecorded and
// resumes (or ends as interrupted) at the next start.
func (m *Main) Close() {
	if m.stopBackground != nil {
		m.stopBackground()
	}
	m.background.Wait()
	_ = m.srv.Close()
	if m.console != nil {
		_ = m.console.Close()
	}
	m.engine.Close()
	if m.slack != nil {
		m.slack.Close()
	}
	if m.discord != nil {
		m.discord.Close()
	}
	if m.slackCh != nil {
		m.slackCh.Close()
	}
	for _, f := range m.onStop {
		f()
	}
	if !isEtcd(m.cfg.Store) {
		_ = os.Remove(addrFile(m.cfg.Store))
	}
	if err := m.store.Close(); err != nil {
		m.log.Error().Err(err).Msg("close store")
	}
}

// Addr is the address the server listens on.
func (m *Main) Addr() string { return m.ln.Addr().String() }

// newLogger logs JSON, or a readable console format on a terminal.
func newLogger(level string, w io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Logger{}, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		w = zerolog.ConsoleWriter{Out: f, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

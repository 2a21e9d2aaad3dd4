package discord

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"shipmate/internal/backoff"
)

// gatewayOpenTimeout bounds opening the gateway when Start's context has
// no deadline of its own.
const gatewayOpenTimeout = 30 * time.Second

// openGateway opens the gateway session within ctx. discordgo's Open takes
// no context and reads Hello and READY without a deadline, so the
// connections it dials while opening are closed if ctx ends first.
func (a *Adapter) openGateway(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, gatewayOpenTimeout)
	defer cancel()
	var mu sync.Mutex
	var conns []net.Conn
	opening := true
	d := *websocket.DefaultDialer
	d.NetDialContext = func(dctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if opening {
			conns = append(conns, c)
		}
		return c, nil
	}
	a.s.Dialer = &d
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	err := a.s.Open()
	stopped := stop()
	mu.Lock()
	opening, conns = false, nil
	mu.Unlock()
	if !stopped {
		if err == nil {
			_ = a.s.Close() // its connection was closed under it
		}
		return fmt.Errorf("no answer in time: %w", context.Cause(ctx))
	}
	return err
}

// maxInteractions bounds the gateway interactions handled at once:
// discordgo hands each to a goroutine of its own, and a flood of them must
// not start unbounded work.
const maxInteractions = 32

// gatewayHandlers follows the gateway session: its interactions, and its
// connection for readiness and reconnecting. discordgo's own reconnecting
// is off: it sleeps up to 10 minutes between attempts, cannot be stopped,
// and waits for the gateway's Hello without a deadline.
func (a *Adapter) gatewayHandlers() {
	a.s.ShouldReconnectOnError = false
	a.dropped = make(chan struct{}, 1)
	a.s.AddHandler(func(_ *discordgo.Session, ic *discordgo.InteractionCreate) { a.gatewayInteraction(ic.Interaction) })
	a.s.AddHandler(func(_ *discordgo.Session, _ *discordgo.Connect) { a.online.Store(true) })
	a.s.AddHandler(func(_ *discordgo.Session, _ *discordgo.Disconnect) {
		a.online.Store(false)
		select {
		case a.dropped <- struct{}{}:
		default: // a reconnect is due already
		}
	})
}

// keepGateway opens the gateway again whenever its connection ends, after
// a backoff, until Close.
func (a *Adapter) keepGateway() {
	ctx, stop := context.WithCancel(context.Background())
	a.stop = stop
	a.keeping.Add(1)
	go func() {
		defer a.keeping.Done()
		b := backoff.Backoff{Min: a.opt.ReconnectMin, Max: a.opt.ReconnectMax}
		for {
			select {
			case <-ctx.Done():
				return
			case <-a.dropped:
			}
			a.opt.Log.Warn().Msg("discord: gateway disconnected; reconnecting")
			for !a.reopen(ctx) {
				if !b.Wait(ctx) {
					return
				}
			}
			b.Reset()
		}
	}()
}

// reopen opens the gateway, and reports whether it is open. A session
// open already (the drop was stale) counts.
func (a *Adapter) reopen(ctx context.Context) bool {
	err := a.openGateway(ctx)
	switch {
	case ctx.Err() != nil:
		return true // closing: nothing to reopen
	case err == nil, errors.Is(err, discordgo.ErrWSAlreadyOpen):
		a.online.Store(true)
		a.opt.Log.Info().Msg("discord: gateway reconnected")
		return true
	}
	a.opt.Log.Warn().Err(err).Msg("discord: reopen the gateway")
	return false
}

// gatewayInteraction answers an interaction received over the gateway
// through the callback endpoint. discordgo calls it on a goroutine of its
// own; Close waits for it, and once closed the adapter takes no more.
func (a *Adapter) gatewayInteraction(ic *discordgo.Interaction) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		a.opt.Log.Info().Str("interaction", ic.ID).Msg("discord: shutting down; an interaction was left unanswered")
		return
	}
	a.wg.Add(1)
	a.mu.Unlock()
	defer a.wg.Done()
	a.slots <- struct{}{}
	defer func() { <-a.slots }()
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	resp, later := a.handle(ctx, ic)
	cancel()
	// The answer has its own time: work that ran late must still be told.
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.s.InteractionRespond(ic, resp, discordgo.WithContext(ctx)); err != nil {
		a.opt.Log.Warn().Err(err).Msg("discord: answer an interaction")
	}
	a.after(later)
}

// discordgo logs through a package variable; its lines (gateway errors,
// reconnects) go to the latest adapter's logger instead of stderr.
var (
	dgLogOnce sync.Once
	dgLog     atomic.Pointer[zerolog.Logger]
)

func discordgoLogger(l zerolog.Logger) {
	dgLog.Store(&l)
	dgLogOnce.Do(func() {
		discordgo.Logger = func(level, _ int, format string, a ...any) {
			l := dgLog.Load()
			ev := l.Debug()
			switch level {
			case discordgo.LogError:
				ev = l.Warn()
			case discordgo.LogWarning, discordgo.LogInformational:
				ev = l.Info()
			}
			ev.Str("from", "discordgo").Msg(fmt.Sprintf(format, a...))
		}
	})
}

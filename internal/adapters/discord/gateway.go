package discord

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
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

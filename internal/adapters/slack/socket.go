package slack

import (
	"context"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"shipmate/internal/backoff"
)

// maxSocketEvents bounds the Socket Mode events handled at once: one slow
// command or click must not hold up everyone else's, nor may a flood of
// them start unbounded work.
const maxSocketEvents = 32

// runSocketMode receives slash commands, interactions and events over
// Socket Mode and handles them as the HTTP endpoints do; the ack carries a
// slash command's ephemeral reply. slack-go reconnects by itself after a
// dropped connection, but gives up (RunContext returns) when opening one
// fails for good (a refused token, a 404): then it is started again after
// a backoff, for as long as ctx lasts.
func (a *Adapter) runSocketMode(ctx context.Context) {
	client := socketmode.New(a.opt.API)
	var handlers sync.WaitGroup
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.keepSocket(ctx, client)
	}()
	slots := make(chan struct{}, maxSocketEvents)
	defer handlers.Wait()
	for {
		var evt socketmode.Event
		select {
		case <-ctx.Done():
			a.connected.Store(false)
			<-done // the websocket is closed
			return
		case evt = <-client.Events:
		}
		if a.connectionEvent(evt) || evt.Request == nil {
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			defer func() { <-slots }()
			a.socketEvent(ctx, client, evt)
		}()
	}
}

// keepSocket runs Socket Mode until ctx ends, starting it again after a
// backoff whenever it stops; the backoff starts over once connected.
func (a *Adapter) keepSocket(ctx context.Context, client *socketmode.Client) {
	b := backoff.Backoff{Min: a.opt.ReconnectMin, Max: a.opt.ReconnectMax}
	for {
		before := a.connects.Load()
		err := client.RunContext(ctx)
		if ctx.Err() != nil {
			return
		}
		a.connected.Store(false)
		if a.connects.Load() != before {
			b.Reset()
		}
		wait := b.Next()
		a.opt.Log.Error().Err(err).Dur("retry_in", wait).Msg("slack: socket mode stopped; reconnecting")
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// connectionEvent follows the state of the connection, for Ready, and
// reports whether evt was about it.
func (a *Adapter) connectionEvent(evt socketmode.Event) bool {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		a.connects.Add(1)
		a.connected.Store(true)
		a.opt.Log.Info().Msg("slack: socket mode connected")
	case socketmode.EventTypeConnecting, socketmode.EventTypeDisconnect:
		a.connected.Store(false)
	case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth:
		a.connected.Store(false)
		a.opt.Log.Warn().Str("event", string(evt.Type)).Msg("slack: socket mode connection problem")
	default:
		return false
	}
	return true
}

// socketEvent handles one request: a command, click or event, each
// acknowledged once carried out (and stored).
func (a *Adapter) socketEvent(ctx context.Context, client *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeSlashCommand:
		sc, ok := evt.Data.(slack.SlashCommand)
		if !ok {
			return
		}
		text := a.command(ctx, sc)
		var payload any
		if text != "" {
			payload = ephemeral(text)
		}
		a.ack(client, evt, payload)
	case socketmode.EventTypeInteractive:
		ic, ok := evt.Data.(slack.InteractionCallback)
		if !ok {
			return
		}
		refusals := a.interaction(ctx, ic)
		a.ack(client, evt, nil)
		a.tellLater(ic, refusals)
	case socketmode.EventTypeEventsAPI:
		ev, ok := evt.Data.(slackevents.EventsAPIEvent)
		m, isMention := mentionOf(ev)
		if !ok || ev.Type != slackevents.CallbackEvent || !isMention {
			a.ack(client, evt, nil)
			return
		}
		reply, err := a.mention(ctx, m)
		// Unacknowledged, an event is delivered again: so is one whose
		// command failed inside Shipmate.
		if err == nil {
			a.ack(client, evt, nil)
		}
		a.tellMention(m, reply)
	}
}

func (a *Adapter) ack(client *socketmode.Client, evt socketmode.Event, payload any) {
	// An ack waits for the connection to take it; one that cannot be
	// sent in Slack's 3 seconds is not worth more.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := client.AckCtx(ctx, evt.Request.EnvelopeID, payload); err != nil {
		a.opt.Log.Warn().Err(err).Msg("slack: socket mode ack")
	}
}

// contextWithTimeout bounds work done after an ack.
func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

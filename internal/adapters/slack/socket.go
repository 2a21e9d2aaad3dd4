package slack

import (
	"context"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// runSocketMode receives slash commands, interactions and events over
// Socket Mode and handles them as the HTTP endpoints do; the ack carries a
// slash command's ephemeral reply.
func (a *Adapter) runSocketMode(ctx context.Context) {
	client := socketmode.New(a.opt.API)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := client.RunContext(ctx); err != nil && ctx.Err() == nil {
			a.opt.Log.Error().Err(err).Msg("slack: socket mode stopped")
		}
	}()
	for {
		var evt socketmode.Event
		select {
		case <-ctx.Done():
			a.connected.Store(false)
			<-done // the websocket is closed
			return
		case evt = <-client.Events:
		}
		a.socketEvent(ctx, client, evt)
	}
}

func (a *Adapter) socketEvent(ctx context.Context, client *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		a.connected.Store(true)
		a.opt.Log.Info().Msg("slack: socket mode connected")
	case socketmode.EventTypeConnecting, socketmode.EventTypeDisconnect:
		a.connected.Store(false)
	case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth:
		a.connected.Store(false)
		a.opt.Log.Warn().Str("event", string(evt.Type)).Msg("slack: socket mode connection problem")
	case socketmode.EventTypeSlashCommand:
		sc, ok := evt.Data.(slack.SlashCommand)
		if !ok || evt.Request == nil {
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
		if !ok || evt.Request == nil {
			return
		}
		refusals := a.interaction(ctx, ic)
		a.ack(client, evt, nil)
		a.tellLater(ic, refusals)
	case socketmode.EventTypeEventsAPI:
		ev, ok := evt.Data.(slackevents.EventsAPIEvent)
		m, isMention := mentionOf(ev)
		if !ok || ev.Type != slackevents.CallbackEvent || !isMention {
			if evt.Request != nil {
				a.ack(client, evt, nil)
			}
			return
		}
		reply, err := a.mention(ctx, m)
		// Unacknowledged, an event is delivered again: so is one whose
		// command failed inside Shipmate.
		if err == nil && evt.Request != nil {
			a.ack(client, evt, nil)
		}
		a.tellMention(m, reply)
	}
}

func (a *Adapter) ack(client *socketmode.Client, evt socketmode.Event, payload any) {
	var err error
	if payload == nil {
		err = client.Ack(*evt.Request)
	} else {
		err = client.Ack(*evt.Request, payload)
	}
	if err != nil {
		a.opt.Log.Warn().Err(err).Msg("slack: socket mode ack")
	}
}

// contextWithTimeout bounds work done after an ack.
func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

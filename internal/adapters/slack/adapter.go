// Package slack connects Shipmate to Slack: slash commands, interactive
// checklists and buttons, run messages edited in place, over signed HTTP
// requests or Socket Mode.
package slack

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"shipmate/internal/chat"
	"shipmate/internal/runbook"
)

// Platform is the name Slack users and runs carry.
const Platform = "slack"

// Options configure the adapter.
type Options struct {
	API           *slack.Client
	SigningSecret string
	// SocketMode receives events over Socket Mode (the API client must
	// carry the app-level token) instead of the HTTP endpoints.
	SocketMode bool
	Engine     chat.Engine
	Runs       chat.Runs
	Deduper    chat.Deduper
	Chat       *Chat
	Directory  *Directory
	Clock      func() time.Time
	Log        zerolog.Logger
	// ReconnectMin and ReconnectMax space out the attempts to start
	// Socket Mode again after it stopped (default 1 s doubling to 1 min).
	ReconnectMin, ReconnectMax time.Duration
}

// Adapter handles Slack's requests and events.
type Adapter struct {
	opt       Options
	h         *chat.Handler
	connected atomic.Bool  // Socket Mode is connected, or HTTP mode checked its token
	connects  atomic.Int64 // Socket Mode connections made
	wg        sync.WaitGroup

	mu   sync.Mutex
	stop context.CancelFunc // ends Socket Mode; set by Start
}

// maxBody is the most Slack sends in one request that Shipmate reads.
const maxBody = 1 << 20

// New returns the adapter. Call Start before serving.
func New(opt Options) *Adapter {
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	return &Adapter{opt: opt, h: &chat.Handler{Platform: Platform, Engine: opt.Engine, Runs: opt.Runs,
		Deduper: opt.Deduper, Now: opt.Clock, Log: opt.Log}}
}

// Start checks the bot token with auth.test; in Socket Mode it also
// connects and keeps serving events until ctx ends or Close is called.
func (a *Adapter) Start(ctx context.Context) error {
	res, err := a.opt.API.AuthTestContext(ctx)
	if err != nil {
		return fmt.Errorf("slack: auth.test: %w", err)
	}
	a.opt.Log.Info().Str("team", res.Team).Str("bot", res.User).Bool("socket_mode", a.opt.SocketMode).Msg("slack: connected")
	if !a.opt.SocketMode {
		a.connected.Store(true)
		return nil
	}
	// Close must stop Socket Mode even when ctx goes on (cmd/bot closes
	// after its server failed, with ctx still live).
	ctx, stop := context.WithCancel(ctx)
	a.mu.Lock()
	a.stop = stop
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.runSocketMode(ctx)
	}()
	return nil
}

// Ready reports whether Slack can reach Shipmate (for /readyz).
func (a *Adapter) Ready() error {
	if !a.connected.Load() {
		if a.connects.Load() > 0 {
			return errors.New("slack: socket mode disconnected; reconnecting")
		}
		return errors.New("slack: not connected")
	}
	return nil
}

// Close stops Socket Mode and waits for it, and for replies still being
// sent.
func (a *Adapter) Close() {
	a.mu.Lock()
	stop := a.stop
	a.mu.Unlock()
	if stop != nil {
		stop()
	}
	a.wg.Wait()
}

// user returns the Slack user as the engine knows them: by id alone. The
// names a user picks in their profile could name anyone; messages show the
// id as a mention, which Slack itself draws with the current name.
func user(id string) runbook.User { return runbook.User{Platform: Platform, ID: id} }

// command runs a slash command and returns the text only its user sees.
// A repeated delivery returns "" and does nothing.
func (a *Adapter) command(ctx context.Context, sc slack.SlashCommand) string {
	ctx, first := a.h.First(ctx, "cmd", sc.TriggerID)
	if !first {
		return ""
	}
	reply, _, err := a.h.Command(ctx, user(sc.UserID), sc.ChannelID, sc.Command, html.UnescapeString(sc.Text))
	if a.h.Settle(ctx, "cmd", sc.TriggerID, err) {
		return ""
	}
	return reply
}

// interaction carries out the block actions of one click and returns the
// refusals to show the user; it has stored every accepted action when it
// returns.
func (a *Adapter) interaction(ctx context.Context, ic slack.InteractionCallback) []string {
	if ic.Type != slack.InteractionTypeBlockActions {
		return nil
	}
	// A retried delivery carries the same trigger_id; a second click has
	// its own, and the engine's state checks refuse what it repeats.
	key := ic.TriggerID
	if key == "" && len(ic.ActionCallback.BlockActions) > 0 && ic.ActionCallback.BlockActions[0].ActionTs != "" {
		key = ic.User.ID + ":" + ic.ActionCallback.BlockActions[0].ActionTs
	}
	ctx, first := a.h.First(ctx, "act", key)
	if !first {
		return nil
	}
	u := user(ic.User.ID)
	var refusals []string
	var failed error  // the first internal failure: the click's retry must act
	var refused error // the first refusal: the click's retry is dropped
	for _, act := range ic.ActionCallback.BlockActions {
		var err error
		switch {
		case strings.HasPrefix(act.ActionID, actionChecklist):
			err = a.checklist(ctx, u, act, shownTicks(ic.Message.Blocks, act.BlockID, act.ActionID))
		default:
			// A button's value is the run's id, then what it binds to.
			idText, seen, _ := strings.Cut(act.Value, ":")
			id, perr := strconv.ParseUint(idText, 10, 64)
			if perr != nil {
				err = runbook.Errorf(runbook.EInvalid, "this button does not name a run")
				break
			}
			err = a.h.Act(ctx, u, id, runbook.ButtonAction(act.ActionID), seen)
		}
		if errors.Is(err, runbook.ErrDuplicateDelivery) {
			// A concurrent delivery of this click stored it first.
			a.h.Settle(ctx, "act", key, err)
			return nil
		}
		if err != nil {
			refusals = append(refusals, runbook.ErrorMessage(err))
		}
		switch code := runbook.ErrorCode(err); {
		case failed == nil && code == runbook.EInternal:
			failed = err
		case refused == nil && err != nil && code != runbook.EInternal:
			refused = err
		}
	}
	if failed == nil {
		failed = refused
	}
	if a.h.Settle(ctx, "act", key, failed) {
		// Refused because the same click, delivered again at once, acted
		// first: that one answers.
		return nil
	}
	return refusals
}

// appMention is "@Shipmate deploy demo v1 staging" in a channel: an
// app_mention event, carried out as the slash command it names.
type appMention struct{ eventID, channel, user, text string }

// mentionOf returns the app_mention an Events API event carries.
func mentionOf(ev slackevents.EventsAPIEvent) (appMention, bool) {
	m, ok := ev.InnerEvent.Data.(*slackevents.AppMentionEvent)
	if !ok {
		return appMention{}, false
	}
	eventID := ""
	if cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent); ok {
		eventID = cb.EventID
	}
	return appMention{eventID: eventID, channel: m.Channel, user: m.User, text: m.Text}, true
}

// mention carries out m the way a slash command is, before the event is
// acknowledged: its delivery is remembered once the command is stored or
// refused, and forgotten when it failed inside Shipmate, which err then
// is (the event is not acknowledged, so that Slack delivers it again). It
// returns what m's user is to be told.
func (a *Adapter) mention(ctx context.Context, m appMention) (reply string, err error) {
	ctx, first := a.h.First(ctx, "event", m.eventID)
	if !first {
		return "", nil
	}
	// Drop the leading <@BOT> mention; what follows is a command.
	text := strings.TrimSpace(m.text)
	if strings.HasPrefix(text, "<@") {
		if i := strings.Index(text, ">"); i >= 0 {
			text = strings.TrimSpace(text[i+1:])
		}
	}
	command, rest, _ := strings.Cut(text, " ")
	command = "/" + strings.TrimPrefix(command, "/")
	reply, handled, err := a.h.Command(ctx, user(m.user), m.channel, command, html.UnescapeString(rest))
	if a.h.Settle(ctx, "event", m.eventID, err) {
		return "", nil
	}
	if !handled {
		reply = "Mention me with a command, e.g. `@Shipmate deploy demo v1.2.0 staging`, or try `/deploy help`."
	}
	if runbook.ErrorCode(err) != runbook.EInternal {
		err = nil
	}
	return reply, err
}

// tellMention sends the reply to a mention, in the background, only to
// the user who mentioned Shipmate.
func (a *Adapter) tellMention(m appMention, reply string) {
	if reply == "" || a.opt.Chat == nil {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := contextWithTimeout()
		defer cancel()
		if err := a.opt.Chat.Ephemeral(ctx, m.channel, m.user, reply); err != nil {
			a.opt.Log.Warn().Err(err).Msg("slack: ephemeral reply to a mention")
		}
	}()
}

// tellLater sends refusals of a click after Slack has its ack: through the
// interaction's response_url when there is one, else as an ephemeral
// message.
func (a *Adapter) tellLater(ic slack.InteractionCallback, refusals []string) {
	if len(refusals) == 0 {
		return
	}
	text := strings.Join(refusals, "\n")
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		if ic.ResponseURL != "" {
			err = a.respond(ctx, ic.ResponseURL, text)
		} else if a.opt.Chat != nil {
			err = a.opt.Chat.Ephemeral(ctx, ic.Channel.ID, ic.User.ID, text)
		}
		if err != nil {
			a.opt.Log.Warn().Err(err).Msg("slack: tell the user")
		}
	}()
}

// respond posts an ephemeral message to an interaction's response_url.
func (a *Adapter) respond(ctx context.Context, url, text string) error {
	return slack.PostWebhookContext(ctx, url, &slack.WebhookMessage{
		Text: text, ResponseType: slack.ResponseTypeEphemeral, ReplaceOriginal: false,
	})
}

// httpError answers a request Shipmate refuses to read.
func httpError(w http.ResponseWriter, code int, msg string) {
	http.Error(w, msg, code)
}

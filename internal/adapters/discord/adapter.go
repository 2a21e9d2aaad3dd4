// Package discord connects Shipmate to Discord: the /deploy and /rollback
// application commands, run messages with a checklist select and buttons
// edited in place, step output in a thread. Interactions arrive as signed
// HTTP requests (when the app's public key is configured) or over the
// gateway.
package discord

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/rs/zerolog"

	"shipmate/internal/chat"
	"shipmate/internal/runbook"
)

// Platform is the name Discord users and runs carry.
const Platform = "discord"

// Options configure the adapter.
type Options struct {
	Config  Config
	Engine  chat.Engine
	Runs    chat.Runs
	Deduper chat.Deduper
	// Apps and Envs (names and aliases) become the commands' choices.
	Apps []string
	Envs []runbook.Environment
	// AnnounceEnv is the environment whose runs are summarised in the
	// configured announce channel (the bot passes the last one,
	// production).
	AnnounceEnv string
	// Announce routes summaries per environment and app; the configured
	// announce channel is the default of AnnounceEnv.
	Announce chat.Announce
	// Refs remembers where each run's summary is, so that a restarted bot
	// goes on editing it (nil: in memory only).
	Refs  chat.RefStore
	Clock func() time.Time
	Log   zerolog.Logger
	// HTTPClient makes the REST calls (default: one with a 30 s timeout).
	HTTPClient *http.Client
	// MinEditInterval is the least time between two edits of one message
	// (default 1 s).
	MinEditInterval time.Duration
	// ReconnectMin and ReconnectMax space out the attempts to open the
	// gateway again after it dropped (default 1 s doubling to 1 min).
	ReconnectMin, ReconnectMax time.Duration
}

// Adapter handles Discord's interactions and owns the REST session.
type Adapter struct {
	opt     Options
	s       *discordgo.Session
	chat    *chat.Chat
	h       *chat.Handler
	pubKey  []byte
	ready   atomic.Bool
	gateway atomic.Bool        // the gateway session is open
	online  atomic.Bool        // and connected (false while it reconnects)
	dropped chan struct{}      // the gateway connection ended
	slots   chan struct{}      // interactions being handled, at most maxInteractions
	stop    context.CancelFunc // ends reconnecting; set by Start
	keeping sync.WaitGroup     // the reconnecting goroutine
	mu      sync.Mutex         // guards closed with wg.Add
	wg      sync.WaitGroup
	closed  bool
}

// Timing of interactions.
const (
	// maxSkew is how far a request's timestamp may be from now.
	maxSkew = 5 * time.Minute
	// maxBody is the most Shipmate reads of one request.
	maxBody = 1 << 20
)

// New returns the adapter. Call Start before serving.
func New(opt Options) (*Adapter, error) {
	if err := opt.Config.Validate(); err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	if !opt.Config.Enabled() {
		return nil, errors.New("discord: bot_token is not set")
	}
	if opt.Engine == nil || opt.Runs == nil {
		return nil, errors.New("discord: Engine and Runs are required")
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	s, err := discordgo.New("Bot " + opt.Config.BotToken)
	if err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	s.Client = apiClient(opt.HTTPClient, opt.Config.APIURL)
	// Rate limits are handled here (waited out with ctx, or by the edit
	// pacer), not by discordgo's sleep, which no ctx ends.
	s.ShouldRetryOnRateLimit = false
	s.Identify.Intents = discordgo.IntentsGuilds
	discordgoLogger(opt.Log)
	a := &Adapter{opt: opt, s: s, slots: make(chan struct{}, maxInteractions), chat: newChat(s, opt.Log, chatOptions{
		minInterval: opt.MinEditInterval, announceChannel: opt.Config.AnnounceChannel, announceEnv: opt.AnnounceEnv,
		announce: opt.Announce, guildID: opt.Config.GuildID, refs: opt.Refs}),
		h: &chat.Handler{Platform: Platform, Engine: opt.Engine, Runs: opt.Runs, Deduper: opt.Deduper, Now: opt.Clock, Log: opt.Log}}
	if opt.Config.PublicKey != "" {
		a.pubKey = mustHex(opt.Config.PublicKey)
	} else {
		a.gatewayHandlers()
	}
	return a, nil
}

// Chat returns the adapter's runbook.Chat, which also implements
// runbook.Threader.
func (a *Adapter) Chat() runbook.Chat { return a.chat }

// Start registers the application commands (in the guild, if one is
// configured, else globally) and, without a public key, opens the gateway
// session and serves its interactions.
func (a *Adapter) Start(ctx context.Context) error {
	cmds := applicationCommands(a.opt.Apps, a.opt.Envs)
	err := a.chat.Try(ctx, func(ctx context.Context) error {
		_, err := a.s.ApplicationCommandBulkOverwrite(a.opt.Config.ApplicationID, a.opt.Config.GuildID, cmds,
			discordgo.WithContext(ctx))
		return err
	})
	if err != nil {
		return fmt.Errorf("discord: register commands: %w", err)
	}
	if a.pubKey == nil {
		if err := a.openGateway(ctx); err != nil {
			return fmt.Errorf("discord: open gateway: %w", err)
		}
		a.online.Store(true)
		a.keepGateway() // before gateway is set: Close then stops it
		a.gateway.Store(true)
	}
	a.ready.Store(true)
	a.opt.Log.Info().Str("guild", a.opt.Config.GuildID).Bool("gateway", a.pubKey == nil).Msg("discord: commands registered")
	a.opt.Log.Info().Str("invite", InviteURL(a.opt.Config.ApplicationID)).Msg("discord: add the bot to a server with this link")
	return nil
}

// Ready reports whether Discord can reach Shipmate (for /readyz).
func (a *Adapter) Ready() error {
	if !a.ready.Load() {
		return errors.New("discord: not started")
	}
	if a.gateway.Load() && !a.online.Load() {
		return errors.New("discord: gateway disconnected; reconnecting")
	}
	return nil
}

// Close closes the gateway, waits for follow-ups in flight and closes the
// chat, which sends the edits still queued.
func (a *Adapter) Close() {
	a.mu.Lock()
	was := a.closed
	a.closed = true
	a.mu.Unlock()
	if was {
		return
	}
	if a.gateway.Load() {
		// Stop reconnecting first, so that no connection opens after this
		// one is closed.
		a.stop()
		a.keeping.Wait()
		_ = a.s.Close()
	}
	a.wg.Wait()
	a.chat.Close()
}

// after runs what follows an answer (a follow-up) in the background.
func (a *Adapter) after(later func(ctx context.Context)) {
	if later == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		later(ctx)
	}()
}

// handle carries out one interaction and returns the answer, due within
// 3 s, and what to do after answering (nil: nothing). Every accepted action
// is stored when it returns.
func (a *Adapter) handle(ctx context.Context, ic *discordgo.Interaction) (*discordgo.InteractionResponse, func(context.Context)) {
	switch ic.Type {
	case discordgo.InteractionPing:
		return &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong}, nil
	case discordgo.InteractionApplicationCommand:
		ctx, first := a.h.First(ctx, "", ic.ID)
		if !first {
			return ephemeral(receivedAlready), nil
		}
		reply, err := a.command(ctx, ic)
		if a.h.Settle(ctx, "", ic.ID, err) {
			return ephemeral(receivedAlready), nil
		}
		return ephemeral(reply), nil
	case discordgo.InteractionMessageComponent:
		ctx, first := a.h.First(ctx, "", ic.ID)
		if !first {
			return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}, nil
		}
		return a.component(ctx, ic)
	}
	return ephemeral("Shipmate does not handle that kind of interaction."), nil
}

// receivedAlready answers a repeated delivery of a command.
const receivedAlready = "That request was received already."

// command runs a slash command and returns what only its user sees, and
// the refusal or failure it tells of.
func (a *Adapter) command(ctx context.Context, ic *discordgo.Interaction) (string, error) {
	command, text, ok := commandText(ic.ApplicationCommandData())
	if !ok {
		return chat.UnknownCommand, nil
	}
	reply, _, err := a.h.Command(ctx, user(ic), ic.ChannelID, command, text)
	if reply == "" {
		return "Done.", err // Discord wants some content
	}
	return reply, err
}

// component carries out a button press or checklist selection. On the
// run's message the answer is a deferred update (the engine edits the
// message), with refusals as an ephemeral follow-up. A button that asks
// first (Reject, Stop, Roll back: "ask:<action>:<run>") is answered with
// an ephemeral question whose buttons ("yes:<action>:<run>", "no:<run>")
// then act, and replace the question with what came of it.
func (a *Adapter) component(ctx context.Context, ic *discordgo.Interaction) (*discordgo.InteractionResponse, func(context.Context)) {
	data := ic.MessageComponentData()
	mode, rest, _ := strings.Cut(data.CustomID, ":")
	if mode != customAsk && mode != customYes && mode != customNo {
		mode, rest = "", data.CustomID
	}
	// <action>:<run>[:<what the button binds to>]
	action, idText, _ := strings.Cut(rest, ":")
	idText, seen, _ := strings.Cut(idText, ":")
	if mode == customNo {
		return updateEphemeral("Nothing done."), nil
	}
	id, err := strconv.ParseUint(idText, 10, 64)
	if err != nil {
		return ephemeral("This control does not name a run."), nil
	}
	u := user(ic)
	switch {
	case mode == customAsk:
		return a.ask(ctx, id, runbook.ButtonAction(action)), nil
	case action == customChecklist:
		err = a.checklist(ctx, u, id, data.Values, shownDefaults(ic.Message, data.CustomID))
	default:
		err = a.h.Act(ctx, u, id, runbook.ButtonAction(action), seen)
	}
	if a.h.Settle(ctx, "", ic.ID, err) {
		return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}, nil
	}
	if mode == customYes {
		if err != nil {
			return updateEphemeral(runbook.ErrorMessage(err)), nil
		}
		return updateEphemeral(chat.Done(runbook.ButtonAction(action), id)), nil
	}
	ack := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}
	if err == nil {
		return ack, nil
	}
	return ack, func(ctx context.Context) { a.followUp(ctx, ic, runbook.ErrorMessage(err)) }
}

// ask answers a button that asks first with its question, only to its
// user, and the buttons to go ahead or not. The question is the run's
// current one: a button the run no longer offers is refused.
func (a *Adapter) ask(ctx context.Context, id uint64, action runbook.ButtonAction) *discordgo.InteractionResponse {
	b, refusal := a.h.Question(ctx, id, action)
	if refusal != "" {
		return ephemeral(refusal)
	}
	idText := strconv.FormatUint(id, 10)
	resp := ephemeral(b.Confirm)
	resp.Data.Components = []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		discordgo.Button{Label: clip(b.Label, 80), Style: discordgo.DangerButton,
			CustomID: customYes + ":" + string(action) + ":" + idText},
		discordgo.Button{Label: "No", Style: discordgo.SecondaryButton, CustomID: customNo + ":" + idText},
	}}}
	return resp
}

// checklist turns a select's values (every option selected after the
// click) into ticks and unticks of the options the select shows, judged
// against their defaults in the clicked message (shown).
func (a *Adapter) checklist(ctx context.Context, u runbook.User, id uint64, values []string, shown map[string]bool) error {
	inSelect := func(items []runbook.CheckItem) []runbook.CheckItem {
		if shown == nil {
			return items
		}
		var out []runbook.CheckItem
		for _, it := range items {
			if _, ok := shown[it.Key]; ok {
				out = append(out, it)
			}
		}
		return out
	}
	return a.h.Tick(ctx, u, id, inSelect, values, shown)
}

// followUp sends text to the interaction's user only.
func (a *Adapter) followUp(ctx context.Context, ic *discordgo.Interaction, text string) {
	if ic.AppID == "" {
		ic.AppID = a.opt.Config.ApplicationID
	}
	err := a.chat.Try(ctx, func(ctx context.Context) error {
		_, err := a.s.FollowupMessageCreate(ic, false, &discordgo.WebhookParams{
			Content: clip(text, maxContent), Flags: discordgo.MessageFlagsEphemeral,
			AllowedMentions: noMentions(),
		}, discordgo.WithContext(ctx))
		return err
	})
	if err != nil {
		a.opt.Log.Warn().Err(err).Msg("discord: follow-up")
	}
}

// updateEphemeral replaces the ephemeral message whose button was pressed
// (a question) with text, and takes its buttons away.
func updateEphemeral(text string) *discordgo.InteractionResponse {
	return &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseUpdateMessage,
		Data: &discordgo.InteractionResponseData{
			Content: clip(text, maxContent), Components: []discordgo.MessageComponent{},
			AllowedMentions: noMentions(),
		},
	}
}

// ephemeral answers an interaction with text only its user sees.
func ephemeral(text string) *discordgo.InteractionResponse {
	return &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{
			Content: clip(text, maxContent), Flags: discordgo.MessageFlagsEphemeral,
			AllowedMentions: noMentions(),
		},
	}
}

// user returns who sent the interaction: the member in a guild, with their
// role ids as groups; the user in a DM.
func user(ic *discordgo.Interaction) runbook.User {
	du := ic.User
	var groups []string
	if ic.Member != nil && ic.Member.User != nil {
		du = ic.Member.User
		groups = ic.Member.Roles
	}
	if du == nil {
		return runbook.User{Platform: Platform}
	}
	// Global and user names are the user's choice: the id is who they are.
	return runbook.User{Platform: Platform, ID: du.ID, Groups: groups}
}

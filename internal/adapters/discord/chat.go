package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/rs/zerolog"

	"shipmate/internal/chat"
	"shipmate/internal/runbook"
)

// chatOptions configure the chat.
type chatOptions struct {
	// minInterval is the least time between two edits of one message
	// (default 1s): Discord allows about five edits per 5 s per channel.
	minInterval time.Duration
	// announceChannel receives a summary of each run in announceEnv,
	// unless announce names another for it; empty: none.
	announceChannel, announceEnv string
	announce                     chat.Announce
	// guildID, when known, makes links to messages.
	guildID string
	// refs keeps where each run's summary is across restarts (nil: in
	// memory only).
	refs chat.RefStore
}

// newChat returns Discord's runbook.Chat and runbook.Threader: the pacer
// of internal/chat over Discord's REST API. New step output goes to a
// thread on the run's message (a channel of its own, so not paced with
// the edits), or as replies to it when a thread cannot be started.
func newChat(s *discordgo.Session, log zerolog.Logger, opt chatOptions) *chat.Chat {
	w := &wire{s: s, log: log, guildID: opt.guildID}
	return chat.New(chat.Options{
		Platform: Platform, Sender: w, Renderer: w, Interval: opt.minInterval,
		AnnounceChannel: opt.announceChannel, AnnounceEnv: opt.announceEnv, Announce: opt.announce, Refs: opt.refs, Log: log,
	})
}

// Key identifies what r shows.
func (r rendered) Key() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// wire is Discord's chat.Sender and chat.Renderer.
type wire struct {
	s       *discordgo.Session
	log     zerolog.Logger
	guildID string
}

// callTimeout bounds one background call.
const callTimeout = 30 * time.Second

// postBody is a message as Discord's create-message call takes it, with
// the nonce discordgo's MessageSend lacks.
type postBody struct {
	Content         string                            `json:"content,omitempty"`
	Embeds          []*discordgo.MessageEmbed         `json:"embeds"`
	Components      []discordgo.MessageComponent      `json:"components"`
	AllowedMentions *discordgo.MessageAllowedMentions `json:"allowed_mentions,omitempty"`
	// Nonce with EnforceNonce makes Discord answer a repeated post with
	// the message first posted with it, instead of posting another.
	Nonce        string `json:"nonce,omitempty"`
	EnforceNonce bool   `json:"enforce_nonce,omitempty"`
}

func (w *wire) Post(ctx context.Context, channel string, d chat.Drawing) (string, error) {
	r := d.(rendered)
	endpoint := discordgo.EndpointChannelMessages(channel)
	data, err := w.s.RequestWithBucketID(http.MethodPost, endpoint, postBody{
		Content: r.Content, Embeds: r.Embeds, Components: r.Components, AllowedMentions: r.allowedMentions(),
		Nonce: r.Nonce, EnforceNonce: r.Nonce != "",
	}, endpoint, discordgo.WithContext(ctx))
	if err != nil {
		return "", err
	}
	var msg discordgo.Message
	if err := json.Unmarshal(data, &msg); err != nil {
		return "", fmt.Errorf("discord: read the posted message: %w", err)
	}
	return msg.ID, nil
}

// Edit replaces the message's embed and components.
func (w *wire) Edit(ctx context.Context, to *chat.Target, d chat.Drawing) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	r := d.(rendered)
	_, err := w.s.ChannelMessageEditComplex(&discordgo.MessageEdit{
		ID: to.ID, Channel: to.Channel, Embeds: &r.Embeds, Components: &r.Components,
	}, discordgo.WithContext(ctx))
	return err
}

// Reply sends d into the thread of message to, starting it if need be, or
// as a reply to the message when no thread can be started.
func (w *wire) Reply(ctx context.Context, to *chat.Target, d chat.Drawing) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	r := d.(rendered)
	msg := &discordgo.MessageSend{Content: r.Content, Embeds: r.Embeds, Components: r.Components, AllowedMentions: r.allowedMentions()}
	thread, none := to.Thread()
	if thread == "" && !none {
		var err error
		thread, err = w.startThread(ctx, to)
		var rl *discordgo.RateLimitError
		if errors.As(err, &rl) || errors.Is(err, context.Canceled) {
			return err
		}
		if err != nil {
			w.log.Warn().Err(err).Str("channel", to.Channel).Msg("discord: cannot start a thread; replying instead")
		}
		to.SetThread(thread, err != nil)
	}
	target := thread
	if target == "" {
		target = to.Channel
		msg.Reference = &discordgo.MessageReference{MessageID: to.ID, ChannelID: to.Channel}
	}
	_, err := w.s.ChannelMessageSendComplex(target, msg, discordgo.WithContext(ctx))
	return err
}

// startThread starts the thread of message to. A thread started on a
// message has the message's id; one started before (by an earlier
// process) is simply used.
func (w *wire) startThread(ctx context.Context, to *chat.Target) (string, error) {
	name := "Shipmate run output"
	if to.RunID != 0 {
		name = fmt.Sprintf("Run #%d", to.RunID)
	}
	ch, err := w.s.MessageThreadStartComplex(to.Channel, to.ID, &discordgo.ThreadStart{
		Name: name, AutoArchiveDuration: 1440}, discordgo.WithContext(ctx))
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Message != nil && re.Message.Code == discordgo.ErrCodeThreadAlreadyCreatedForThisMessage {
		return to.ID, nil
	}
	if err != nil {
		return "", err
	}
	return ch.ID, nil
}

// Classify: a 429 is waited out, a message or channel that is gone or
// forbidden stops the edits, a server error or a failed connection is
// retried, any other refusal drops what was refused.
func (w *wire) Classify(err error) (chat.Failure, time.Duration) {
	var rl *discordgo.RateLimitError
	if errors.As(err, &rl) {
		return chat.RateLimited, rl.RetryAfter
	}
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		switch code := re.Response.StatusCode; {
		case code == http.StatusNotFound || code == http.StatusForbidden:
			return chat.Gone, 0
		case code >= 500:
			return chat.Transient, 0
		}
		return chat.Permanent, 0
	}
	return chat.Transient, 0
}

func (w *wire) Message(m runbook.Message) chat.Drawing { return render(m) }

func (w *wire) Summary(m runbook.Message) chat.Drawing { return renderSummary(m) }

// Note draws a note for a run's thread: an embed, with a link to the
// Discord message in another channel it relates to.
func (w *wire) Note(ctx context.Context, channel string, m runbook.Message) chat.Drawing {
	out := render(runbook.Message{Title: m.Title, Status: m.Status, Tone: m.Tone, Text: m.Text, Fields: m.Fields, Mentions: m.Mentions})
	if link := w.relatedLink(channel, m.Related); link != "" {
		// The link is Shipmate's own markdown: added after the text is
		// escaped, so that the channel and the message show as links.
		e := out.Embeds[0]
		e.Description = clip(strings.TrimSpace(e.Description+"\n"+link), maxDescription)
	}
	return out
}

// Direct sends d to user in a direct message: create the DM channel
// (POST /users/@me/channels), then post d in it, pinging no one.
func (w *wire) Direct(ctx context.Context, user string, d chat.Drawing) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	ch, err := w.s.UserChannelCreate(user, discordgo.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("create a direct message channel: %w", err)
	}
	r := d.(rendered)
	_, err = w.s.ChannelMessageSendComplex(ch.ID, &discordgo.MessageSend{Content: r.Content, Embeds: r.Embeds,
		AllowedMentions: r.allowedMentions()}, discordgo.WithContext(ctx))
	return err
}

// Output draws the next reply of output: a code block of as many lines as
// fit in one message.
func (w *wire) Output(lines []string, skipped int) (chat.Drawing, int) {
	text, n := logReply(lines, skipped)
	return rendered{Content: text}, n
}

// relatedLink points at a Discord message in another channel: the channel,
// and a link to the message when the guild is known.
func (w *wire) relatedLink(channel string, o *runbook.Origin) string {
	if o == nil || o.Platform != Platform || o.Channel == "" || o.Channel == channel {
		return ""
	}
	if w.guildID != "" && o.MessageRef != "" {
		return fmt.Sprintf("In <#%s>: https://discord.com/channels/%s/%s/%s", o.Channel, w.guildID, o.Channel, o.MessageRef)
	}
	return "In <#" + o.Channel + ">"
}

package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"shipmate/internal/chat"
	"shipmate/internal/runbook"
)

// ChatOptions configure the Slack chat.
type ChatOptions struct {
	// AnnounceChannel receives a one-line summary of each run in
	// AnnounceEnv, edited as the run moves; empty: no announcements.
	AnnounceChannel string
	// AnnounceEnv is the environment whose runs are announced (the last
	// one, production).
	AnnounceEnv string
	// Announce routes summaries per environment and app; AnnounceChannel
	// is the default of AnnounceEnv.
	Announce chat.Announce
	// Refs remembers where each run's summary is, so that a restarted bot
	// goes on editing it, and marks each post of a run's message, so that
	// a bot stopped before the engine stored the message finds it rather
	// than posting it twice (nil: in memory only, and no marks).
	Refs chat.RefStore
	// MinInterval is the least time between two edits of one message, and
	// between two posts to its thread (default 1s): chat.update is limited
	// to about 50 a minute, chat.postMessage to about one a second per
	// channel.
	MinInterval time.Duration
	// Clock tells the time and wakes the pacer (default: the real one).
	Clock chat.Clock
	Log   zerolog.Logger
}

// Chat is Slack's runbook.Chat and runbook.Threader: the pacer of
// internal/chat over Slack's Web API, and ephemeral messages. Step output
// goes to the thread of its run's message, which is posted once across
// restarts (see postonce.go). Chat is safe for concurrent use.
type Chat struct {
	*chat.Chat
	api *slack.Client
}

// Step output limits.
const (
	// maxLinesPerReply and logReplyBudget (escaped characters) bound one
	// thread reply of output, which renderLog would otherwise cut to
	// Slack's 3000 characters of text.
	maxLinesPerReply = 60
	logReplyBudget   = 2800
)

// NewChat returns a chat posting with api. Call Close when done.
func NewChat(api *slack.Client, opt ChatOptions) *Chat {
	now := time.Now
	if opt.Clock != nil {
		now = opt.Clock.Now
	}
	w := &wire{api: api, log: opt.Log, once: newPoster(api, opt.Refs, now, opt.Log)}
	return &Chat{api: api, Chat: chat.New(chat.Options{
		Platform: Platform, Sender: w, Renderer: w, Interval: opt.MinInterval, PaceOutput: true,
		AnnounceChannel: opt.AnnounceChannel, AnnounceEnv: opt.AnnounceEnv, Announce: opt.Announce, Refs: opt.Refs,
		Clock: opt.Clock, Log: opt.Log,
	})}
}

// Ephemeral shows text (mrkdwn) to user alone in channel.
func (c *Chat) Ephemeral(ctx context.Context, channel, user, text string) error {
	err := c.Try(ctx, func(ctx context.Context) error {
		_, err := c.api.PostEphemeralContext(ctx, channel, user, slack.MsgOptionText(text, false))
		return redacted(err)
	})
	if err != nil {
		return fmt.Errorf("slack: ephemeral message in %s: %w", channel, err)
	}
	return nil
}

// drawing is a message as Slack shows it.
type drawing struct {
	blocks     []slack.Block
	withBlocks bool // send blocks: a run's message or a note, not a summary line or output
	text       string
	noUnfurl   bool // no previews of links and media (output)
	// postKey names a run's message, which is posted once (postonce.go);
	// runID is its run's.
	postKey string
	runID   uint64
	// related is the Slack channel of the message a note relates to,
	// where a direct message that cannot be sent is shown instead.
	related string
}

// Key identifies what d shows (the post key is not shown).
func (d drawing) Key() string {
	if !d.withBlocks {
		return d.text
	}
	b, err := json.Marshal(d.blocks)
	if err != nil {
		return "" // never equal to a real key: the edit is sent
	}
	return strconv.Quote(d.text) + string(b)
}

func (d drawing) options() []slack.MsgOption {
	var opts []slack.MsgOption
	if d.withBlocks {
		opts = append(opts, slack.MsgOptionBlocks(d.blocks...))
	}
	opts = append(opts, slack.MsgOptionText(d.text, false))
	if d.noUnfurl {
		opts = append(opts, slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl())
	}
	return opts
}

// wire is Slack's chat.Sender and chat.Renderer.
type wire struct {
	api  *slack.Client
	log  zerolog.Logger
	once *poster
}

func (w *wire) Post(ctx context.Context, channel string, cd chat.Drawing) (string, error) {
	d := cd.(drawing)
	if d.postKey != "" {
		return w.once.post(ctx, channel, d)
	}
	_, ts, err := w.api.PostMessageContext(ctx, channel, d.options()...)
	return ts, redacted(err)
}

func (w *wire) Edit(ctx context.Context, to *chat.Target, d chat.Drawing) error {
	_, _, _, err := w.api.UpdateMessageContext(ctx, to.Channel, to.ID, d.(drawing).options()...)
	return redacted(err)
}

// Reply posts d in the thread of message to.
func (w *wire) Reply(ctx context.Context, to *chat.Target, d chat.Drawing) error {
	opts := append([]slack.MsgOption{slack.MsgOptionTS(to.ID)}, d.(drawing).options()...)
	_, _, err := w.api.PostMessageContext(ctx, to.Channel, opts...)
	return redacted(err)
}

func (w *wire) Classify(err error) (chat.Failure, time.Duration) { return classify(err) }

func (w *wire) Message(m runbook.Message) chat.Drawing {
	return drawing{blocks: renderBlocks(m), withBlocks: true, text: renderText(m), postKey: m.PostKey, runID: m.RunID}
}

func (w *wire) Summary(m runbook.Message) chat.Drawing { return drawing{text: renderSummary(m)} }

// Note draws a note for a run's thread. When m relates to a Slack message
// elsewhere, the note links its channel and, when Slack gives one, its
// permalink.
func (w *wire) Note(ctx context.Context, channel string, m runbook.Message) chat.Drawing {
	d := drawing{blocks: renderBlocks(m), withBlocks: true, text: renderText(m)}
	if o := m.Related; o != nil && o.Platform == Platform && slackID(o.Channel) {
		d.related = o.Channel
	}
	if link := w.relatedLink(ctx, m.Related); link != "" {
		d.blocks = append(d.blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, link, false, false)))
		d.text += " (" + link + ")"
	}
	return d
}

// Output draws the next thread reply of output: as many lines as one
// reply holds, after a line saying how many were not shown.
func (w *wire) Output(lines []string, skipped int) (chat.Drawing, int) {
	var out []string
	if skipped > 0 {
		out = append(out, fmt.Sprintf("… %d lines not shown", skipped))
	}
	size, n := 0, 0
	for n < len(lines) && len(out) < maxLinesPerReply {
		l := escapedLen(lines[n]) + 1
		if len(out) > 0 && size+l > logReplyBudget {
			break
		}
		size += l
		out = append(out, lines[n])
		n++
	}
	return drawing{text: renderLog(out), noUnfurl: true}, n
}

// relatedLink links a related Slack message: its channel, and a permalink
// to the message itself when there is one.
func (w *wire) relatedLink(ctx context.Context, o *runbook.Origin) string {
	if o == nil || o.Platform != Platform || !slackID(o.Channel) {
		return ""
	}
	link := "<#" + o.Channel + ">"
	if o.MessageRef == "" {
		return link
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url, err := w.api.GetPermalinkContext(pctx, &slack.PermalinkParameters{Channel: o.Channel, Ts: o.MessageRef})
	if err != nil || url == "" {
		w.log.Debug().Str("channel", o.Channel).Str("error", errText(err)).Msg("slack: chat.getPermalink")
		return link
	}
	return link + " · <" + url + "|view message>"
}

// slackID reports whether s looks like a Slack id (upper-case letters and
// digits), so that it can go in a <#…> link unescaped.
func slackID(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// escapedLen is the length of line once escaped for mrkdwn.
func escapedLen(line string) int {
	n := utf8.RuneCountInString(line)
	for _, r := range line {
		switch r {
		case '&':
			n += 4 // &amp;
		case '<', '>':
			n += 3 // &lt; &gt;
		}
	}
	return n
}

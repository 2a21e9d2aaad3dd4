package slack

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"shipmate/internal/chat"
)

// A run's message is posted once, even when the bot stops after Slack
// took the post and before the engine stored the message's ts: Slack's
// chat.postMessage has no idempotency key (Discord's nonce), so the post
// leaves its own trace on both sides. The message carries its run's post
// key as message metadata, and before each post a marker with the time of
// the attempt goes to the store. A post that finds the marker there (an
// earlier attempt may have reached Slack) first reads the channel's
// history from a little before that time, and takes the message carrying
// the key instead of posting it again. Normal posts pay a store read and
// a write, and no Slack call; conversations.history (Tier 3, about 50 a
// minute) is called only after an attempt whose outcome is unknown.
const (
	// runMessageEvent is the metadata event_type of a run's message.
	runMessageEvent = "shipmate_run_message"
	// postMarker names the store's marker of a run's message post.
	postMarker = "slack.post"
	// lookBack is how long before the marked attempt the history is read
	// from: the bot's clock and Slack's may differ a little.
	lookBack = 2 * time.Minute
	// historyPage and historyPages bound the history read: a busy channel
	// long after the attempt is not read to its end, and the message is
	// posted again.
	historyPage  = 200
	historyPages = 5
	// findTimeout bounds the look for an earlier message, so that a slow
	// Slack delays the run's message by that at most.
	findTimeout = 30 * time.Second
)

// poster posts runs' messages (drawings with a post key) once.
type poster struct {
	api  *slack.Client
	refs chat.RefStore // nil: no markers, and no looking for earlier posts
	now  func() time.Time
	log  zerolog.Logger

	mu    sync.Mutex
	botID string              // this bot's, from auth.test once a look needs it
	notes map[string]postNote // post key → what this process knows of its last attempt
}

// postNote is what the last attempt at a post key, in this process, left
// to know.
type postNote struct {
	// refused: Slack answered that attempt with an error, so it posted
	// nothing and the next attempt need not look for it.
	refused bool
	// found is the message an earlier attempt posted, which the last
	// attempt found but could not edit yet.
	found string
}

func newPoster(api *slack.Client, refs chat.RefStore, now func() time.Time, log zerolog.Logger) *poster {
	return &poster{api: api, refs: refs, now: now, log: log, notes: map[string]postNote{}}
}

// post makes one attempt to have d, a run's message, in channel, and
// returns its ts: the message an earlier attempt posted, found again and
// edited to show d, or a new one. Chat's Try calls it again after a
// failure worth retrying.
func (p *poster) post(ctx context.Context, channel string, d drawing) (string, error) {
	if ts := p.earlier(ctx, channel, d); ts != "" {
		if ts, done, err := p.adopt(ctx, channel, ts, d); done {
			return ts, err
		}
	}
	p.mark(ctx, channel, d)
	opts := append(d.options(), d.metadata())
	_, ts, err := p.api.PostMessageContext(ctx, channel, opts...)
	p.mu.Lock()
	delete(p.notes, d.postKey)
	if err != nil {
		// Only a Slack answer says that nothing was posted; after a
		// timeout or a server error the next attempt looks first.
		if kind, _ := classify(err); kind != chat.Transient {
			p.notes[d.postKey] = postNote{refused: true}
		}
	}
	p.mu.Unlock()
	return ts, redacted(err)
}

// earlier returns the message an earlier attempt at d posted to channel,
// or "" when there is none to take: no attempt was marked, the last one
// was refused, or none is found. A failed look is logged: the message is
// posted, since a duplicate beats a missing message.
func (p *poster) earlier(ctx context.Context, channel string, d drawing) string {
	p.mu.Lock()
	note := p.notes[d.postKey]
	p.mu.Unlock()
	if note.found != "" || note.refused || p.refs == nil || d.runID == 0 {
		return note.found
	}
	v, ok, err := p.refs.RunRef(ctx, d.runID, postMarker)
	if err != nil {
		p.warn(err, channel, d, "slack: cannot read whether a run's message was posted before; posting it")
		return ""
	}
	marked, at, _ := strings.Cut(v, "/")
	since, perr := time.Parse(time.RFC3339Nano, at)
	if !ok || marked != channel || perr != nil {
		return ""
	}
	ts, err := p.find(ctx, channel, d.postKey, since.Add(-lookBack))
	switch {
	case err != nil:
		msg := "slack: cannot look for a run's message an earlier attempt may have posted; posting it, so it may show twice"
		if se := (slack.SlackErrorResponse{}); errors.As(err, &se) && se.Err == "missing_scope" {
			msg += " (the bot needs the channels:history and groups:history scopes)"
		}
		p.warn(err, channel, d, msg)
	case ts == "":
		p.log.Info().Uint64("run", d.runID).Str("channel", channel).
			Msg("slack: a run's message an earlier attempt began is not in the channel; posting it")
	}
	return ts
}

// find reads channel's history from since on and returns the oldest
// message of this bot that carries key, or "" when there is none. It
// does not rely on the order of the messages within or across pages.
func (p *poster) find(ctx context.Context, channel, key string, since time.Time) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, findTimeout)
	defer cancel()
	bot, err := p.bot(ctx)
	if err != nil {
		return "", err
	}
	params := &slack.GetConversationHistoryParameters{ChannelID: channel, Oldest: slackTS(since), Inclusive: true,
		Limit: historyPage, IncludeAllMetadata: true}
	for range historyPages {
		res, err := p.api.GetConversationHistoryContext(ctx, params)
		if err != nil {
			return "", fmt.Errorf("conversations.history: %w", redacted(err))
		}
		found := ""
		for _, m := range res.Messages {
			if carries(m.Msg, bot, key) && (found == "" || tsMicros(m.Timestamp) < tsMicros(found)) {
				found = m.Timestamp
			}
		}
		if found != "" || !res.HasMore || res.ResponseMetaData.NextCursor == "" {
			return found, nil
		}
		params.Cursor = res.ResponseMetaData.NextCursor
	}
	return "", fmt.Errorf("conversations.history: not among the last %d messages", historyPages*historyPage)
}

// adopt edits ts, the message an earlier attempt posted, to show d: that
// attempt drew the run as it stood then. done is false when the message
// cannot be edited (deleted since, say), and a new one is to be posted.
func (p *poster) adopt(ctx context.Context, channel, ts string, d drawing) (string, bool, error) {
	opts := append(d.options(), d.metadata())
	_, _, _, err := p.api.UpdateMessageContext(ctx, channel, ts, opts...)
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.notes, d.postKey)
	if err == nil {
		p.log.Info().Uint64("run", d.runID).Str("channel", channel).Str("message", ts).
			Msg("slack: found the run's message an earlier attempt posted; not posting it again")
		return ts, true, nil
	}
	if kind, _ := classify(err); kind == chat.RateLimited || kind == chat.Transient {
		p.notes[d.postKey] = postNote{found: ts} // the retry edits it without looking again
		return "", true, redacted(err)
	}
	p.log.Warn().Uint64("run", d.runID).Str("channel", channel).Str("message", ts).Str("error", redact(err.Error())).
		Msg("slack: cannot edit the run's message an earlier attempt posted; posting a new one")
	return "", false, nil
}

// mark stores that d is about to be posted to channel. Without the
// marker, a stop right after the post would post the message again: a
// failure is logged, and the post goes ahead.
func (p *poster) mark(ctx context.Context, channel string, d drawing) {
	if p.refs == nil || d.runID == 0 {
		return
	}
	v := channel + "/" + p.now().UTC().Format(time.RFC3339Nano)
	if err := p.refs.SetRunRef(ctx, d.runID, postMarker, v); err != nil {
		p.warn(err, channel, d, "slack: cannot mark a run's message post; a stop right after it would post it twice")
	}
}

// bot returns this bot's id, which its messages carry, asking auth.test
// the first time.
func (p *poster) bot(ctx context.Context) (string, error) {
	p.mu.Lock()
	id := p.botID
	p.mu.Unlock()
	if id != "" {
		return id, nil
	}
	res, err := p.api.AuthTestContext(ctx)
	if err != nil {
		return "", fmt.Errorf("auth.test: %w", redacted(err))
	}
	p.mu.Lock()
	p.botID = res.BotID
	p.mu.Unlock()
	return res.BotID, nil
}

func (p *poster) warn(err error, channel string, d drawing, msg string) {
	p.log.Warn().Uint64("run", d.runID).Str("channel", channel).Str("error", redact(err.Error())).Msg(msg)
}

// carries reports whether m is bot's message of the run with post key
// key: another app's message, or another bot of this app (a second
// Shipmate in the channel), may carry the same key.
func carries(m slack.Msg, bot, key string) bool {
	k, _ := m.Metadata.EventPayload["post_key"].(string)
	return m.BotID == bot && m.Metadata.EventType == runMessageEvent && k == key
}

// metadata is the message metadata that names d's run.
func (d drawing) metadata() slack.MsgOption {
	return slack.MsgOptionMetadata(slack.SlackMetadata{EventType: runMessageEvent,
		EventPayload: map[string]any{"post_key": d.postKey}})
}

// slackTS writes t as Slack writes times: seconds and microseconds.
func slackTS(t time.Time) string {
	us := t.UnixMicro()
	return fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
}

// tsMicros reads a Slack ts as microseconds (0 if it is not one), to
// order messages.
func tsMicros(ts string) int64 {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	us, err2 := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return s*1e6 + us
}

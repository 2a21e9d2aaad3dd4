package runbook

import "context"

// notify posts a one-off line about a run to its channel, with buttons bs.
func (e *Engine) notify(ctx context.Context, r *Run, text string, bs ...Button) {
	m := noticeMessage(r, text)
	m.Buttons = bs
	e.postNotice(ctx, r, m)
}

// noticeMessage is a one-off line about r.
func noticeMessage(r *Run, text string) Message {
	return Message{RunID: r.ID, Title: r.Title(), Tone: ToneInfo, Text: text}
}

// postNotice posts notice m about r to r's chat.
func (e *Engine) postNotice(ctx context.Context, r *Run, m Message) {
	chat, ok := e.chats[r.Origin.Platform]
	if !ok {
		return
	}
	if _, err := chat.Post(ctx, r.Origin.Channel, m); err != nil {
		e.log.Warn().Err(err).Uint64("run", r.ID).Msg("chat: post notice")
	}
}

package slack

import (
	"context"
	"errors"
	"fmt"

	"github.com/slack-go/slack"

	"shipmate/internal/chat"
)

// Direct sends d to user in a direct message: conversations.open, then
// chat.postMessage in the conversation (scopes im:write and chat:write).
// When Slack refuses the direct message for good (a missing scope, a user
// the bot cannot message), d is shown to user alone in the channel of the
// message it relates to, as an ephemeral message, if there is one.
func (w *wire) Direct(ctx context.Context, user string, cd chat.Drawing) error {
	d := cd.(drawing)
	err := w.directMessage(ctx, user, d)
	if err == nil {
		return nil
	}
	if kind, _ := classify(err); (kind != chat.Permanent && kind != chat.Gone) || d.related == "" {
		return err
	}
	w.log.Info().Str("user", user).Str("error", errText(err)).Msg("slack: no direct message; showing it in the run's channel instead")
	_, eerr := w.api.PostEphemeralContext(ctx, d.related, user, d.options()...)
	if eerr != nil {
		return errors.Join(err, fmt.Errorf("ephemeral message instead: %w", redacted(eerr)))
	}
	return nil
}

// directMessage opens the direct conversation with user and posts d in it.
func (w *wire) directMessage(ctx context.Context, user string, d drawing) error {
	ch, _, _, err := w.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
	if err != nil {
		return fmt.Errorf("conversations.open: %w", redacted(err))
	}
	if _, _, err := w.api.PostMessageContext(ctx, ch.ID, d.options()...); err != nil {
		return fmt.Errorf("chat.postMessage: %w", redacted(err))
	}
	return nil
}

package slack

import (
	"context"
	"errors"
	"fmt"

	"github.com/slack-go/slack"

	"shipmate/internal/probe"
)

// Probe tries Slack for `bot check --online`: the bot token with
// auth.test and, in Socket Mode, the app-level token with
// apps.connections.open (whose websocket URL it does not dial). api must
// carry the app-level token when socketMode is set.
func Probe(ctx context.Context, api *slack.Client, socketMode bool) []probe.Result {
	var out []probe.Result
	res, err := api.AuthTestContext(ctx)
	if err != nil {
		out = append(out, probe.Fail(Platform, "auth.test", redacted(err)))
	} else {
		out = append(out, probe.Pass(Platform, "auth.test", fmt.Sprintf("team %s, bot @%s (%s)", res.Team, res.User, res.UserID)))
	}
	if !socketMode {
		return out
	}
	_, url, err := api.StartSocketModeContext(ctx)
	switch {
	case err != nil:
		out = append(out, probe.Fail(Platform, "apps.connections.open", redacted(err)))
	case url == "":
		out = append(out, probe.Fail(Platform, "apps.connections.open", errors.New("Slack answered without a websocket URL")))
	default:
		// The URL carries a ticket: it is not shown.
		out = append(out, probe.Pass(Platform, "apps.connections.open", "the app-level token opens Socket Mode"))
	}
	return out
}

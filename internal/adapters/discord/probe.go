package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"shipmate/internal/probe"
)

// Probe tries Discord for `bot check --online`: GET /applications/@me
// with the bot token, which must name the configured application_id.
// client makes the request (nil: one with a 30 s timeout).
func Probe(ctx context.Context, cfg Config, client *http.Client) []probe.Result {
	const target = "application"
	app, err := application(ctx, cfg, client)
	if err != nil {
		// discordgo's errors quote Discord's answer, never the request's
		// headers; the token is taken out all the same.
		msg := err.Error()
		if cfg.BotToken != "" {
			msg = strings.ReplaceAll(msg, cfg.BotToken, "[redacted]")
		}
		return []probe.Result{probe.Fail(Platform, target, errors.New(msg))}
	}
	if app.ID != cfg.ApplicationID {
		return []probe.Result{probe.Fail(Platform, target, fmt.Errorf("the bot token is %q (%s)'s, but application_id is %s", app.Name, app.ID, cfg.ApplicationID))}
	}
	return []probe.Result{
		probe.Pass(Platform, target, fmt.Sprintf("%q (%s)", app.Name, app.ID)),
		probe.Pass(Platform, "invite", InviteURL(app.ID)),
	}
}

// application asks Discord which application the bot token belongs to.
func application(ctx context.Context, cfg Config, client *http.Client) (*discordgo.Application, error) {
	if !cfg.Enabled() {
		return nil, errors.New("bot_token is not set")
	}
	s, err := discordgo.New("Bot " + cfg.BotToken)
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.APIURL != "" {
		u, err := url.Parse(cfg.APIURL)
		if err != nil {
			return nil, errors.New("api_url is not a URL")
		}
		c := *client
		c.Transport = rewriteHost{base: client.Transport, scheme: u.Scheme, host: u.Host}
		client = &c
	}
	s.Client = client
	s.ShouldRetryOnRateLimit = false
	// discordgo's Application calls the older /oauth2/applications/@me and
	// takes no context.
	body, err := s.RequestWithBucketID(http.MethodGet, discordgo.EndpointApplication("@me"), nil,
		discordgo.EndpointApplication(""), discordgo.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	var app discordgo.Application
	if err := json.Unmarshal(body, &app); err != nil {
		return nil, fmt.Errorf("Discord answered with something other than an application: %v", err)
	}
	return &app, nil
}

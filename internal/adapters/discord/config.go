package discord

import (
	"encoding/hex"
	"errors"
	"net/url"
	"shipmate/internal/fielderr"
	"strconv"
)

// Config is the chat.discord block of the configuration. BotToken and
// PublicKey are secrets of a kind (the key is public, but names the app):
// never log them.
type Config struct {
	BotToken      string `yaml:"bot_token"`
	ApplicationID string `yaml:"application_id"`
	// PublicKey is the app's hex Ed25519 key. With it Discord delivers
	// interactions to POST /discord/interactions; without it Shipmate
	// receives them over the gateway.
	PublicKey string `yaml:"public_key"`
	// GuildID registers the commands in one guild (at once) instead of
	// globally (which Discord takes up to an hour to spread).
	GuildID string `yaml:"guild_id"`
	// APIURL sends REST calls to another host than discord.com (a proxy,
	// a test server).
	APIURL string `yaml:"api_url"`
	// AnnounceChannel gets a summary of every production run, edited as
	// the run moves on.
	AnnounceChannel string `yaml:"announce_channel"`
}

// Enabled reports whether Discord is configured at all.
func (c Config) Enabled() bool { return c.BotToken != "" }

// Validate checks an enabled block. Each error starts with the key it is
// about.
func (c *Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if !snowflake(c.ApplicationID) {
		errs = append(errs, fielderr.New("application_id", "want the app's numeric id"))
	}
	if c.PublicKey != "" {
		if b, err := hex.DecodeString(c.PublicKey); err != nil || len(b) != 32 {
			errs = append(errs, fielderr.New("public_key", "want 64 hex characters"))
		}
	}
	if c.GuildID != "" && !snowflake(c.GuildID) {
		errs = append(errs, fielderr.New("guild_id", "want a numeric guild id"))
	}
	if c.AnnounceChannel != "" && !snowflake(c.AnnounceChannel) {
		errs = append(errs, fielderr.New("announce_channel", "want a numeric channel id"))
	}
	if c.APIURL != "" {
		u, err := url.Parse(c.APIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fielderr.New("api_url", "want an http(s) URL, not %q", c.APIURL))
		}
	}
	return errors.Join(errs...)
}

// snowflake reports whether s looks like a Discord id.
func snowflake(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

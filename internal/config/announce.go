package config

import (
	"reflect"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"

	"shipmate/internal/chat"
	"shipmate/internal/runbook"
)

// The chat platforms whose ids Shipmate turns into mentions and channels.
const (
	platformSlack   = "slack"
	platformDiscord = "discord"
)

var (
	slackUserRE    = regexp.MustCompile(`^[UW][A-Z0-9]+$`)
	slackGroupRE   = regexp.MustCompile(`^S[A-Z0-9]+$`)
	slackChannelRE = regexp.MustCompile(`^[CGD][A-Z0-9]+$`)
)

// snowflake reports whether s is a Discord id.
func snowflake(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil && s[0] != '0'
}

// checkChatID refuses, at path, a user id (or with group set, a group id)
// that platform would not take in a mention: Shipmate mentions only ids
// of the platform's own form, so a typo would silently call no one.
func checkChatID(d *decoder, path, platform, id string, group bool) error {
	switch {
	case platform == platformSlack && group && !slackGroupRE.MatchString(id):
		return d.errorf(path, "want a Slack user group id such as S0123ABCD, got %q", id)
	case platform == platformSlack && !group && !slackUserRE.MatchString(id):
		return d.errorf(path, "want a Slack user id such as U0123ABCD, got %q", id)
	case platform == platformDiscord && !snowflake(id):
		what := "user"
		if group {
			what = "role"
		}
		return d.errorf(path, "want a Discord %s id (digits), got %q", what, id)
	}
	return nil
}

// buildNotifyApprovers checks an environment's notify_approvers.
func buildNotifyApprovers(d *decoder, path, v string, env *runbook.Environment) error {
	switch v {
	case "", runbook.NotifyMention, runbook.NotifyDM:
		env.NotifyApprovers = v // "" mentions, as mention does
	default:
		return d.errorf(join(path, "notify_approvers"), "want %s or %s, got %q", runbook.NotifyMention, runbook.NotifyDM, v)
	}
	return nil
}

// rawAnnounce is one environment's announce channel: a channel id, Slack's
// (C…) or Discord's (digits), or a mapping of both {slack: C…, discord: …}.
type rawAnnounce struct {
	ids map[string]string // platform → channel
}

func (a *rawAnnounce) decodeYAML(d *decoder, n *yaml.Node, path string) error {
	if n.Kind == yaml.ScalarNode {
		s, err := d.scalar(n, path, "a channel id")
		if err != nil {
			return err
		}
		switch {
		case s == "":
			a.ids = nil // an unset ${VAR}: no announcements
		case slackChannelRE.MatchString(s):
			a.ids = map[string]string{platformSlack: s}
		case snowflake(s):
			a.ids = map[string]string{platformDiscord: s}
		default:
			return errorAt(n, path, "want a Slack channel id (C…), a Discord channel id (digits) or {slack: C…, discord: …}, got %q", s)
		}
		return nil
	}
	var both struct {
		Slack   string `yaml:"slack"`
		Discord string `yaml:"discord"`
	}
	if err := d.decodeStruct(n, path, reflect.ValueOf(&both).Elem()); err != nil {
		return err
	}
	if both.Slack != "" && !slackChannelRE.MatchString(both.Slack) {
		return errorAt(n, join(path, platformSlack), "want a Slack channel id such as C0123ABCD, got %q", both.Slack)
	}
	if both.Discord != "" && !snowflake(both.Discord) {
		return errorAt(n, join(path, platformDiscord), "want a Discord channel id (digits), got %q", both.Discord)
	}
	a.ids = map[string]string{}
	for p, id := range map[string]string{platformSlack: both.Slack, platformDiscord: both.Discord} {
		if id != "" {
			a.ids[p] = id
		}
	}
	return nil
}

// buildAnnounce checks announce: and each app's announce:, by environment,
// into each platform's routes.
func buildAnnounce(d *decoder, raw *rawConfig, c *Config) error {
	c.Announce = map[string]chat.Announce{}
	route := func(path, app string, envs entries[rawAnnounce]) error {
		for _, e := range envs {
			if _, ok := c.Policy.Env(e.Key); !ok {
				return d.errorf(join(path, e.Key), "unknown environment %q (%s)", e.Key, knownEnvs(c))
			}
			for platform, id := range e.Value.ids {
				a := c.Announce[platform]
				if app == "" {
					a.Envs = setIn(a.Envs, e.Key, id)
				} else {
					apps := a.Apps
					if apps == nil {
						apps = map[string]map[string]string{}
					}
					apps[app] = setIn(apps[app], e.Key, id)
					a.Apps = apps
				}
				c.Announce[platform] = a
			}
		}
		return nil
	}
	if err := route("announce", "", raw.Announce); err != nil {
		return err
	}
	for _, a := range raw.Apps {
		if err := route(join(join("apps", a.Key), "announce"), a.Key, a.Value.Announce); err != nil {
			return err
		}
	}
	return nil
}

// setIn sets m[k] = v, making m if need be.
func setIn(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// knownEnvs lists the environments for an error.
func knownEnvs(c *Config) string {
	s := "environments: "
	for i, e := range c.Policy.Envs {
		if i > 0 {
			s += ", "
		}
		s += e.Name
	}
	return s
}

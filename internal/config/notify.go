package config

import (
	"net/url"
	"slices"
	"strings"

	"shipmate/internal/runbook"
)

// Notify is one outgoing webhook: the audit events it is sent, as
// CloudEvents signed with Secret.
type Notify struct {
	// URL is where events are POSTed. Its path may hold a token: log
	// only its host.
	URL string
	// Secret signs each body (HMAC-SHA256). A secret: never log it.
	Secret string
	// Events, Apps and Envs choose what is sent (empty: all). A lock
	// on every app ("all") is sent whatever Apps says.
	Events []string
	Apps   []string
	Envs   []string
}

type rawNotify struct {
	URL    string   `yaml:"url"`
	Secret string   `yaml:"secret"`
	Events []string `yaml:"events"`
	Apps   []string `yaml:"apps"`
	Envs   []string `yaml:"envs"`
}

// buildNotify checks the webhooks, once the apps and environments are
// known.
func buildNotify(d *decoder, raw *rawConfig, c *Config) error {
	seen := map[string]int{}
	for i, n := range raw.Notify {
		path := index("notify", i)
		u, err := url.Parse(n.URL)
		switch {
		case strings.TrimSpace(n.URL) == "":
			return d.errorf(join(path, "url"), "required (is its ${VAR} set?)")
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return d.errorf(join(path, "url"), "want an http:// or https:// URL")
		}
		if j, dup := seen[n.URL]; dup {
			return d.errorf(join(path, "url"), "the same URL as notify[%d]", j)
		}
		seen[n.URL] = i
		if n.Secret == "" {
			return d.errorf(join(path, "secret"), "required: receivers check each event's signature with it (is its ${VAR} set?)")
		}
		envs := make([]string, len(c.Policy.Envs))
		for j, e := range c.Policy.Envs {
			envs[j] = e.Name
		}
		for _, list := range []struct {
			key    string
			values []string
			known  []string
			what   string
		}{
			{"events", n.Events, runbook.OutboxEvents(), "event"},
			{"apps", n.Apps, c.Policy.AppNames(), "app"},
			{"envs", n.Envs, envs, "environment"},
		} {
			for j, v := range list.values {
				if !slices.Contains(list.known, v) {
					return d.errorf(index(join(path, list.key), j), "unknown %s %q (want one of %s)", list.what, v, strings.Join(list.known, ", "))
				}
			}
		}
		c.Notify = append(c.Notify, Notify{URL: n.URL, Secret: n.Secret, Events: n.Events, Apps: n.Apps, Envs: n.Envs})
	}
	return nil
}

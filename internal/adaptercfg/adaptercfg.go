// Package adaptercfg is where the configuration meets the adapters: it
// hands each adapter its blocks (an app's exec:, kubernetes:, jenkins:,
// checks and smoke, chat.discord, the jenkins and prometheus servers),
// which the adapter decodes and checks, so that internal/config knows no
// adapter.
package adaptercfg

import (
	"maps"
	"slices"

	"shipmate/internal/adapters/discord"
	"shipmate/internal/adapters/exec"
	"shipmate/internal/adapters/jenkins"
	kube "shipmate/internal/adapters/kubernetes"
	"shipmate/internal/adapters/prometheus"
	"shipmate/internal/config"
)

// Settings is the whole configuration: the rule book and the core's keys,
// and each adapter's block as the adapter decoded and checked it. Errors
// name the block's key and line, as the configuration's own do.
type Settings struct {
	*config.Config
	AppBlocks map[string]App
	Jenkins   *jenkins.ServerConfig // nil: no Jenkins
	Discord   *discord.Config       // nil: Discord off
	// Prometheus is the server of the post-deployment analysis (nil: no
	// analysis runs).
	Prometheus *prometheus.Config
}

// App is an app's executor block and automated checks, decoded.
type App struct {
	Exec    *exec.Config
	Kube    *kube.Config
	Smoke   []kube.Smoke
	Jenkins *jenkins.JobConfig
	Checks  map[string]jenkins.CheckConfig
}

// Decode hands each adapter its blocks of cfg.
func Decode(cfg *config.Config) (*Settings, error) {
	s := &Settings{Config: cfg, AppBlocks: map[string]App{}}
	if b := cfg.Jenkins; b != nil {
		s.Jenkins = &jenkins.ServerConfig{}
		if err := decodeBlock(b, s.Jenkins, s.Jenkins.Validate); err != nil {
			return nil, err
		}
	}
	if b := cfg.Prometheus; b != nil {
		s.Prometheus = &prometheus.Config{}
		if err := decodeBlock(b, s.Prometheus, s.Prometheus.Validate); err != nil {
			return nil, err
		}
	}
	if b := cfg.Chat.Discord; b != nil {
		s.Discord = &discord.Config{}
		if err := decodeBlock(b, s.Discord, s.Discord.Validate); err != nil {
			return nil, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Apps)) {
		a, err := decodeApp(cfg.Apps[name])
		if err != nil {
			return nil, err
		}
		s.AppBlocks[name] = a
	}
	return s, nil
}

func decodeApp(app config.AppConfig) (App, error) {
	var a App
	if b := app.Exec; b != nil {
		a.Exec = &exec.Config{}
		if err := decodeBlock(b, a.Exec, a.Exec.Check); err != nil {
			return a, err
		}
	}
	if b := app.Kubernetes; b != nil {
		a.Kube = &kube.Config{}
		if err := decodeBlock(b, a.Kube, a.Kube.Validate); err != nil {
			return a, err
		}
	}
	if b := app.Smoke; b != nil {
		if err := decodeBlock(b, &a.Smoke, func() error { return kube.CheckSmoke(a.Smoke) }); err != nil {
			return a, err
		}
	}
	if b := app.Jenkins; b != nil {
		a.Jenkins = &jenkins.JobConfig{}
		if err := decodeBlock(b, a.Jenkins, a.Jenkins.Validate); err != nil {
			return a, err
		}
	}
	for _, item := range slices.Sorted(maps.Keys(app.Checks)) {
		var c jenkins.CheckConfig
		if err := decodeBlock(app.Checks[item], &c, c.Validate); err != nil {
			return a, err
		}
		if a.Checks == nil {
			a.Checks = map[string]jenkins.CheckConfig{}
		}
		a.Checks[item] = c
	}
	return a, nil
}

// decodeBlock decodes b into v and runs the adapter's check of it.
func decodeBlock(b *config.Block, v any, check func() error) error {
	if err := b.Decode(v); err != nil {
		return err
	}
	return b.Check(check())
}

// Secrets lists the secret values of the configuration (tokens, signing
// secrets, passwords), which the engine keeps out of whatever it stores or
// shows.
func (s *Settings) Secrets() []string {
	var out []string
	add := func(v string) {
		if v != "" {
			out = append(out, v)
		}
	}
	add(s.Chat.Slack.BotToken)
	add(s.Chat.Slack.SigningSecret)
	add(s.Chat.Slack.AppToken)
	if s.Discord != nil {
		add(s.Discord.BotToken)
	}
	if s.Jenkins != nil {
		add(s.Jenkins.Token)
	}
	if s.Prometheus != nil {
		add(s.Prometheus.BearerToken)
		add(s.Prometheus.Password)
	}
	for _, a := range s.AppBlocks {
		if a.Kube != nil && a.Kube.Registry != nil {
			add(a.Kube.Registry.Password)
		}
	}
	return out
}

// Parse parses a configuration (see config.Parse) and decodes its adapters'
// blocks.
func Parse(data []byte, lookup func(string) (string, bool)) (*Settings, error) {
	cfg, err := config.Parse(data, lookup)
	if err != nil {
		return nil, err
	}
	return Decode(cfg)
}

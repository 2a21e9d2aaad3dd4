package discord_test

import (
	"path/filepath"

	"shipmate/internal/adapters/discord"
	"shipmate/internal/config"
	"shipmate/internal/runbook"
)

// The example flows load the configuration the way cmd/bot does; this
// file is outside package discord because internal/config imports it.
func init() {
	discord.LoadExample = func(getenv func(string) (string, bool)) (discord.Config, *runbook.Policy, error) {
		cfg, err := config.Load(filepath.Join("..", "..", "..", "configs", "example.yaml"), getenv)
		if err != nil {
			return discord.Config{}, nil, err
		}
		return cfg.Chat.Discord, &cfg.Policy, nil
	}
}

package discord_test

import (
	"path/filepath"

	"shipmate/internal/adapters/discord"
	"shipmate/internal/config"
	"shipmate/internal/runbook"
)

// The example flows load the configuration the way cmd/bot does: the
// configuration hands Discord its block, which Discord decodes and checks.
func init() {
	discord.LoadExample = func(getenv func(string) (string, bool)) (discord.Config, *runbook.Policy, error) {
		cfg, err := config.Load(filepath.Join("..", "..", "..", "configs", "example.yaml"), getenv)
		if err != nil {
			return discord.Config{}, nil, err
		}
		var dc discord.Config
		if b := cfg.Chat.Discord; b != nil {
			if err := b.Decode(&dc); err != nil {
				return discord.Config{}, nil, err
			}
			if err := b.Check(dc.Validate()); err != nil {
				return discord.Config{}, nil, err
			}
		}
		return dc, &cfg.Policy, nil
	}
}

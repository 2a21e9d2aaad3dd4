package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"shipmate/internal/adaptercfg"
)

// containerEnv is what a container gets from its secret: every chat on.
var containerEnv = map[string]string{
	"SLACK_BOT_TOKEN":        "xoxb-0000-container",
	"SLACK_SIGNING_SECRET":   "8f742231b10e8888abcd99yyyzzz85a5",
	"SLACK_ANNOUNCE_CHANNEL": "C0ANNOUNCE",
	"DISCORD_BOT_TOKEN":      "discord-container-token",
	"DISCORD_APPLICATION_ID": "100000000000000009",
	"DISCORD_PUBLIC_KEY":     strings.Repeat("ab", 32),
}

// The image's configuration (the Dockerfile's CMD) listens on every
// address with the web console off, turns Slack and Discord on from the
// environment, keeps the store on the volume, and passes `bot check`.
func TestContainerConfig(t *testing.T) {
	t.Parallel()
	docker, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(docker), `CMD ["--config", "/etc/shipmate/container.yaml"]`) {
		t.Errorf("the Dockerfile's CMD does not use configs/container.yaml (copied to /etc/shipmate)")
	}
	path := filepath.Join(repoRoot, "configs", "container.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := adaptercfg.Parse(data, func(k string) (string, bool) { v, ok := containerEnv[k]; return v, ok })
	if err != nil {
		t.Fatalf("configs/container.yaml: %v", err)
	}
	if s.Listen != "0.0.0.0:8080" || s.Chat.Web.Enabled {
		t.Errorf("listen %q, web console on: %v; want 0.0.0.0:8080 without a console", s.Listen, s.Chat.Web.Enabled)
	}
	if s.Chat.Slack.BotToken == "" || s.Chat.Slack.SigningSecret == "" || s.Discord == nil {
		t.Errorf("Slack (%v) or Discord (%v) is off with their tokens set", s.Chat.Slack.BotToken != "", s.Discord != nil)
	}
	if !strings.HasPrefix(s.Store, "/var/lib/shipmate/data/") {
		t.Errorf("store %q is not on the image's volume /var/lib/shipmate/data", s.Store)
	}
	for _, env := range [][]string{nil, envList(containerEnv)} {
		cmd := exec.Command(botBin, "check", "--config", path)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("bot check with %d variables: %v\n%s", len(env), err, out)
		}
	}
}

func envList(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// deploy/shipmate.service is a valid unit (systemd-analyze verify has
// nothing to say about it), keeps deploy commands alive across a restart
// (KillMode=process) and is hardened (systemd's own exposure score).
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	unit, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "shipmate.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nKillMode=process\n", "\nNoNewPrivileges=yes\n", "\nProtectSystem=strict\n", "\nStateDirectory=shipmate\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("deploy/shipmate.service has no %s", strings.TrimSpace(want))
		}
	}
	// verify wants the programs it starts to exist: the unit's copy runs
	// the bot just built.
	dir := t.TempDir()
	file := filepath.Join(dir, "shipmate.service")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/bot", botBin)), 0o644); err != nil {
		t.Fatal(err)
	}
	verify := exec.Command("systemd-analyze", "verify", "--man=no", file)
	verify.Dir = dir
	if out, err := verify.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// An exposure of 2.5 or less is what systemd calls OK.
	security := exec.Command("systemd-analyze", "security", "--offline=yes", "--threshold=25", "--no-pager", file)
	security.Dir = dir
	if out, err := security.CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze security: %v\n%s", err, out)
	}
}

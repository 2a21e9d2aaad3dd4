package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// botSetup is what a bot loadgen starts runs on: the binary, the Slack Web
// API stub, an app per connection and an app per waiting run (none on the
// base configuration).
type botSetup struct {
	bin, slackAPI string
	apps, waiting int
}

// setups are the two configurations of the bots loadgen starts: base has
// only the apps the state change locks and unlocks, full also the apps of
// the runs left waiting for approval.
type setups struct{ base, full botSetup }

// name says which configuration s writes, by its number of apps.
func (s botSetup) name() string { return thousands(s.apps+s.waiting) + " apps" }

// thousands writes n with a comma between groups of three digits.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// botConfig is the bot's configuration: Slack over HTTP with the known
// signing secret and the stub as its API, one deployer, an exec app per
// connection (never deployed: lock and unlock only), and an exec app per
// waiting run. Production needs the approval of a release manager, a role
// nobody holds, with no checklist, so that a deploy there waits for
// approval at once.
func botConfig(addr, store string, s botSetup) string {
	var b strings.Builder
	fmt.Fprintf(&b, `listen: %q
store: %q
people:
  bench: {slack: %s}
roles:
  deployer: {people: [bench]}
  release-manager: {people: []}
environments:
  development:
    aliases: [dev]
    deployers: [deployer]
    approval: none
    rollback: [requester]
  staging:
    deployers: [deployer]
    approval: none
    rollback: [requester]
  production:
    aliases: [prod]
    deployers: [deployer]
    approval: {roles: [release-manager], count: 1}
    rollback: [requester]
chat:
  slack:
    bot_token: xoxb-bench
    signing_secret: %s
    api_url: %s
apps:
`, addr, store, benchUser, signingSecret, s.slackAPI)
	for i := range s.apps {
		writeApp(&b, appName(i))
	}
	for i := range s.waiting {
		writeApp(&b, waitName(i))
	}
	return b.String()
}

func writeApp(b *strings.Builder, name string) {
	fmt.Fprintf(b, "  %s:\n    executor: exec\n    exec:\n      deploy: [\"true\"]\n      rollback: [\"true\"]\n", name)
}

// waitName is the app of the i-th run left waiting for approval.
func waitName(i int) string { return fmt.Sprintf("wait-%d", i) }

// startBot writes the configuration beside store and spawns the bot on it.
func startBot(s botSetup, store string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(store)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte(botConfig(addr, store, s)), 0o600); err != nil {
		return nil, err
	}
	return spawn(addr, nil, s.bin, "--config", config, "--log-level", "error")
}

// exampleConfig is the path of the example configuration, from the
// module's root.
const exampleConfig = "configs/example.yaml"

var storeLine = regexp.MustCompile(`(?m)^store:.*$`)

// startExample spawns the bot on a copy of the example configuration in
// dir, its store moved into dir, with Slack (over HTTP, with the known
// signing secret), Discord (gateway) and Kubernetes configured and none of
// them reachable: their addresses are a loopback port nobody listens on.
func startExample(bin, dir string) (*proc, error) {
	src, err := os.ReadFile(exampleConfig)
	if err != nil {
		return nil, fmt.Errorf("%w (run loadgen from the module's root)", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	src = storeLine.ReplaceAll(src, fmt.Appendf(nil, "store: %q", filepath.Join(dir, "shipmate.db")))
	config := filepath.Join(dir, "example.yaml")
	if err := os.WriteFile(config, src, 0o600); err != nil {
		return nil, err
	}
	dead, err := freeAddr()
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(deadKubeconfig(dead)), 0o600); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env := []string{
		"KUBECONFIG=" + kubeconfig, "PROMETHEUS_URL=",
		"SLACK_BOT_TOKEN=xoxb-bench", "SLACK_SIGNING_SECRET=" + signingSecret, "SLACK_APP_TOKEN=",
		"SLACK_API_URL=http://" + dead + "/api/", "SLACK_ANNOUNCE_CHANNEL=C0BENCH",
		"DISCORD_BOT_TOKEN=bench", "DISCORD_APPLICATION_ID=100000000000000009", "DISCORD_PUBLIC_KEY=",
		"DISCORD_GUILD_ID=", "DISCORD_API_URL=http://" + dead, "DISCORD_ANNOUNCE_CHANNEL=100000000000000008",
	}
	return spawn(addr, env, bin, "--config", config, "--listen", addr, "--log-level", "error")
}

// deadKubeconfig points at an API server on addr, where nobody listens.
func deadKubeconfig(addr string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: bench
  cluster: {server: "https://%s"}
contexts:
- name: bench
  context: {cluster: bench, user: bench}
current-context: bench
users:
- name: bench
  user: {token: bench}
`, addr)
}

package test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fixture is one test's world: a folder holding the configuration, the
// store and the deploy scripts, which record what they did in log files
// there.
type fixture struct {
	t      testing.TB
	dir    string
	config string // path of config.yaml
	store  string // path of the store file
	listen string // the listen: value
	window string // production's deployment window
	chat   string // more of the chat block (indented two spaces), e.g. a discord block
	top    string // more top-level keys, e.g. "retention: 1d\n"
	apps   string // more apps (indented two spaces)
	starts int    // bots started, for their names
}

// Windows for production.
const openWindow = "daily 00:00-24:00 UTC"

// closedWindow is a whole day that is neither today nor tomorrow (UTC), so
// that it stays closed even if the test runs across midnight.
func closedWindow() string {
	day := time.Now().UTC().AddDate(0, 0, 2).Weekday()
	return day.String()[:3] + " 00:00-24:00 UTC"
}

// newFixture makes a fixture with the standard scripts and configuration.
// Script processes a killed bot leaves behind are killed when the test ends.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{
		t: t, dir: dir,
		config: filepath.Join(dir, "config.yaml"),
		store:  filepath.Join(dir, "data", "shipmate.db"),
		listen: "127.0.0.1:0",
		window: openWindow,
	}
	t.Cleanup(f.killScripts)
	f.script("deploy.sh", deployScript)
	f.script("rollback.sh", rollbackScript)
	f.script("resolve.sh", resolveScript)
	f.writeConfig()
	return f
}

// Every script records its pid in pids (for killScripts) and what it did in
// a log file, before it does anything slow.
const (
	// deployScript sleeps for versions containing "slow" (long enough to
	// be killed in the middle), takes 2s for "drain", fails for "fail".
	deployScript = `d=$(dirname "$0")
echo $$ >> "$d/pids"
echo $$ > "$d/deploy.pid"
echo "started $SHIPMATE_RUN_ID $SHIPMATE_VERSION" >> "$d/starts.log"
echo "deploying $SHIPMATE_APP $SHIPMATE_VERSION to $SHIPMATE_ENV"
case "$SHIPMATE_VERSION" in
*slow*) sleep 30 ;;
*drain*) sleep 2 ;;
*fail*) echo "$SHIPMATE_VERSION does not start"; exit 1 ;;
esac
echo "deployed $SHIPMATE_VERSION"
`
	// rollbackScript sleeps when undoing a version containing "hangrb".
	rollbackScript = `d=$(dirname "$0")
echo $$ >> "$d/pids"
echo "rollback $SHIPMATE_RUN_ID $SHIPMATE_VERSION" >> "$d/rollbacks.log"
case "$SHIPMATE_PREVIOUS_VERSION" in
*hangrb*) sleep 30 ;;
esac
echo "rolled back to $SHIPMATE_VERSION"
`
	// resolveScript names the artifact; it hangs while resolve.block exists.
	resolveScript = `d=$(dirname "$0")
echo $$ >> "$d/pids"
echo "resolve $SHIPMATE_RUN_ID $SHIPMATE_VERSION" >> "$d/resolves.log"
if [ -e "$d/resolve.block" ]; then sleep 30; fi
echo "artifact-$SHIPMATE_VERSION"
`
)

// configText is the configuration for the fixture's current settings.
func (f *fixture) configText() string {
	q := strconv.Quote
	return fmt.Sprintf(`listen: %s
store: %s
roles:
  deployer:        {web: [alice, bob, rita], discord: ["100000000000000001"]}
  tech-lead:       {web: [alice], discord: ["100000000000000002"]}
  release-manager: {web: [rita], discord_roles: ["876543210987654321"]}
checklist:
  merged: "Code merged to release branch"
  tests:  "All tests passing"
environments:
  development:
    aliases: [dev]
    deployers: [deployer]
    approval: none
    rollback: [requester]
  staging:
    aliases: [stg]
    deployers: [deployer]
    approval: {roles: [tech-lead], count: 1}
    checklist: [merged, tests]
    rollback: [requester]
  qa:
    deployers: [deployer]
    approval: {roles: [tech-lead, release-manager], count: 2}
    rollback: [requester]
  canary:
    deployers: [deployer]
    approval: none
    monitor: 1h
    rollback: [requester]
  production:
    aliases: [prod]
    deployers: [deployer]
    approval: {roles: [release-manager], count: 1, allow_self: false}
    windows: [%s]
    rollback: [release-manager]
apps:
  demo:
    executor: exec
    exec:
      deploy:   ["sh", %s]
      rollback: ["sh", %s]
      resolve:  ["sh", %s]
      timeout: 1m
      grace: 1s
%schat:
  web:
    enabled: true
%s%s`, q(f.listen), q(f.store), q(f.window),
		q(filepath.Join(f.dir, "deploy.sh")), q(filepath.Join(f.dir, "rollback.sh")), q(filepath.Join(f.dir, "resolve.sh")), f.apps, f.chat, f.top)
}

// writeConfig writes config.yaml for the fixture's current settings.
func (f *fixture) writeConfig() { f.write("config.yaml", f.configText()) }

func (f *fixture) write(name, content string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) script(name, body string) { f.write(name, "#!/bin/sh\n"+body) }

// start starts a bot on the fixture's configuration.
func (f *fixture) start() *bot {
	f.t.Helper()
	f.starts++
	return startBot(f.t, fmt.Sprintf("bot#%d", f.starts), f.dir, f.config)
}

// lines returns the lines of one of the scripts' log files.
func (f *fixture) lines(name string) []string {
	f.t.Helper()
	data, err := os.ReadFile(filepath.Join(f.dir, name))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

// count returns how many lines of a log file start with prefix.
func (f *fixture) count(name, prefix string) int {
	n := 0
	for _, l := range f.lines(name) {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// waitLine waits until a log file has a line starting with prefix.
func (f *fixture) waitLine(name, prefix string) {
	f.t.Helper()
	eventually(f.t, stateTimeout, fmt.Sprintf("%s to have %q", name, prefix), func() (bool, string) {
		return f.count(name, prefix) > 0, fmt.Sprint(f.lines(name))
	})
}

// startsOf returns how many times the deploy step ran for run id.
func (f *fixture) startsOf(id uint64) int {
	return f.count("starts.log", fmt.Sprintf("started %d ", id))
}

// killScripts kills the process groups of script processes that are still
// running, such as those a killed bot left behind. A pid is only used while
// its process is still one of this fixture's scripts.
func (f *fixture) killScripts() {
	for _, l := range f.lines("pids") {
		pid, err := strconv.Atoi(l)
		if err != nil || pid <= 1 {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(cmdline, []byte(f.dir)) {
			continue
		}
		// The executor starts each step in a process group of its own.
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid > 1 {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
}

// startOnFixedPort starts a bot listening on a port chosen before it
// starts, as bot export needs to find a running bot through the configured
// address. Another process may take the port first: then it tries another.
func (f *fixture) startOnFixedPort() *bot {
	f.t.Helper()
	for attempt := 1; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			f.t.Fatal(err)
		}
		f.listen = ln.Addr().String()
		_ = ln.Close()
		f.writeConfig()
		f.starts++
		b, err := launch(f.t, fmt.Sprintf("bot#%d", f.starts), f.dir, f.config)
		if err == nil {
			return b
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			f.t.Fatal(err)
		}
	}
}

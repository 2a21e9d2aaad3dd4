package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// commands are bot's commands, as its help lists them.
var commands = []string{"check", "completion", "export", "help", "migrate", "runs", "serve", "version"}

// runEnv is runOnce with the variables env added to a process environment
// that has no SHIPMATE_* variable of its own.
func runEnv(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, botBin, args...)
	cmd.Dir, cmd.Env = dir, append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil || (err != nil && exitCode(err) < 0) {
		t.Fatalf("bot %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return result{code: exitCode(err), stdout: stdout.String(), stderr: stderr.String()}
}

// cleanEnv is this process's environment without SHIPMATE_* variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SHIPMATE_") {
			env = append(env, kv)
		}
	}
	return env
}

// bot --help, bot help runs, bot version and bot --version, as a person
// new to Shipmate would try them.
func TestHelpAndVersion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res := runEnv(t, dir, nil, "--help")
	if res.code != 0 || res.stderr != "" {
		t.Errorf("bot --help: exit %d, stderr %q; want 0 and nothing", res.code, res.stderr)
	}
	for _, want := range append(commands, "--config", "--listen", "--log-level", "--tick", "--version",
		"SHIPMATE_CONFIG", "SHIPMATE_LISTEN", "SHIPMATE_LOG_LEVEL", "SHIPMATE_TICK") {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("bot --help does not mention %s:\n%s", want, res.stdout)
		}
	}
	res = runEnv(t, dir, nil, "help", "runs")
	for _, want := range []string{"bot runs [flags]", "--app APP", "--state STATES", "SHIPMATE_RUNS_APP", "SHIPMATE_RUNS_SINCE"} {
		if res.code != 0 || !strings.Contains(res.stdout, want) {
			t.Errorf("bot help runs: exit %d, no %q in:\n%s", res.code, want, res.stdout)
		}
	}

	version := runEnv(t, dir, nil, "version")
	flag := runEnv(t, dir, nil, "--version")
	line := strings.TrimSuffix(version.stdout, "\n")
	if version.code != 0 || flag.code != 0 || flag.stdout != version.stdout || strings.Contains(line, "\n") {
		t.Fatalf("bot version = %d %q, bot --version = %d %q; want 0 and the same one line", version.code, version.stdout, flag.code, flag.stdout)
	}
	// The binary was built by the toolchain running this test.
	for _, want := range []string{"shipmate ", " " + runtime.Version() + " ", runtime.GOOS + "/" + runtime.GOARCH, "(commit "} {
		if !strings.Contains(line+" ", want) {
			t.Errorf("bot version = %q, want %q in it", line, want)
		}
	}
	// Built in a git checkout with VCS stamping, the commit is HEAD's.
	if _, rest, ok := strings.Cut(line, "(commit "); ok && !strings.HasPrefix(rest, "unknown") {
		head, err := exec.Command("git", "-C", repoRoot, "rev-parse", "HEAD").Output()
		if err == nil && !strings.HasPrefix(rest, strings.TrimSpace(string(head))) {
			t.Errorf("bot version = %q, want commit %s", line, head)
		}
	}
}

// Which address the bot listens on shows which of --listen, SHIPMATE_LISTEN
// and the configuration's listen won; which configuration it loaded, of
// --config and SHIPMATE_CONFIG, likewise.
func TestFlagsOverVariablesOverConfiguration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string // the host it listens on
	}{
		{"configuration", nil, []string{"--config", "config.yaml"}, "127.0.0.1"},
		{"variable over configuration", []string{"SHIPMATE_LISTEN=127.0.0.2:0"}, []string{"--config", "config.yaml"}, "127.0.0.2"},
		{"flag over variable", []string{"SHIPMATE_LISTEN=127.0.0.2:0"}, []string{"--config", "config.yaml", "--listen", "127.0.0.3:0"}, "127.0.0.3"},
		{"SHIPMATE_CONFIG", []string{"SHIPMATE_CONFIG=other.yaml"}, nil, "127.0.0.4"},
		{"--config over SHIPMATE_CONFIG", []string{"SHIPMATE_CONFIG=other.yaml"}, []string{"--config", "config.yaml"}, "127.0.0.1"},
		{"variables only", []string{"SHIPMATE_CONFIG=config.yaml", "SHIPMATE_LISTEN=127.0.0.5:0", "SHIPMATE_TICK=" + tick}, nil, "127.0.0.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.listen = "127.0.0.4:0"
			f.write("other.yaml", f.configText())
			addr := listenWith(t, f.dir, tc.env, tc.args...)
			if !strings.HasPrefix(addr, tc.want+":") {
				t.Errorf("bot %s with %v listens on %s, want %s", strings.Join(tc.args, " "), tc.env, addr, tc.want)
			}
		})
	}
}

// listenWith starts the bot in dir with env and args, returns the address
// it logs it listens on, and stops it.
func listenWith(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	log := newLogWriter()
	cmd := exec.Command(botBin, args...)
	cmd.Dir, cmd.Env, cmd.Stderr = dir, append(cleanEnv(), env...), log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-done
	}()
	select {
	case l := <-log.listening:
		return l.addr
	case err := <-done:
		t.Fatalf("bot exited before listening (%v):\n%s", err, log.String())
	case <-time.After(startTimeout):
		t.Fatalf("bot did not log \"listening\" within %s:\n%s", startTimeout, log.String())
	}
	return ""
}

// A mistyped command, an unknown flag or a bad variable is refused with
// exit status 2 and one line saying what is wrong, before the bot starts.
func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct {
		env    []string
		args   string
		stderr string
	}{
		{nil, "deploy demo", `shipmate: unknown command "deploy" (bot --help says more)`},
		{nil, "chek", `shipmate: unknown command "chek": did you mean check? (bot --help says more)`},
		{nil, "--config config.yaml --frobnicate", "shipmate: unknown flag: --frobnicate (bot --help says more)"},
		{nil, "export --json 1", "shipmate: unknown flag: --json (bot export --help says more)"},
		{[]string{"SHIPMATE_TICK=fast"}, "--config config.yaml", `shipmate: SHIPMATE_TICK="fast": want a duration such as 5s or 200ms`},
		{[]string{"SHIPMATE_LISTEN=0.0.0.0:0"}, "--config config.yaml", `shipmate: SHIPMATE_LISTEN: "0.0.0.0:0" is not a loopback address`},
		{[]string{"SHIPMATE_CONFIG=missing.yaml"}, "check", "shipmate: config: open missing.yaml: no such file or directory"},
	} {
		res := runEnv(t, f.dir, tc.env, strings.Fields(tc.args)...)
		lines := strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n")
		if res.code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], tc.stderr) {
			t.Errorf("bot %s with %v: exit %d, stderr %q; want 2 and the one line %q", tc.args, tc.env, res.code, res.stderr, tc.stderr)
		}
	}
	if _, err := os.Stat(filepath.Dir(f.store)); !os.IsNotExist(err) {
		t.Errorf("a refused command line created the store's folder (%v)", err)
	}
}

// bot completion writes scripts the shells read; they ask bot __complete,
// which offers every command and the values of --state.
func TestCompletion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		res := runEnv(t, dir, nil, "completion", shell)
		if res.code != 0 || !strings.Contains(res.stdout, "__complete") {
			t.Errorf("bot completion %s: exit %d, %d bytes, stderr %q; want a script calling bot __complete", shell, res.code, len(res.stdout), res.stderr)
			continue
		}
		sh := map[string]string{"bash": "bash", "zsh": "zsh", "fish": "fish"}[shell]
		if path, err := exec.LookPath(sh); err == nil && sh != "" {
			check := exec.Command(path, "-n")
			check.Stdin = strings.NewReader(res.stdout)
			if out, err := check.CombinedOutput(); err != nil {
				t.Errorf("%s -n refuses bot completion %s: %v\n%s", sh, shell, err, out)
			}
		} else if shell == "bash" {
			t.Errorf("no bash to check the script with: %v", err)
		}
	}
	res := runEnv(t, dir, nil, "__complete", "")
	for _, c := range commands {
		if !strings.Contains(res.stdout, fmt.Sprintf("\n%s\t", c)) && !strings.HasPrefix(res.stdout, c+"\t") {
			t.Errorf("bot __complete '' does not offer %s:\n%s", c, res.stdout)
		}
	}
	res = runEnv(t, dir, nil, "__complete", "runs", "--state", "")
	if !strings.Contains(res.stdout, "rolled_back\n") || !strings.Contains(res.stdout, "awaiting_approval\n") {
		t.Errorf("bot __complete runs --state '' does not offer the states:\n%s", res.stdout)
	}
}

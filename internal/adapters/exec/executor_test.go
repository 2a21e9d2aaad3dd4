package exec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/runbook"
)

func TestNewChecksConfig(t *testing.T) {
	sh := []string{"sh", "x.sh"}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no deploy", Config{Rollback: sh}, "exec: the deploy command is required"},
		{"no rollback", Config{Deploy: sh}, "exec: the rollback command is required"},
		{"empty program", Config{Deploy: sh, Rollback: []string{"", "x"}}, "exec: the rollback command has an empty program name"},
		{"empty verify program", Config{Deploy: sh, Rollback: sh, Verify: []string{""}}, "exec: the verify command has an empty program name"},
		{"negative timeout", Config{Deploy: sh, Rollback: sh, Timeout: -time.Second}, "exec: timeout -1s is negative"},
		{"negative grace", Config{Deploy: sh, Rollback: sh, Grace: -time.Second}, "exec: grace -1s is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || err.Error() != tc.want {
				t.Errorf("New() error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNewDefaultsAndCopies(t *testing.T) {
	deploy := []string{"sh", "deploy.sh"}
	e, err := New(Config{Deploy: deploy, Rollback: []string{"sh", "rollback.sh"}})
	if err != nil {
		t.Fatal(err)
	}
	if e.cfg.Timeout != 5*time.Minute || e.cfg.Grace != 5*time.Second {
		t.Errorf("timeout, grace = %s, %s; want 5m0s, 5s", e.cfg.Timeout, e.cfg.Grace)
	}
	deploy[1] = "changed.sh"
	if e.cfg.Deploy[1] != "deploy.sh" {
		t.Errorf("changing the caller's slice changed the deploy command to %q", e.cfg.Deploy)
	}
}

// Steps get a minimal environment, what pass_env names and what env sets:
// never the bot's tokens, which a script printing its environment would put
// into chat and the audit trail.
func TestStepsGetOnlyWhatTheyNeed(t *testing.T) {
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-secret-token")
	t.Setenv("JENKINS_TOKEN", "jenkins-secret")
	t.Setenv("KUBECONFIG", "/etc/kube/config")
	t.Setenv("TZ", "Europe/Paris")
	var out []string
	argv := script(t, "env | LC_ALL=C sort\n")
	e := mustNew(t, Config{Deploy: argv, Rollback: argv, PassEnv: []string{"KUBECONFIG"},
		Env: map[string]string{"REGION": "eu-west-1", "TZ": "UTC"}})
	if err := e.Deploy(t.Context(), runbook.Job{RunID: 1, App: "shop", Env: "prod", Version: "1.0", Requester: "rita"},
		func(l string) { out = append(out, l) }); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range out {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	for k, want := range map[string]string{"KUBECONFIG": "/etc/kube/config", "REGION": "eu-west-1", "TZ": "UTC",
		"SHIPMATE_APP": "shop", "SHIPMATE_REQUESTER": "rita", "PATH": os.Getenv("PATH")} {
		if got[k] != want {
			t.Errorf("%s=%q, want %q", k, got[k], want)
		}
	}
	for _, secret := range []string{"xoxb-secret-token", "jenkins-secret"} {
		if slices.ContainsFunc(out, func(l string) bool { return strings.Contains(l, secret) }) {
			t.Errorf("a step saw %s: %q", secret, out)
		}
	}
}

func TestEnvironment(t *testing.T) {
	// What the bot inherited does not reach the commands: neither a stale
	// job variable nor anything else.
	t.Setenv("SHIPMATE_ARTIFACT", "stale")
	t.Setenv("SHIPMATE_TEST_INHERITED", "kept")

	dir := t.TempDir()
	argv := script(t, fmt.Sprintf(
		"env | grep '^SHIPMATE_' | LC_ALL=C sort >%s/\"$SHIPMATE_ACTION\".env\necho resolved\n", shq(dir)))
	e := mustNew(t, Config{Deploy: argv, Rollback: argv, Verify: argv, Health: argv, Resolve: argv, Drain: argv})
	ctx := t.Context()

	deploy := runbook.Job{RunID: 42, Action: runbook.ActionDeploy, App: "shop", Env: "prod",
		Version: "1.4.0", PreviousVersion: "1.3.0", Artifact: "sha256:abc", Requester: "U123"}
	rollback := runbook.Job{RunID: 43, Action: runbook.ActionRollback, App: "shop", Env: "prod",
		Version: "1.3.0", PreviousVersion: "1.4.0", Requester: "U456"}
	first := runbook.Job{RunID: 1, App: "shop", Env: "staging", Version: "0.1.0", Requester: "U1"}

	for _, tc := range []struct {
		action string
		run    func() error
		want   []string
	}{
		{"deploy", func() error { return e.Deploy(ctx, deploy, nil) }, []string{
			"SHIPMATE_ACTION=deploy", "SHIPMATE_APP=shop", "SHIPMATE_ARTIFACT=sha256:abc", "SHIPMATE_ENV=prod",
			"SHIPMATE_PREVIOUS_VERSION=1.3.0", "SHIPMATE_REQUESTER=U123", "SHIPMATE_RUN_ID=42",
			"SHIPMATE_VERSION=1.4.0",
		}},
		{"rollback", func() error { return e.Rollback(ctx, rollback, nil) }, []string{
			"SHIPMATE_ACTION=rollback", "SHIPMATE_APP=shop", "SHIPMATE_ENV=prod",
			"SHIPMATE_PREVIOUS_VERSION=1.4.0", "SHIPMATE_REQUESTER=U456", "SHIPMATE_RUN_ID=43",
			"SHIPMATE_VERSION=1.3.0",
		}},
		{"verify", func() error { return e.Verify(ctx, first, nil) }, []string{
			"SHIPMATE_ACTION=verify", "SHIPMATE_APP=shop", "SHIPMATE_ENV=staging",
			"SHIPMATE_REQUESTER=U1", "SHIPMATE_RUN_ID=1",
			"SHIPMATE_VERSION=0.1.0",
		}},
		{"drain", func() error { return e.Drain(ctx, rollback, nil) }, []string{
			"SHIPMATE_ACTION=drain", "SHIPMATE_APP=shop", "SHIPMATE_ENV=prod",
			"SHIPMATE_PREVIOUS_VERSION=1.4.0", "SHIPMATE_REQUESTER=U456", "SHIPMATE_RUN_ID=43",
			"SHIPMATE_VERSION=1.3.0",
		}},
		{"health", func() error { return e.Health(ctx, deploy) }, []string{
			"SHIPMATE_ACTION=health", "SHIPMATE_APP=shop", "SHIPMATE_ARTIFACT=sha256:abc", "SHIPMATE_ENV=prod",
			"SHIPMATE_PREVIOUS_VERSION=1.3.0", "SHIPMATE_REQUESTER=U123", "SHIPMATE_RUN_ID=42",
			"SHIPMATE_VERSION=1.4.0",
		}},
		{"resolve", func() error { _, err := e.Resolve(ctx, first); return err }, []string{
			"SHIPMATE_ACTION=resolve", "SHIPMATE_APP=shop", "SHIPMATE_ENV=staging",
			"SHIPMATE_REQUESTER=U1", "SHIPMATE_RUN_ID=1",
			"SHIPMATE_VERSION=0.1.0",
		}},
	} {
		t.Run(tc.action, func(t *testing.T) {
			if err := tc.run(); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, tc.action+".env"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, strings.Fields(string(b))); diff != "" {
				t.Errorf("environment (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOutputStreamsWhileRunning(t *testing.T) {
	t.Parallel()
	release := filepath.Join(t.TempDir(), "release")
	argv := script(t, fmt.Sprintf(`echo first
while [ ! -e %s ]; do sleep 0.05; done
echo second >&2
`, shq(release)))
	e := mustNew(t, Config{Deploy: argv})

	out := newLines()
	done := make(chan error, 1)
	go func() { done <- e.Deploy(t.Context(), runbook.Job{}, out.progress) }()

	out.await(t, "first", 10*time.Second)
	select {
	case err := <-done:
		t.Fatalf("Deploy returned (%v) before the script was released", err)
	default:
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"first", "second"}, out.get()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestLotsOfOutput(t *testing.T) {
	t.Parallel()
	// A line far longer than a pipe buffer, then many short lines on both
	// stdout and stderr, in order.
	argv := script(t, `head -c 3000000 /dev/zero | tr '\0' x
echo
echo after
i=0
while [ $i -lt 3000 ]; do
	echo "out $i"
	echo "err $i" >&2
	i=$((i+1))
done
printf end
`)
	e := mustNew(t, Config{Deploy: argv})
	var got []string
	if err := e.Deploy(t.Context(), runbook.Job{}, func(l string) { got = append(got, l) }); err != nil {
		t.Fatal(err)
	}
	want := []string{strings.Repeat("x", maxLine), "after"}
	for i := range 3000 {
		want = append(want, fmt.Sprint("out ", i), fmt.Sprint("err ", i))
	}
	want = append(want, "end")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	job := runbook.Job{App: "shop", Env: "prod", Version: "1.0.0"}
	for _, tc := range []struct {
		name string
		body string
		run  func(e *Executor) error
		want string
	}{
		{"deploy status and last line", "echo step one\necho boom >&2\nexit 3\n",
			func(e *Executor) error { return e.Deploy(t.Context(), job, nil) },
			"deploy exited with status 3: boom"},
		{"no output", "exit 4\n",
			func(e *Executor) error { return e.Deploy(t.Context(), job, nil) },
			"deploy exited with status 4"},
		{"last non-empty line, trimmed", "echo '  last words  '\necho\necho '   '\nexit 1\n",
			func(e *Executor) error { return e.Rollback(t.Context(), job, nil) },
			"rollback exited with status 1: last words"},
		{"killed by a signal", "echo dying\nkill -KILL $$\n",
			func(e *Executor) error { return e.Deploy(t.Context(), job, nil) },
			"deploy was stopped (signal: killed): dying"},
		{"verify", "echo 'smoke: GET /healthz 500'\nexit 2\n",
			func(e *Executor) error { return e.Verify(t.Context(), job, nil) },
			"verify exited with status 2: smoke: GET /healthz 500"},
		{"health", "echo unhealthy\nexit 1\n",
			func(e *Executor) error { return e.Health(t.Context(), job) },
			"health exited with status 1: unhealthy"},
		{"resolve", "echo no such tag >&2\nexit 1\n",
			func(e *Executor) error { _, err := e.Resolve(t.Context(), job); return err },
			"resolve exited with status 1: no such tag"},
		{"NUL in chat input", "true\n",
			func(e *Executor) error { return e.Deploy(t.Context(), runbook.Job{Version: "1\x00"}, nil) },
			"deploy: SHIPMATE_VERSION contains a NUL byte"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argv := script(t, tc.body)
			e := mustNew(t, Config{Deploy: argv, Rollback: argv, Verify: argv, Health: argv, Resolve: argv})
			err := tc.run(e)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCannotStart(t *testing.T) {
	t.Parallel()
	e := mustNew(t, Config{Deploy: []string{"/nonexistent/shipmate-deploy", "x"}})
	err := e.Deploy(t.Context(), runbook.Job{}, nil)
	const want = `deploy: cannot start "/nonexistent/shipmate-deploy": `
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %v, want it to start with %q", err, want)
	}
}

func TestDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := mustNew(t, Config{Deploy: []string{"pwd"}, Dir: dir})
	var got []string
	if err := e.Deploy(t.Context(), runbook.Job{}, func(l string) { got = append(got, l) }); err != nil {
		t.Fatal(err)
	}
	want, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{want}, got); diff != "" {
		t.Errorf("pwd (-want +got):\n%s", diff)
	}
}

func TestChatInputIsOnlyData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Even unquoted, as in the echo, an expansion is never parsed as code.
	argv := script(t, `printf '%s\n' "$SHIPMATE_APP" "$SHIPMATE_VERSION" "$SHIPMATE_ENV" "$SHIPMATE_REQUESTER"
echo $SHIPMATE_VERSION
`)
	e := mustNew(t, Config{Deploy: argv, Dir: dir})
	for _, hostile := range []string{
		"$(touch pwned)",
		"; touch pwned",
		"`touch pwned`",
		"1.0 && touch pwned",
		"1.0' ; touch pwned ; '",
		"1.0 | touch pwned",
		"--help",
	} {
		var got []string
		j := runbook.Job{App: hostile, Version: hostile, Env: hostile, Requester: hostile}
		if err := e.Deploy(t.Context(), j, func(l string) { got = append(got, l) }); err != nil {
			t.Fatalf("Deploy(%q): %v", hostile, err)
		}
		want := []string{hostile, hostile, hostile, hostile, hostile}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Deploy(%q) printed (-want +got):\n%s", hostile, diff)
		}
	}
	for _, d := range []string{dir, filepath.Dir(argv[1]), "."} {
		if _, err := os.Stat(filepath.Join(d, "pwned")); !os.IsNotExist(err) {
			t.Errorf("%s/pwned exists (or stat failed: %v): chat input ran as a command", d, err)
		}
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	job := runbook.Job{Version: "1.4.0"}
	for _, tc := range []struct {
		name    string
		body    string
		want    string
		wantErr string
	}{
		{"last non-empty line, trimmed", "echo looking up 1.4.0 >&2\necho\necho '  sha256:abc  '\necho '   '\n", "sha256:abc", ""},
		{"no final newline", "printf 'build 17'", "build 17", ""},
		{"prints nothing", "echo\n", "", "resolve printed no artifact"},
		{"fails", "echo sha256:abc\necho unknown version >&2\nexit 1\n", "", "resolve exited with status 1: unknown version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustNew(t, Config{Resolve: script(t, tc.body)})
			got, err := e.Resolve(t.Context(), job)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Errorf("Resolve() = %q, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Resolve() = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestUnsetOptionalCommands(t *testing.T) {
	t.Parallel()
	e := mustNew(t, Config{})
	job := runbook.Job{Version: "1.4.0"}
	called := false
	if err := e.Verify(t.Context(), job, func(string) { called = true }); err != nil || called {
		t.Errorf("Verify() = %v, progress called %t; want nil, false", err, called)
	}
	if err := e.Health(t.Context(), job); err != nil {
		t.Errorf("Health() = %v, want nil", err)
	}
	if got, err := e.Resolve(t.Context(), job); err != nil || got != "1.4.0" {
		t.Errorf("Resolve() = %q, %v; want the version %q", got, err, "1.4.0")
	}
}

func TestCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	ran := filepath.Join(t.TempDir(), "ran")
	e := mustNew(t, Config{Deploy: script(t, "touch "+shq(ran)+"\n")})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := e.Deploy(ctx, runbook.Job{}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("the command ran although ctx was cancelled")
	}
}

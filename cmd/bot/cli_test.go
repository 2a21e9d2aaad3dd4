package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// call runs the command line args with the variables env and returns the
// exit status and output. It runs in cmd/bot, where there is no
// configs/shipmate.yaml: the embedded default is used.
func call(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code := execute(args, lookup, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// Every command's help exits 0 and lists the command's flags and the
// variables that set them; bot's own help lists every command.
func TestHelpListsFlagsAndVariables(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
		not  []string // flags a command accepts for compatibility but does not use
	}{
		{[]string{"--help"}, []string{"check", "completion", "export", "help", "migrate", "runs", "serve", "version",
			"--config FILE", "--listen ADDR", "--log-level LEVEL", "--tick", "--version",
			"SHIPMATE_CONFIG ", "SHIPMATE_LISTEN ", "SHIPMATE_LOG_LEVEL ", "SHIPMATE_TICK "}, nil},
		{[]string{"help", "serve"}, []string{"--tick", "SHIPMATE_TICK ", "SHIPMATE_LISTEN "}, nil},
		{[]string{"check", "-h"}, []string{"--online", "SHIPMATE_ONLINE ", "SHIPMATE_CONFIG "}, []string{"--tick", "SHIPMATE_TICK"}},
		{[]string{"export", "--help"}, []string{"--incident", "SHIPMATE_INCIDENT ", "SHIPMATE_LOG_LEVEL "}, []string{"--tick"}},
		{[]string{"help", "runs"}, []string{"--app APP", "--since AGE", "--limit N", "SHIPMATE_RUNS_APP ", "SHIPMATE_RUNS_ENV ",
			"SHIPMATE_RUNS_STATE ", "SHIPMATE_RUNS_SINCE ", "SHIPMATE_RUNS_LIMIT ", "SHIPMATE_RUNS_JSON "}, []string{"--tick", "--log-level"}},
		{[]string{"migrate", "--help"}, []string{"Copies a whole Shipmate store", "--from", "--to", "SHIPMATE_FROM ", "SHIPMATE_TO "}, nil},
		{[]string{"completion", "--help"}, []string{"bash", "zsh", "fish", "powershell"}, nil},
	} {
		code, out, errOut := call(t, nil, tc.args...)
		if code != 0 || errOut != "" {
			t.Errorf("bot %s: exit %d, stderr %q; want 0 and nothing", strings.Join(tc.args, " "), code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("bot %s does not mention %q:\n%s", strings.Join(tc.args, " "), w, out)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(out, n) {
				t.Errorf("bot %s mentions %q, which it does not use:\n%s", strings.Join(tc.args, " "), n, out)
			}
		}
	}
}

// Mistakes in how the bot is called exit 2 with one line saying what is
// wrong; a bad variable is named.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args   string
		env    map[string]string
		stderr string
	}{
		{"chek", nil, `shipmate: unknown command "chek": did you mean check? (bot --help says more)` + "\n"},
		{"--frobnicate", nil, "shipmate: unknown flag: --frobnicate (bot --help says more)\n"},
		{"runs --frobnicate", nil, "shipmate: unknown flag: --frobnicate (bot runs --help says more)\n"},
		{"check --config", nil, "shipmate: flag needs an argument: --config (bot check --help says more)\n"},
		{"help nosuch", nil, `shipmate: no command "nosuch" to help with (bot help --help says more)` + "\n"},
		{"check extra", nil, "usage: bot check [--config FILE] [--online]\n"},
		{"export", nil, "usage: bot export [--config FILE] [--incident] RUN-ID\n"},
		{"migrate --from a.db", nil, "usage: bot migrate --from SRC --to DST (bot migrate -h says more)\n"},
		{"check", map[string]string{"SHIPMATE_TICK": "fast"}, ""}, // check does not use --tick
		{"", map[string]string{"SHIPMATE_TICK": "fast"}, `shipmate: SHIPMATE_TICK="fast": want a duration such as 5s or 200ms` + "\n"},
		{"", map[string]string{"SHIPMATE_LOG_LEVEL": "loud"}, `shipmate: SHIPMATE_LOG_LEVEL="loud": want debug, info, warn or error` + "\n"},
		{"check", map[string]string{"SHIPMATE_ONLINE": "sure"}, `shipmate: SHIPMATE_ONLINE="sure": want true or false` + "\n"},
		{"runs", map[string]string{"SHIPMATE_RUNS_LIMIT": "many"}, `shipmate: SHIPMATE_RUNS_LIMIT="many": want a whole number` + "\n"},
		{"runs", map[string]string{"SHIPMATE_RUNS_LIMIT": "0"}, "shipmate: SHIPMATE_RUNS_LIMIT=0: want a number from 1 to 1000\n"},
		{"runs --limit 0", nil, "shipmate: --limit 0: want a number from 1 to 1000\n"},
		{"runs", map[string]string{"SHIPMATE_RUNS_STATE": "done"}, `shipmate: SHIPMATE_RUNS_STATE: unknown state "done"`},
		{"check", map[string]string{"SHIPMATE_CONFIG": "nosuch.yaml"}, "shipmate: config: open nosuch.yaml: no such file or directory\n"},
	} {
		code, _, errOut := call(t, tc.env, strings.Fields(tc.args)...)
		wantCode := exitConfig
		if tc.stderr == "" {
			wantCode = exitOK
		}
		if code != wantCode || !strings.HasPrefix(errOut, tc.stderr) || (tc.stderr == "" && errOut != "") {
			t.Errorf("bot %s with %v: exit %d, stderr %q; want %d and %q", tc.args, tc.env, code, errOut, wantCode, tc.stderr)
		}
	}
}

// The embedded default runs a local web console, which must stay on
// loopback: which listen address is refused shows which one won.
func TestListenPrecedence(t *testing.T) {
	public := map[string]string{"SHIPMATE_LISTEN": "0.0.0.0:8080"}
	code, _, errOut := call(t, public, "check")
	if want := `shipmate: SHIPMATE_LISTEN: "0.0.0.0:8080" is not a loopback address`; code != exitConfig || !strings.HasPrefix(errOut, want) {
		t.Errorf("bot check with SHIPMATE_LISTEN=0.0.0.0:8080: exit %d, stderr %q; want 2 and %q", code, errOut, want)
	}
	if code, _, errOut = call(t, public, "check", "--listen", "127.0.0.1:8080"); code != exitOK {
		t.Errorf("bot check --listen 127.0.0.1:8080 with SHIPMATE_LISTEN=0.0.0.0:8080: exit %d, stderr %q; want the flag to win", code, errOut)
	}
	code, _, errOut = call(t, nil, "check", "--listen", "0.0.0.0:8080")
	if want := `shipmate: --listen: "0.0.0.0:8080"`; code != exitConfig || !strings.HasPrefix(errOut, want) {
		t.Errorf("bot check --listen 0.0.0.0:8080: exit %d, stderr %q; want 2 and %q", code, errOut, want)
	}
	// An empty variable is no variable.
	if code, _, errOut = call(t, map[string]string{"SHIPMATE_LISTEN": ""}, "check"); code != exitOK {
		t.Errorf("bot check with SHIPMATE_LISTEN empty: exit %d, stderr %q", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := call(t, nil, "version")
	code2, out2, _ := call(t, nil, "--version")
	if code != 0 || code2 != 0 || out != out2 || !strings.HasPrefix(out, "shipmate ") || strings.Count(out, "\n") != 1 {
		t.Errorf("bot version = %d %q, bot --version = %d %q; want 0 and the same one line", code, out, code2, out2)
	}

	bi := &debug.BuildInfo{Main: debug.Module{Path: "shipmate", Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-08-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{bi, "shipmate v1.4.0 (commit 0123456789abcdef0123456789abcdef01234567-dirty 2026-08-01T10:00:00Z) go1.26.8 linux/arm64"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "shipmate devel (commit unknown) go1.26.8 linux/arm64"},
		{nil, "shipmate devel (commit unknown) go1.26.8 linux/arm64"},
	} {
		if diff := cmp.Diff(tc.want, formatVersion(tc.bi, "go1.26.8", "linux/arm64")); diff != "" {
			t.Errorf("formatVersion (-want +got):\n%s", diff)
		}
	}
}

// Go's flag package read -config as --config; single letters stay
// shorthands, and what follows "--" is left alone.
func TestLongDashes(t *testing.T) {
	c := &cli{level: "info"}
	got := longDashes(c.root(), []string{"check", "-config=a.yaml", "-online", "-h", "-x", "-help", "--", "-tick"})
	want := []string{"check", "--config=a.yaml", "--online", "-h", "-x", "--help", "--", "-tick"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("longDashes (-want +got):\n%s", diff)
	}
}

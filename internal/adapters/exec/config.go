// Package exec runs deployments as local commands: the configured argv,
// never a shell string built from chat input.
package exec

import (
	"fmt"
	"strings"
	"time"

	"shipmate/internal/fielderr"
)

// Config is an app's `exec:` block.
type Config struct {
	// Deploy and Rollback are required argv vectors.
	Deploy   []string `yaml:"deploy"`
	Rollback []string `yaml:"rollback"`
	// Verify, if set, runs after a deploy as smoke tests and validation.
	Verify []string `yaml:"verify"`
	// Health, if set, runs repeatedly during the monitoring window.
	Health []string `yaml:"health"`
	// Drain, if set, stops incoming requests before a rollback procedure
	// rolls back (SHIPMATE_ACTION=drain).
	Drain []string `yaml:"drain"`
	// Resolve, if set, prints the artifact identity a version will deploy
	// (its last non-empty output line); approvals are bound to it.
	Resolve []string `yaml:"resolve"`
	// Dir is the working directory (default: the bot's).
	Dir string `yaml:"dir"`
	// Env sets variables for the commands. Commands start from a minimal
	// environment (PATH, HOME, LANG, TZ and the SHIPMATE_* variables), never
	// from the bot's, which holds its tokens.
	Env map[string]string `yaml:"env"`
	// PassEnv names variables of the bot's own environment that the
	// commands get too.
	PassEnv []string `yaml:"pass_env"`
	// Timeout bounds each command; the whole process group is killed then
	// (default 5m).
	Timeout time.Duration `yaml:"timeout"`
	// Grace is how long a timed-out or cancelled command's processes get
	// between SIGTERM and SIGKILL, to clean up after themselves (default 5s).
	Grace time.Duration `yaml:"grace"`
	// StateDir is where running deploy and rollback commands keep their
	// output and exit status, so that a restarted bot can follow them to
	// their end. Set by the bot (next to its store); empty (replicas on
	// etcd, where the next leader may be on another machine): a command
	// running when the bot stops is left, and its run ends as interrupted.
	StateDir string `yaml:"-"`
}

// Check checks the block as written: the commands Shipmate runs, and the
// variables it sets and passes.
func (c *Config) Check() error {
	for _, argv := range []struct {
		key      string
		v        []string
		required bool
	}{
		{"deploy", c.Deploy, true},
		{"rollback", c.Rollback, true},
		{"verify", c.Verify, false},
		{"health", c.Health, false},
		{"drain", c.Drain, false},
		{"resolve", c.Resolve, false},
	} {
		if argv.required && len(argv.v) == 0 {
			return fielderr.New(argv.key, "required: the command as a list, such as [\"sh\", \"deploy.sh\"]")
		}
		if len(argv.v) > 0 && argv.v[0] == "" {
			return fielderr.New(argv.key+"[0]", "the program must not be empty")
		}
	}
	const rule = "letters, digits and _, not starting with a digit; SHIPMATE_* are Shipmate's"
	for k := range c.Env {
		if !isEnvName(k) {
			return fielderr.New("env."+k, "invalid variable name (%s)", rule)
		}
	}
	for i, k := range c.PassEnv {
		if !isEnvName(k) {
			return fielderr.New(fmt.Sprintf("pass_env[%d]", i), "invalid variable name %q (%s)", k, rule)
		}
	}
	return nil
}

// isEnvName reports whether s is a portable environment variable name that
// is not one of Shipmate's own.
func isEnvName(s string) bool {
	for i, c := range s {
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != "" && !strings.HasPrefix(s, "SHIPMATE_")
}

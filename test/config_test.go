package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigErrorsExit2 starts the bot on broken configurations: each must
// be refused with exit status 2 and one line naming the key and its line,
// before anything is created.
func TestConfigErrorsExit2(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		old, new string // the change to the fixture's good configuration
		marker   string // text on the line the error must point at
		want     string // the error, between the file name and the line
	}{
		{
			name:   "unknown role in approval",
			old:    "approval: {roles: [release-manager], count: 1, allow_self: false}",
			new:    "approval: {roles: [release-mgr], count: 1, allow_self: false}",
			marker: "[release-mgr]",
			want:   `environments.production.approval.roles[0]: unknown role "release-mgr"`,
		},
		{
			name: "bad duration", old: "monitor: 1h", new: "monitor: 1x", marker: "monitor: 1x",
			want: `environments.canary.monitor: invalid duration "1x"`,
		},
		{
			name: "unknown key", old: "    windows:", new: "    colour: blue\n    windows:", marker: "colour: blue",
			want: `environments.production.colour: unknown key`,
		},
		{
			name: "app without executor", old: "    executor: exec\n", new: "", marker: "  demo:",
			want: `apps.demo: executor is required`,
		},
		{
			name: "one identity given to two people", old: "roles:\n",
			new:    "people:\n  rita: {web: rita, slack: U0RM}\n  rick: {web: rick, slack: U0RM}\nroles:\n",
			marker: "  rick:",
			want:   `people.rick.slack: slack id "U0RM" is also given at people.rita.slack: one identity is one person`,
		},
		{
			name: "local console on a public listener of its own", old: "    enabled: true\n", new: "    enabled: true\n    listen: \"0.0.0.0:0\"\n",
			marker: `listen: "0.0.0.0:0"`,
			want: `chat.web.listen: "0.0.0.0:0" is not a loopback address, and a local console (no chat.web.user_header) lets anyone who reaches it pick any user: ` +
				`set chat.web.user_header behind an authenticating proxy, or serve the console on 127.0.0.1`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			good := f.configText()
			if !strings.Contains(good, tc.old) {
				t.Fatalf("the good configuration has no %q", tc.old)
			}
			bad := strings.Replace(good, tc.old, tc.new, 1)
			f.write("bad.yaml", bad)
			want := fmt.Sprintf("shipmate: bad.yaml: %s (line %d)", tc.want, lineOf(t, bad, tc.marker))

			for _, args := range [][]string{
				{"--config", "bad.yaml", "--tick", tick},
				{"check", "--config", "bad.yaml"},
			} {
				res := runOnce(t, f.dir, 10*time.Second, args...)
				if res.code != 2 {
					t.Errorf("bot %s: exit %d, want 2", strings.Join(args, " "), res.code)
				}
				lines := strings.Split(strings.TrimRight(res.stderr, "\n"), "\n")
				if len(lines) != 1 || lines[0] != want {
					t.Errorf("bot %s: stderr =\n%s\nwant the one line\n%s", strings.Join(args, " "), res.stderr, want)
				}
			}
			if _, err := os.Stat(filepath.Dir(f.store)); !os.IsNotExist(err) {
				t.Errorf("a refused configuration created the store's folder %s (%v)", filepath.Dir(f.store), err)
			}
		})
	}

	t.Run("example is valid", func(t *testing.T) {
		t.Parallel()
		res := runOnce(t, repoRoot, 10*time.Second, "check", "--config", "configs/example.yaml")
		if res.code != 0 || !strings.HasPrefix(res.stdout, "configs/example.yaml: ok") {
			t.Errorf("bot check --config configs/example.yaml: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
		}
	})
}

// lineOf returns the number of the first line of text containing marker.
func lineOf(t *testing.T, text, marker string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, marker) {
			return i + 1
		}
	}
	t.Fatalf("no line has %q", marker)
	return 0
}

package commands

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Every verb is a typed command, or a subcommand of one, with a brief and
// an option for each argument and flag.
func TestTypedCommandsCoverEveryVerb(t *testing.T) {
	seen := map[string]bool{}
	check := func(name, desc string, opts []Option) {
		if desc == "" || len(desc) > 100 {
			t.Errorf("%s: description %q", name, desc)
		}
		for _, o := range opts {
			if o.Name == "" || o.Description == "" {
				t.Errorf("%s: incomplete option %+v", name, o)
			}
		}
	}
	for _, c := range TypedCommands() {
		check(c.Name, c.Description, c.Options)
		if len(c.Subcommands) == 0 {
			seen[c.Name] = true
		}
		for _, s := range c.Subcommands {
			check(c.Name+" "+s.Name, s.Description, s.Options)
			seen[c.Name+" "+s.Name] = true
		}
	}
	for _, v := range verbs {
		name := v.command
		if len(verbsOf(v.command)) > 1 {
			name += " " + v.subcommand()
		}
		if !seen[name] {
			t.Errorf("verb %s is no typed command", v.title())
		}
	}
}

// What a user fills in becomes text the parser reads back as the same
// intent.
func TestTypedTextRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, sub string
		values    map[string]string
		want      Intent
	}{
		{"deploy", "run", map[string]string{"app": "demo", "version": "1.2.0", "env": "prod", "reason": `say "hi" --dry-run`, "emergency": "true", "dry_run": "false"},
			Intent{Kind: KindDeploy, App: "demo", Version: "1.2.0", Env: "production", Reason: `say "hi" --dry-run`, Emergency: true}},
		{"deploy", "lock", map[string]string{"app": "all", "env": "staging", "reason": "release — freeze"},
			Intent{Kind: KindLock, App: "all", Env: "staging", Reason: "release — freeze"}},
		{"deploy", "reject", map[string]string{"id": "3", "reason": "--not now"}, Intent{Kind: KindReject, RunID: 3, Reason: "--not now"}},
		{"deploy", "history", map[string]string{"app": "demo"}, Intent{Kind: KindHistory, App: "demo"}},
		{"rollback", "", map[string]string{"app": "demo", "env": "prod", "to": "1.0.0"},
			Intent{Kind: KindRollback, App: "demo", Env: "production", Version: "1.0.0"}},
		{"rollback", "", map[string]string{"app": "demo", "env": "prod", "incident": "true", "reason": "checkout errors"},
			Intent{Kind: KindRollback, App: "demo", Env: "production", Reason: "checkout errors", Incident: true}},
		{"deploy", "unfreeze", map[string]string{"app": "demo", "env": "prod"}, Intent{Kind: KindUnfreeze, App: "demo", Env: "production"}},
	} {
		command, text, ok := TypedText(tc.name, tc.sub, tc.values)
		if !ok {
			t.Fatalf("%s %s: not a typed command", tc.name, tc.sub)
		}
		res := knownApps.Parse(command, text)
		if res.Intent == nil {
			t.Fatalf("%s %s: %s", command, text, res.Reply)
		}
		if diff := cmp.Diff(tc.want, *res.Intent); diff != "" {
			t.Errorf("%s %s (-want +got):\n%s", command, text, diff)
		}
	}
	for _, bad := range [][2]string{{"deploy", ""}, {"deploy", "nope"}, {"rollback", "run"}, {"other", ""}} {
		if _, _, ok := TypedText(bad[0], bad[1], nil); ok {
			t.Errorf("TypedText(%q, %q) was taken", bad[0], bad[1])
		}
	}
}

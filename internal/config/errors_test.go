package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// valid is a valid configuration that the cases of TestErrors break one
// line at a time. Line numbers in the expected messages refer to it.
const valid = `roles:
  dev: {web: [alice]}
  lead: {web: [bob], slack_groups: [S1]}
checklist:
  tests: "Tests pass"
environments:
  staging:
    aliases: [stg]
    deployers: [dev]
    approval: none
    monitor: 5m
  production:
    aliases: [prod]
    deployers: [dev]
    approval: {roles: [lead]}
    checklist: [tests]
    requires: staging
    windows: ["Mon-Fri 09:00-17:00"]
    rollback: [requester, lead]
apps:
  web:
    executor: exec
    exec: {deploy: [d], rollback: [r]}
`

// Durations take whole days too, as retention and expiry are usually
// spoken of.
func TestDurationsInDays(t *testing.T) {
	text := strings.Replace(valid, "roles:\n", "retention: 400d\nroles:\n", 1)
	text = strings.Replace(text, "{roles: [lead]}", "{roles: [lead], expires: 2d}", 1)
	c, err := Parse([]byte(text), noVars)
	if err != nil {
		t.Fatal(err)
	}
	prod, _ := c.Policy.Env("production")
	if c.Retention != 400*24*time.Hour || prod.Approval.Expires != 48*time.Hour {
		t.Errorf("retention %v, expires %v; want 400 and 2 days", c.Retention, prod.Approval.Expires)
	}
}

func TestValidBase(t *testing.T) {
	if _, err := Parse([]byte(valid), noVars); err != nil {
		t.Fatal(err)
	}
}

// freezeAt19 is production's last line in valid, where freeze adds a
// freeze on lines 20 and 21.
const freezeAt19 = "    rollback: [requester, lead]\n"

func freeze(from, to, reason string) string {
	return freezeAt19 + fmt.Sprintf("    freezes:\n      - {from: %s, to: %s, reason: %s}\n", from, to, reason)
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new string // replace old by new in valid
		want     string
	}{
		// Unknown keys, at every level.
		{"unknown top-level key", "checklist:\n", "checklists:\n",
			`checklists: unknown key (line 4)`},
		{"unknown env key", "    monitor: 5m\n", "    monitor: 5m\n    frobnicate: yes\n",
			`environments.staging.frobnicate: unknown key (line 12)`},
		{"unknown approval key", "{roles: [lead]}", "{roles: [lead], quorum: 2}",
			`environments.production.approval.quorum: unknown key (line 15)`},
		{"unknown app key", "    executor: exec\n", "    executor: exec\n    image: x\n",
			`apps.web.image: unknown key (line 23)`},
		{"unknown chat key", "apps:\n", "chat: {web: {enabled: true}, irc: {}}\napps:\n",
			`chat.irc: unknown key (line 20)`},
		{"unknown role key shape", "{web: [alice]}", "{web: [alice], Web-Users: [x]}",
			`roles.dev.Web-Users: unknown key (want people, a chat platform such as web or slack, or <platform>_groups) (line 2)`},
		{"bare _groups", "{web: [alice]}", "{web: [alice], _groups: [x]}",
			`roles.dev._groups: unknown key (want people, a chat platform such as web or slack, or <platform>_groups) (line 2)`},

		// Shapes and values.
		{"role members not a list", "{web: [alice]}", "{web: alice}",
			`roles.dev.web: want a list, got "alice" (line 2)`},
		{"bad duration", "monitor: 5m", "monitor: 3x",
			`environments.staging.monitor: invalid duration "3x" (line 11)`},
		{"duration without unit", "monitor: 5m", "monitor: 30",
			`environments.staging.monitor: invalid duration "30" (line 11)`},
		{"negative duration", "monitor: 5m", "monitor: -5m",
			`environments.staging.monitor: invalid duration "-5m" (line 11)`},
		{"bad retention", "roles:\n", "retention: 1y\nroles:\n",
			`retention: invalid duration "1y" (line 1)`},
		{"bad days", "roles:\n", "retention: 1.5d\nroles:\n",
			`retention: invalid duration "1.5d" (line 1)`},
		{"bad approval expires", "{roles: [lead]}", "{roles: [lead], expires: 1w}",
			`environments.production.approval.expires: invalid duration "1w" (line 15)`},
		{"bad health_every", "    monitor: 5m\n", "    monitor: 5m\n    health_every: 0s\n",
			`environments.staging.health_every: must be more than 0 (line 12)`},
		{"approval other scalar", "approval: none", "approval: yes",
			`environments.staging.approval: want "none" or a mapping {roles, count, allow_self, expires, remind}, got "yes" (line 10)`},
		{"approval list", "approval: none", "approval: [dev]",
			`environments.staging.approval: want "none" or a mapping {roles, count, allow_self, expires, remind}, got a list (line 10)`},
		{"approval missing", "    approval: none\n", "",
			`environments.staging.approval: required (write "approval: none" for none) (line 7)`},
		{"approval count 0", "{roles: [lead]}", "{roles: [lead], count: 0}",
			`environments.production.approval.count: must be at least 1, got 0 (write "approval: none" for none) (line 15)`},
		{"approval count not a number", "{roles: [lead]}", "{roles: [lead], count: two}",
			`environments.production.approval.count: want a whole number, got "two" (line 15)`},
		{"allow_self not a bool", "{roles: [lead]}", "{roles: [lead], allow_self: maybe}",
			`environments.production.approval.allow_self: want true or false, got "maybe" (line 15)`},
		{"approval without roles", "{roles: [lead]}", "{count: 1}",
			`environments.production.approval.roles: at least one role is required (line 15)`},
		{"remind not before expiry", "{roles: [lead]}", "{roles: [lead], expires: 1h, remind: 2h}",
			`environments.production.approval.remind: must be less than expires (1h0m0s) (line 15)`},
		{"env not a mapping", "  staging:\n    aliases: [stg]\n", "  staging: [stg]\n  x:\n    aliases: [stg]\n",
			`environments.staging: want a mapping, got a list (line 7)`},
		{"top level not a mapping", valid, "- a\n- b\n",
			`the configuration must be a mapping of keys such as roles, environments and apps (line 1)`},
		{"yaml syntax", "  staging:\n", "  staging: {\n",
			`invalid YAML: line 6: did not find expected ',' or '}'`},
		{"two documents", valid, valid + "---\nlisten: x\n",
			`only one YAML document is allowed (line 24)`},
		{"merge key", "  staging:\n", "  staging:\n    <<: {monitor: 1m}\n",
			`environments.staging.<<: merge keys are not supported (line 8)`},
		{"bad listen", "roles:\n", "listen: \"8080\"\nroles:\n",
			`listen: want host:port such as "127.0.0.1:8080", got "8080" (line 1)`},
		{"bad user header", "apps:\n", "chat: {web: {user_header: \"X User\"}}\napps:\n",
			`chat.web.user_header: invalid header name "X User" (line 20)`},

		// The web console: where it listens and whom it believes.
		{"local console on a public listen", "roles:\n", "listen: \"0.0.0.0:8080\"\nchat: {web: {enabled: true}}\nroles:\n",
			`listen: "0.0.0.0:8080" is not a loopback address, and a local console (no chat.web.user_header) lets anyone who reaches it pick any user: ` +
				`set chat.web.user_header behind an authenticating proxy, or serve the console on 127.0.0.1 (line 1)`},
		{"local console on a public listener of its own", "apps:\n", "chat:\n  web:\n    enabled: true\n    listen: \"0.0.0.0:0\"\napps:\n",
			`chat.web.listen: "0.0.0.0:0" is not a loopback address, and a local console (no chat.web.user_header) lets anyone who reaches it pick any user: ` +
				`set chat.web.user_header behind an authenticating proxy, or serve the console on 127.0.0.1 (line 23)`},
		{"console listen without a port", "apps:\n", "chat: {web: {enabled: true, listen: \"8081\"}}\napps:\n",
			`chat.web.listen: want host:port such as "127.0.0.1:8081", got "8081" (line 20)`},
		{"console listen is listen", "roles:\n", "listen: \"127.0.0.1:8080\"\nchat: {web: {enabled: true, listen: \"127.0.0.1:8080\"}}\nroles:\n",
			`chat.web.listen: "127.0.0.1:8080" is listen's address too: leave chat.web.listen out to serve the console there (line 2)`},
		{"trusted proxy not a range", "apps:\n", "chat:\n  web:\n    user_header: X-Forwarded-User\n    trusted_proxies:\n      - 10.0.0.0/8\n      - 10.0.0.1\napps:\n",
			`chat.web.trusted_proxies[1]: want an address range such as 10.0.0.0/8 or 192.0.2.7/32, got "10.0.0.1" (line 25)`},
		{"trusted proxy a name", "apps:\n", "chat: {web: {user_header: X-Forwarded-User, trusted_proxies: [proxy.internal/32]}}\napps:\n",
			`chat.web.trusted_proxies[0]: want an address range such as 10.0.0.0/8 or 192.0.2.7/32, got "proxy.internal/32" (line 20)`},
		{"no trusted proxy", "apps:\n", "chat:\n  web:\n    user_header: X-Forwarded-User\n    trusted_proxies: []\napps:\n",
			`chat.web.trusted_proxies: empty: nobody could sign in, as X-Forwarded-User is believed only from these addresses (leave the key out for loopback only) (line 23)`},
		{"every IPv4 address trusted", "apps:\n", "chat:\n  web:\n    user_header: X-Forwarded-User\n    trusted_proxies:\n      - 10.0.0.0/8\n      - 0.0.0.0/0\napps:\n",
			`chat.web.trusted_proxies[1]: 0.0.0.0/0 trusts every address: anyone who reaches the console could name any user (line 25)`},
		{"every IPv6 address trusted", "apps:\n", "chat: {web: {user_header: X-Forwarded-User, trusted_proxies: [\"::/0\"]}}\napps:\n",
			`chat.web.trusted_proxies[0]: ::/0 trusts every address: anyone who reaches the console could name any user (line 20)`},
		{"bad variable", "monitor: 5m", "monitor: ${X",
			`environments.staging.monitor: unterminated ${ in "${X" (write $$ for a literal $) (line 11)`},

		// Roles.
		{"unknown approval role", "{roles: [lead]}", "{roles: [lead, release-mgr]}",
			`environments.production.approval.roles[1]: unknown role "release-mgr" (line 15)`},
		{"unknown deployer role", "    deployers: [dev]\n    approval: {", "    deployers: [devs]\n    approval: {",
			`environments.production.deployers[0]: unknown role "devs" (line 14)`},
		{"unknown rollback role", "[requester, lead]", "[requester, oncall]",
			`environments.production.rollback[1]: unknown role "oncall" (line 19)`},
		{"undefined break-glass", "[requester, lead]", "[break-glass]",
			`environments.production.rollback[0]: unknown role "break-glass" (line 19)`},
		{"requester outside rollback", "    deployers: [dev]\n    approval: none", "    deployers: [requester]\n    approval: none",
			`environments.staging.deployers[0]: "requester" is only allowed in rollback (line 9)`},
		{"no deployers", "    deployers: [dev]\n    approval: none", "    approval: none",
			`environments.staging.deployers: at least one role is required (line 7)`},
		{"requester defined as a role", "  lead:", "  requester: {}\n  lead:",
			`roles.requester: "requester" is reserved: in rollback it means whoever requested the deployment (line 3)`},
		{"bad role name", "  lead:", "  Lead: {}\n  lead:",
			`roles.Lead: invalid role name (use lowercase letters, digits, - and _, starting with a letter) (line 3)`},
		{"empty member id", "{web: [alice]}", "{web: [alice, \"\"]}",
			`roles.dev.web[1]: must not be empty (line 2)`},

		// Checklist, requires, windows.
		{"unknown checklist item", "checklist: [tests]", "checklist: [tests, docs]",
			`environments.production.checklist[1]: unknown checklist item "docs" (define it under checklist:) (line 16)`},
		{"duplicate checklist item", "checklist: [tests]", "checklist: [tests, tests]",
			`environments.production.checklist[1]: duplicate checklist item "tests" (line 16)`},
		{"empty checklist text", `tests: "Tests pass"`, `tests: ""`,
			`checklist.tests: the item's text must not be empty (line 5)`},
		{"unknown validation item", "    checklist: [tests]\n", "    checklist: [tests]\n    validation: [tests]\n",
			`environments.production.validation[0]: unknown validation item "tests" (define it under validation:) (line 17)`},
		{"bad validation key", "environments:\n", "validation:\n  Health: \"Health checks passing\"\nenvironments:\n",
			`validation.Health: invalid validation key (use lowercase letters, digits, - and _, starting with a letter) (line 7)`},
		{"requires later env", "    monitor: 5m\n", "    monitor: 5m\n    requires: production\n",
			`environments.staging.requires: "production" is not an earlier environment (requires must name one listed before "staging") (line 12)`},
		{"requires itself", "requires: staging", "requires: production",
			`environments.production.requires: an environment cannot require itself (line 17)`},
		{"requires unknown", "requires: staging", "requires: qa",
			`environments.production.requires: "qa" is not an earlier environment (requires must name one listed before "production") (line 17)`},
		{"requires alias", "requires: staging", "requires: stg",
			`environments.production.requires: "stg" is an alias; use the environment's name (line 17)`},
		{"bad window", `"Mon-Fri 09:00-17:00"`, `"Mon-Fri 09:00-17:00", "Weekdays 9-5"`,
			`environments.production.windows[1]: window "Weekdays 9-5": unknown day "Weekdays" (use Mon, Tue, ... Sun) (line 18)`},
		{"freeze bad date", freezeAt19, freeze("2026-13-01", "2027-01-04", "holidays"),
			`environments.production.freezes[0].from: want a date such as 2026-12-21, or a date and time with an optional zone such as "2026-12-21 18:00 Europe/Berlin", got "2026-13-01" (line 21)`},
		{"freeze date and words", freezeAt19, freeze("2026-12-21", `"after the release"`, "holidays"),
			`environments.production.freezes[0].to: want a date such as 2026-12-21, or a date and time with an optional zone such as "2026-12-21 18:00 Europe/Berlin", got "after the release" (line 21)`},
		{"freeze bad time", freezeAt19, freeze(`"2026-12-21 6pm"`, "2027-01-04", "holidays"),
			`environments.production.freezes[0].from: want a date such as 2026-12-21, or a date and time with an optional zone such as "2026-12-21 18:00 Europe/Berlin", got "2026-12-21 6pm" (line 21)`},
		{"freeze unknown zone", freezeAt19, freeze(`"2026-12-21 18:00 Mars/Olympus"`, "2027-01-04", "holidays"),
			`environments.production.freezes[0].from: unknown time zone "Mars/Olympus" in "2026-12-21 18:00 Mars/Olympus" (line 21)`},
		{"freeze from after to", freezeAt19, freeze("2027-01-04", "2026-12-21", "holidays"),
			`environments.production.freezes[0].to: ends before it starts (from is "2027-01-04") (line 21)`},
		{"freeze ends as it starts", freezeAt19, freeze(`"2026-12-21 18:00"`, `"2026-12-21 18:00"`, "holidays"),
			`environments.production.freezes[0].to: ends before it starts (from is "2026-12-21 18:00") (line 21)`},
		{"freeze without reason", freezeAt19, "    rollback: [requester, lead]\n    freezes:\n      - {from: 2026-12-21, to: 2027-01-04}\n",
			`environments.production.freezes[0].reason: required (line 21)`},
		{"freeze unknown key", freezeAt19, "    rollback: [requester, lead]\n    freezes:\n      - {from: 2026-12-21, until: 2027-01-04, reason: x}\n",
			`environments.production.freezes[0].until: unknown key (line 21)`},
		{"freezes not a list", freezeAt19, "    rollback: [requester, lead]\n    freezes: {from: 2026-12-21, to: 2027-01-04, reason: x}\n",
			`environments.production.freezes: want a list, got a mapping (line 20)`},

		// Environment names and aliases.
		{"duplicate env name", "  production:\n", "  staging:\n",
			`environments.staging: duplicate key (first at line 7) (line 12)`},
		{"alias used twice", "aliases: [prod]", "aliases: [prod, stg]",
			`environments.production.aliases[1]: "stg" is already an alias of environment "staging" (line 13)`},
		{"alias is an env name", "aliases: [prod]", "aliases: [staging]",
			`environments.production.aliases[0]: "staging" is already the name of environment "staging" (line 13)`},
		{"alias is own name", "aliases: [prod]", "aliases: [production]",
			`environments.production.aliases[0]: "production" is already the name of environment "production" (line 13)`},
		{"env named like an earlier alias", "  production:\n    aliases: [prod]", "  stg:\n    aliases: [prod]",
			`environments.stg: "stg" is already an alias of environment "staging" (line 12)`},
		{"bad env name", "  production:\n", "  Production:\n",
			`environments.Production: invalid environment name (use lowercase letters, digits, - and _, starting with a letter) (line 12)`},

		// Apps.
		{"app without executor", "    executor: exec\n", "",
			`apps.web: executor is required (line 21)`},
		{"unknown executor", "executor: exec", "executor: helm",
			`apps.web.executor: unknown executor "helm" (known: exec, jenkins, kubernetes) (line 22)`},
		{"exec block with kubernetes", "executor: exec", "executor: kubernetes",
			`apps.web.exec: only allowed with executor: exec (line 23)`},
		{"exec block missing", "    exec: {deploy: [d], rollback: [r]}\n", "",
			`apps.web.exec: required with executor: exec (line 21)`},
		{"bad on_failure", "    executor: exec\n", "    executor: exec\n    on_failure: retry\n",
			`apps.web.on_failure: want rollback or hold, got "retry" (line 23)`},
		{"bad app name", "  web:\n    executor", "  Web:\n    executor",
			`apps.Web: invalid app name (use lowercase letters, digits, - and _, starting with a letter) (line 21)`},
		{"app name starting with a digit", "  web:\n    executor", "  1web:\n    executor",
			`apps.1web: invalid app name (use lowercase letters, digits, - and _, starting with a letter) (line 21)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(valid, tc.old) {
				t.Fatalf("%q is not in the valid config", tc.old)
			}
			data := strings.Replace(valid, tc.old, tc.new, 1)
			_, err := Parse([]byte(data), noVars)
			if err == nil {
				t.Fatalf("no error; want %s", tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error:\n got: %s\nwant: %s", got, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestNoEnvironments(t *testing.T) {
	for _, data := range []string{"", "roles: {}\n", "environments: {}\n", "environments:\n"} {
		_, err := Parse([]byte(data), noVars)
		want := "environments: at least one environment is required"
		if data == "environments: {}\n" || data == "environments:\n" {
			want += " (line 1)"
		}
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%q) error = %v, want %s", data, err, want)
		}
	}
}

func TestLoadError(t *testing.T) {
	_, err := Load("testdata/bad.yaml", noVars)
	want := `testdata/bad.yaml: environments.staging.monitor: invalid duration "3x" (line 7)`
	if err == nil || err.Error() != want {
		t.Errorf("Load error = %v, want %s", err, want)
	}
}

func TestAliasExpansionBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("roles:\n  r0: {web: &ids [")
	for i := range 400 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("u")
	}
	b.WriteString("]}\n")
	for i := 1; i < 400; i++ {
		fmt.Fprintf(&b, "  r%d: {web: *ids}\n", i)
	}
	_, err := Parse([]byte(b.String()), noVars)
	if err == nil || !strings.Contains(err.Error(), "document too large") {
		t.Errorf("error = %v, want document too large", err)
	}
}

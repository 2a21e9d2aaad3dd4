package commands

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

var testEnvs = []Env{
	{Name: "development", Aliases: []string{"dev"}},
	{Name: "staging", Aliases: []string{"stg", "stage"}},
	{Name: "production", Aliases: []string{"prod", "prd"}},
}

// anyApp accepts every well-formed app name; knownApps knows a fixed list.
var (
	anyApp    = &Parser{Envs: testEnvs}
	knownApps = &Parser{Envs: testEnvs, Apps: []string{"checkout", "demo", "billing-api"}}
)

type parseTest struct {
	name    string
	parser  *Parser // anyApp when nil
	command string
	text    string
	want    Result
}

func intent(in Intent) Result  { return Result{Intent: &in} }
func fail(reply string) Result { return Result{Reply: reply, Err: true} }

const (
	deployUsage   = `usage: /deploy <app> <version> [to] <env> [--reason "..."] [--dry-run] [--emergency]`
	rollbackUsage = `usage: /rollback <app> <env> [to <version>] [--reason "..."] [--incident]`
)

var parseTests = []parseTest{
	// Deploy.
	{name: "deploy", command: "/deploy", text: "demo v1.2.3 staging",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1.2.3", Env: "staging"})},
	{name: "deploy without slash", command: "deploy", text: "demo v1 staging",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "staging"})},
	{name: "deploy to", command: "/deploy", text: "demo v1 to prod",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production"})},
	{name: "deploy TO upper case", command: "/deploy", text: "demo v1 TO Prod",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production"})},
	{name: "alias stage", command: "/deploy", text: "demo v1 stage",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "staging"})},
	{name: "alias stg", command: "/deploy", text: "demo v1 STG",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "staging"})},
	{name: "alias dev", command: "/deploy", text: "demo v1 dev",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "development"})},
	{name: "canonical name any case", command: "/deploy", text: "demo v1 Production",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production"})},
	{name: "app case folded", command: "/deploy", text: "Demo v1 prod",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production"})},
	{name: "extra white space", command: " /deploy ", text: "  demo\tv1 \n prod  ",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production"})},
	{name: "semver with build", command: "/deploy", text: "demo 1.0.0-rc.1+build.5 prod",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "1.0.0-rc.1+build.5", Env: "production"})},
	{name: "digest", command: "/deploy", text: "demo sha256:abcd prod",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "sha256:abcd", Env: "production"})},
	{name: "branch", command: "/deploy", text: "demo release/2024-01 prod",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "release/2024-01", Env: "production"})},
	{name: "version with at", command: "/deploy", text: "demo app@1.2 prod",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "app@1.2", Env: "production"})},
	{name: "all flags at end", command: "/deploy", text: `demo v1 prod --reason "hot fix" --dry-run --emergency`,
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production", Reason: "hot fix", DryRun: true, Emergency: true})},
	{name: "flags first", command: "/deploy", text: `--dry-run --reason 'hot fix' demo v1 prod`,
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production", Reason: "hot fix", DryRun: true})},
	{name: "flags in between", command: "/deploy", text: `demo --emergency v1 --reason=outage to prod`,
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production", Reason: "outage", Emergency: true})},
	{name: "reason equals quoted", command: "/deploy", text: `demo v1 prod --reason="hot fix"`,
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production", Reason: "hot fix"})},
	{name: "reason equals smart quoted", command: "/deploy", text: `demo v1 prod --reason=“hot fix”`,
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production", Reason: "hot fix"})},
	{name: "reason smart double quotes", command: "/deploy", text: `demo v1 prod --reason “fix the login bug”`,
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production", Reason: "fix the login bug"})},
	{name: "reason smart single quotes", command: "/deploy", text: `demo v1 prod --reason ‘fix it’`,
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production", Reason: "fix it"})},
	{name: "reason right quotes both ends", command: "/deploy", text: `demo v1 prod --reason ”fix it”`,
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production", Reason: "fix it"})},
	{name: "apostrophe inside quoted reason", command: "/deploy", text: `demo v1 prod --reason ‘don’t wait’`,
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production", Reason: "don’t wait"})},
	{name: "apostrophe in bare reason", command: "/deploy", text: `demo v1 prod --reason don't`,
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production", Reason: "don't"})},
	{name: "quoted reason looks like flag", command: "/deploy", text: `demo v1 prod --reason "--dry-run"`,
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production", Reason: "--dry-run"})},
	{name: "multi-line reason collapsed", command: "/deploy", text: "demo v1 prod --reason \"line one\n  line two\"",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production", Reason: "line one line two"})},
	{name: "dash from autocorrect", command: "/deploy", text: "demo v1 prod —dry-run —reason “x”",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production", Reason: "x", DryRun: true})},
	{name: "flag case folded", command: "/deploy", text: "demo v1 prod --DRY-RUN",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production", DryRun: true})},
	{name: "quoted arguments", command: "/deploy", text: `"demo" 'v1' “prod”`,
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production"})},
	{name: "reason at limit", command: "/deploy", text: "demo v1 prod --reason " + strings.Repeat("é", 500),
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production", Reason: strings.Repeat("é", 500)})},
	{name: "version at limit", command: "/deploy", text: "demo " + strings.Repeat("a", 128) + " prod",
		want: intent(Intent{Kind: KindDeploy, App: "demo", Version: strings.Repeat("a", 128), Env: "production"})},
	{name: "known app", parser: knownApps, command: "/deploy", text: "checkout v1 prod",
		want: intent(Intent{Kind: KindDeploy, App: "checkout", Version: "v1", Env: "production"})},

	// Deploy mistakes.
	{name: "too few", command: "/deploy", text: "demo v1", want: fail(deployUsage)},
	{name: "only flags", command: "/deploy", text: "--dry-run", want: fail(deployUsage)},
	{name: "too many", command: "/deploy", text: "demo v1 prod now", want: fail(deployUsage)},
	{name: "to without env", command: "/deploy", text: "demo v1 to", want: fail(deployUsage)},
	{name: "to without version", command: "/deploy", text: "demo to prod", want: fail(deployUsage)},
	{name: "to twice", command: "/deploy", text: "demo v1 to to", want: fail(deployUsage)},
	{name: "env never defaults", command: "/deploy", text: "demo v1", want: fail(deployUsage)},
	{name: "verb typo", command: "/deploy", text: "stauts demo",
		want: fail(`unknown verb "stauts": did you mean status? usage: /deploy status [app]`)},
	{name: "unknown env suggestion", command: "/deploy", text: "demo v1 prd2",
		want: fail(`unknown environment "prd2": did you mean production?`)},
	{name: "unknown env swap", command: "/deploy", text: "demo v1 prdo",
		want: fail(`unknown environment "prdo": did you mean production?`)},
	{name: "unknown env prefix", command: "/deploy", text: "demo v1 produ",
		want: fail(`unknown environment "produ": did you mean production?`)},
	{name: "unknown env typo", command: "/deploy", text: "demo v1 stagign",
		want: fail(`unknown environment "stagign": did you mean staging?`)},
	{name: "unknown env far", command: "/deploy", text: "demo v1 xyz",
		want: fail(`unknown environment "xyz" (environments: development, staging, production)`)},
	{name: "no envs configured", parser: &Parser{}, command: "/deploy", text: "demo v1 prod",
		want: fail(`unknown environment "prod" (no environments are configured)`)},
	{name: "unknown app suggestion", parser: knownApps, command: "/deploy", text: "chekout v1 prod",
		want: fail(`unknown app "chekout": did you mean checkout?`)},
	{name: "unknown app far", parser: knownApps, command: "/deploy", text: "zzz v1 prod",
		want: fail(`unknown app "zzz" (apps: checkout, demo, billing-api)`)},
	{name: "app bad chars", command: "/deploy", text: "de.mo v1 prod",
		want: fail(`invalid app name "de.mo": use lowercase letters, digits, - and _, starting with a letter (at most 63)`)},
	{name: "app starts with digit", command: "/deploy", text: "1demo v1 prod",
		want: fail(`invalid app name "1demo": use lowercase letters, digits, - and _, starting with a letter (at most 63)`)},
	{name: "app too long", command: "/deploy", text: strings.Repeat("a", 64) + " v1 prod",
		want: fail(`invalid app name "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…": use lowercase letters, digits, - and _, starting with a letter (at most 63)`)},
	{name: "app all", command: "/deploy", text: "all v1 prod",
		want: fail(`"all" means every app and works only with lock and unlock`)},
	{name: "version shell injection", command: "/deploy", text: `demo "v1;rm -rf /" prod`,
		want: fail(`invalid version "v1;rm -rf /": use letters, digits and . _ - + : / @ (at most 128)`)},
	{name: "version subshell", command: "/deploy", text: "demo $(x) prod",
		want: fail(`invalid version "$(x)": use letters, digits and . _ - + : / @ (at most 128)`)},
	{name: "version backticks", command: "/deploy", text: "demo `x` prod",
		want: fail("invalid version \"`x`\": use letters, digits and . _ - + : / @ (at most 128)")},
	{name: "version pipe", command: "/deploy", text: "demo v1|x prod",
		want: fail(`invalid version "v1|x": use letters, digits and . _ - + : / @ (at most 128)`)},
	{name: "version glob", command: "/deploy", text: "demo v* prod",
		want: fail(`invalid version "v*": use letters, digits and . _ - + : / @ (at most 128)`)},
	{name: "version quote inside", command: "/deploy", text: `demo v1"x prod`,
		want: fail(`invalid version "v1\"x": use letters, digits and . _ - + : / @ (at most 128)`)},
	{name: "version backslash", command: "/deploy", text: `demo v1\x prod`,
		want: fail(`invalid version "v1\\x": use letters, digits and . _ - + : / @ (at most 128)`)},
	{name: "version non-ascii letter", command: "/deploy", text: "demo vé prod",
		want: fail(`invalid version "vé": use letters, digits and . _ - + : / @ (at most 128)`)},
	{name: "version too long", command: "/deploy", text: "demo " + strings.Repeat("a", 129) + " prod",
		want: fail(`invalid version "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…": use letters, digits and . _ - + : / @ (at most 128)`)},
	{name: "version empty", command: "/deploy", text: `demo "" prod`,
		want: fail(`invalid version "": use letters, digits and . _ - + : / @ (at most 128)`)},
	{name: "version like option", command: "/deploy", text: `demo "-rf" prod`,
		want: fail(`invalid version "-rf": it must start with a letter or digit`)},
	{name: "version climbs path", command: "/deploy", text: `demo v1/../../x prod`,
		want: fail(`invalid version "v1/../../x": it may not contain ".."`)},
	{name: "unknown flag", command: "/deploy", text: "demo v1 prod --force",
		want: fail(`unknown flag "--force" (flags: --reason, --dry-run, --emergency)`)},
	{name: "unknown flag with value", command: "/deploy", text: "demo v1 prod --force=yes",
		want: fail(`unknown flag "--force" (flags: --reason, --dry-run, --emergency)`)},
	{name: "bare double dash", command: "/deploy", text: "demo v1 prod --",
		want: fail(`unknown flag "--" (flags: --reason, --dry-run, --emergency)`)},
	{name: "emergency without reason", command: "/deploy", text: "demo v1 prod --emergency",
		want: fail(`--emergency needs --reason "why"`)},
	{name: "reason without value", command: "/deploy", text: "demo v1 prod --reason",
		want: fail(`--reason needs a value, e.g. --reason "why"`)},
	{name: "reason followed by flag", command: "/deploy", text: "demo v1 prod --reason --dry-run",
		want: fail(`--reason needs a value, e.g. --reason "why"`)},
	{name: "reason empty", command: "/deploy", text: `demo v1 prod --reason "  "`,
		want: fail(`--reason needs a value, e.g. --reason "why"`)},
	{name: "reason equals empty", command: "/deploy", text: `demo v1 prod --reason=`,
		want: fail(`--reason needs a value, e.g. --reason "why"`)},
	{name: "reason twice", command: "/deploy", text: `demo v1 prod --reason a --reason b`,
		want: fail(`--reason given twice`)},
	{name: "reason too long", command: "/deploy", text: "demo v1 prod --reason " + strings.Repeat("x", 501),
		want: fail(`reason is too long: 501 characters, at most 500`)},
	{name: "switch with value", command: "/deploy", text: "demo v1 prod --dry-run=false",
		want: fail(`--dry-run takes no value`)},
	{name: "unterminated double quote", command: "/deploy", text: `demo v1 prod --reason "hot fix`,
		want: fail(`unterminated quote in "hot fix`)},
	{name: "unterminated smart quote", command: "/deploy", text: `demo v1 prod --reason “hot fix`,
		want: fail(`unterminated quote in “hot fix`)},
	{name: "unterminated single quote", command: "/deploy", text: `demo v1 prod --reason 'hot fix`,
		want: fail(`unterminated quote in 'hot fix`)},
	{name: "unterminated after equals", command: "/deploy", text: `demo v1 prod --reason="hot fix`,
		want: fail(`unterminated quote in "hot fix`)},
	{name: "control character", command: "/deploy", text: "demo v1\x00 prod",
		want: fail(`control characters are not allowed (found U+0000)`)},
	{name: "escape character", command: "/deploy", text: "demo v1 prod --reason \"\x1b[31mred\"",
		want: fail(`control characters are not allowed (found U+001B)`)},
	{name: "bidi override", command: "/deploy", text: "demo v1 prod --reason \u202eevil",
		want: fail(`control characters are not allowed (found U+202E)`)},
	{name: "invalid utf-8", command: "/deploy", text: "demo v1 \xff",
		want: fail(`the command is not valid UTF-8`)},

	// Rollback.
	{name: "rollback", command: "/rollback", text: "demo prod",
		want: intent(Intent{Kind: KindRollback, App: "demo", Env: "production"})},
	{name: "rollback to version", command: "/rollback", text: "demo prod to v1.2.2",
		want: intent(Intent{Kind: KindRollback, App: "demo", Env: "production", Version: "v1.2.2"})},
	{name: "rollback reason", command: "rollback", text: `--reason “errors up” demo stg`,
		want: intent(Intent{Kind: KindRollback, App: "demo", Env: "staging", Reason: "errors up"})},
	{name: "rollback reason equals", command: "/rollback", text: `demo prod to v1 --reason=errors`,
		want: intent(Intent{Kind: KindRollback, App: "demo", Env: "production", Version: "v1", Reason: "errors"})},
	{name: "rollback incident", command: "/rollback", text: `demo prod --incident --reason "checkout errors"`,
		want: intent(Intent{Kind: KindRollback, App: "demo", Env: "production", Reason: "checkout errors", Incident: true})},
	{name: "incident on deploy", command: "/deploy", text: "demo v1 prod --incident",
		want: fail(`--incident is not valid with /deploy (flags: --reason, --dry-run, --emergency)`)},
	{name: "incident with value", command: "/rollback", text: "demo prod --incident=yes",
		want: fail(`--incident takes no value`)},
	{name: "rollback no text", command: "/rollback", text: "", want: fail(rollbackUsage)},
	{name: "rollback env missing", command: "/rollback", text: "demo", want: fail(rollbackUsage)},
	{name: "rollback version without to", command: "/rollback", text: "demo prod v1", want: fail(rollbackUsage)},
	{name: "rollback to without version", command: "/rollback", text: "demo prod to", want: fail(rollbackUsage)},
	{name: "rollback env forgotten", command: "/rollback", text: "demo to v1", want: fail(rollbackUsage)},
	{name: "rollback too many", command: "/rollback", text: "demo prod to v1 now", want: fail(rollbackUsage)},
	{name: "rollback dry run", command: "/rollback", text: "demo prod --dry-run",
		want: fail(`--dry-run is not valid with /rollback (flags: --reason, --incident)`)},
	{name: "rollback emergency", command: "/rollback", text: "demo prod --emergency --reason x",
		want: fail(`--emergency is not valid with /rollback (flags: --reason, --incident)`)},
	{name: "rollback unknown flag", command: "/rollback", text: "demo prod --force",
		want: fail(`unknown flag "--force" (flags: --reason, --incident)`)},
	{name: "rollback bad version", command: "/rollback", text: "demo prod to v1;x",
		want: fail(`invalid version "v1;x": use letters, digits and . _ - + : / @ (at most 128)`)},
	{name: "rollback bad env", command: "/rollback", text: "demo prd2",
		want: fail(`unknown environment "prd2": did you mean production?`)},
	{name: "rollback reserved app", command: "/rollback", text: "status prod",
		want: fail(`"status" is a command word, not an app name`)},
	{name: "rollback unknown app", parser: knownApps, command: "/rollback", text: "dmeo prod",
		want: fail(`unknown app "dmeo": did you mean demo?`)},

	// Status, history, whereis.
	{name: "status", command: "/deploy", text: "status", want: intent(Intent{Kind: KindStatus})},
	{name: "status upper case", command: "/deploy", text: "STATUS", want: intent(Intent{Kind: KindStatus})},
	{name: "status app", command: "/deploy", text: "status demo", want: intent(Intent{Kind: KindStatus, App: "demo"})},
	{name: "status too many", command: "/deploy", text: "status demo prod", want: fail("usage: /deploy status [app]")},
	{name: "status reserved app", command: "/deploy", text: "status history",
		want: fail(`"history" is a command word, not an app name`)},
	{name: "status flag", command: "/deploy", text: "status --dry-run",
		want: fail(`--dry-run is not valid with /deploy status (/deploy status takes no flags)`)},
	{name: "status unknown flag", command: "/deploy", text: "status --verbose",
		want: fail(`unknown flag "--verbose" (/deploy status takes no flags)`)},
	{name: "history", command: "/deploy", text: "history demo", want: intent(Intent{Kind: KindHistory, App: "demo"})},
	{name: "history env", command: "/deploy", text: "history demo prd", want: intent(Intent{Kind: KindHistory, App: "demo", Env: "production"})},
	{name: "history no app", command: "/deploy", text: "history", want: fail("usage: /deploy history <app> [env]")},
	{name: "history bad env", command: "/deploy", text: "history demo qa",
		want: fail(`unknown environment "qa" (environments: development, staging, production)`)},
	{name: "whereis", command: "/deploy", text: "whereis demo", want: intent(Intent{Kind: KindWhereIs, App: "demo"})},
	{name: "whereis no app", command: "/deploy", text: "whereis", want: fail("usage: /deploy whereis <app>")},
	{name: "whereis unknown app", parser: knownApps, command: "/deploy", text: "whereis billing",
		want: fail(`unknown app "billing": did you mean billing-api?`)},

	// Lock and unlock.
	{name: "lock", command: "/deploy", text: "lock demo prod", want: intent(Intent{Kind: KindLock, App: "demo", Env: "production"})},
	{name: "lock reason words", command: "/deploy", text: "lock demo prod db migration, don't   deploy",
		want: intent(Intent{Kind: KindLock, App: "demo", Env: "production", Reason: "db migration, don't deploy"})},
	{name: "lock quoted reason", command: "/deploy", text: `lock demo prod "db migration"`,
		want: intent(Intent{Kind: KindLock, App: "demo", Env: "production", Reason: "db migration"})},
	{name: "lock all", command: "/deploy", text: "lock all stg freeze", want: intent(Intent{Kind: KindLock, App: AllApps, Env: "staging", Reason: "freeze"})},
	{name: "lock ALL", parser: knownApps, command: "/deploy", text: "lock ALL stg", want: intent(Intent{Kind: KindLock, App: AllApps, Env: "staging"})},
	{name: "lock no env", command: "/deploy", text: "lock demo", want: fail("usage: /deploy lock <app|all> <env> [reason words...]")},
	{name: "lock reason flag", command: "/deploy", text: "lock demo prod --reason x",
		want: fail(`--reason is not valid with /deploy lock (/deploy lock takes no flags)`)},
	{name: "lock reason too long", command: "/deploy", text: "lock demo prod " + strings.Repeat("ab ", 200),
		want: fail(`reason is too long: 599 characters, at most 500`)},
	{name: "unlock", command: "/deploy", text: "unlock demo dev", want: intent(Intent{Kind: KindUnlock, App: "demo", Env: "development"})},
	{name: "unlock all", command: "/deploy", text: "unlock all dev", want: intent(Intent{Kind: KindUnlock, App: AllApps, Env: "development"})},
	{name: "unlock extra", command: "/deploy", text: "unlock demo dev now", want: fail("usage: /deploy unlock <app|all> <env>")},
	{name: "unlock bad env", command: "/deploy", text: "unlock demo develop",
		want: fail(`unknown environment "develop": did you mean development?`)},

	{name: "unfreeze", command: "/deploy", text: "unfreeze demo prod", want: intent(Intent{Kind: KindUnfreeze, App: "demo", Env: "production"})},
	{name: "unfreeze all", command: "/deploy", text: "unfreeze all prod",
		want: fail(`"all" means every app and works only with lock and unlock`)},
	{name: "unfreeze no env", command: "/deploy", text: "unfreeze demo", want: fail("usage: /deploy unfreeze <app> <env>")},
	{name: "unfreeze reason", command: "/deploy", text: "unfreeze demo prod --reason over",
		want: fail(`--reason is not valid with /deploy unfreeze (/deploy unfreeze takes no flags)`)},

	// Runs.
	{name: "cancel", command: "/deploy", text: "cancel 42", want: intent(Intent{Kind: KindCancel, RunID: 42})},
	{name: "cancel hash", command: "/deploy", text: "cancel #42", want: intent(Intent{Kind: KindCancel, RunID: 42})},
	{name: "approve", command: "/deploy", text: "approve #7", want: intent(Intent{Kind: KindApprove, RunID: 7})},
	{name: "approve max", command: "/deploy", text: "approve 18446744073709551615", want: intent(Intent{Kind: KindApprove, RunID: 18446744073709551615})},
	{name: "reject", command: "/deploy", text: "reject 9", want: intent(Intent{Kind: KindReject, RunID: 9})},
	{name: "reject reason", command: "/deploy", text: "reject #9 not during   the sale", want: intent(Intent{Kind: KindReject, RunID: 9, Reason: "not during the sale"})},
	{name: "cancel zero", command: "/deploy", text: "cancel 0", want: fail(`invalid run id "0": use a positive number such as 42 or #42`)},
	{name: "cancel hash zero", command: "/deploy", text: "cancel #0", want: fail(`invalid run id "#0": use a positive number such as 42 or #42`)},
	{name: "cancel negative", command: "/deploy", text: "cancel -3", want: fail(`invalid run id "-3": use a positive number such as 42 or #42`)},
	{name: "cancel word", command: "/deploy", text: "cancel abc", want: fail(`invalid run id "abc": use a positive number such as 42 or #42`)},
	{name: "cancel double hash", command: "/deploy", text: "cancel ##4", want: fail(`invalid run id "##4": use a positive number such as 42 or #42`)},
	{name: "cancel plus", command: "/deploy", text: "cancel +4", want: fail(`invalid run id "+4": use a positive number such as 42 or #42`)},
	{name: "cancel fraction", command: "/deploy", text: "cancel 4.5", want: fail(`invalid run id "4.5": use a positive number such as 42 or #42`)},
	{name: "approve overflow", command: "/deploy", text: "approve 18446744073709551616",
		want: fail(`invalid run id "18446744073709551616": use a positive number such as 42 or #42`)},
	{name: "approve no id", command: "/deploy", text: "approve", want: fail("usage: /deploy approve <id>")},
	{name: "cancel two ids", command: "/deploy", text: "cancel 1 2", want: fail("usage: /deploy cancel <id>")},
	{name: "reject no id", command: "/deploy", text: "reject", want: fail("usage: /deploy reject <id> [reason words...]")},
	{name: "reject bad id", command: "/deploy", text: "reject x because", want: fail(`invalid run id "x": use a positive number such as 42 or #42`)},

	// Help.
	{name: "help verb", command: "/deploy", text: "help lock",
		want: Result{Reply: "usage: /deploy lock <app|all> <env> [reason words...]\nStop deployments of an app, or of all apps, to an environment."}},
	{name: "help rollback", command: "/deploy", text: "help rollback",
		want: Result{Reply: rollbackUsage + "\nRoll an app back to its last good version, or to the version named."}},
	{name: "help unknown", command: "/deploy", text: "help foo",
		want: fail(`no help for "foo" (verbs: deploy, rollback, status, history, whereis, stats, lock, unlock, unfreeze, cancel, approve, reject, help)`)},
	{name: "help flag", command: "/deploy", text: "help --dry-run",
		want: fail(`--dry-run is not valid with /deploy help (/deploy help takes no flags)`)},

	// Not for Shipmate.
	{name: "other command", command: "/weather", text: "demo v1 prod", want: Result{}},
	{name: "empty command", command: "", text: "demo v1 prod", want: Result{}},
	{name: "command prefix", command: "/deployment", text: "demo v1 prod", want: Result{}},
	{name: "ignored even when bad", command: "/other", text: "\x00\xff \"", want: Result{}},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.parser
			if p == nil {
				p = anyApp
			}
			got := p.Parse(tt.command, tt.text)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q, %q) mismatch (-want +got):\n%s", tt.command, tt.text, diff)
			}
			checkResult(t, p, tt.command, got)
		})
	}
}

func TestParseHelp(t *testing.T) {
	help := Result{Reply: anyApp.Help()}
	for _, text := range []string{"", "   ", "help", "HELP", "\n"} {
		if diff := cmp.Diff(help, anyApp.Parse("/deploy", text)); diff != "" {
			t.Errorf("Parse(/deploy, %q) mismatch (-want +got):\n%s", text, diff)
		}
	}
	// Help is understood after /rollback too, where it cannot be an app.
	if diff := cmp.Diff(help, anyApp.Parse("/rollback", "help")); diff != "" {
		t.Errorf("Parse(/rollback, help) mismatch (-want +got):\n%s", diff)
	}
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		line string
		want Result
	}{
		{"/deploy demo v1 staging", intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "staging"})},
		{"  /DEPLOY\tdemo v1 to prod", intent(Intent{Kind: KindDeploy, App: "demo", Version: "v1", Env: "production"})},
		{"/rollback demo prod to v0.9", intent(Intent{Kind: KindRollback, App: "demo", Env: "production", Version: "v0.9"})},
		{"/deploy status", intent(Intent{Kind: KindStatus})},
		{"/deploy", Result{Reply: anyApp.Help()}},
		{"/rollback", fail(rollbackUsage)},
		{"/deploy demo", fail(deployUsage)},
		{"deploy demo v1 staging", Result{}},
		{"please /deploy demo v1 staging", Result{}},
		{"/deployment demo v1 staging", Result{}},
		{"/weather", Result{}},
		{"", Result{}},
		{"hello there", Result{}},
	}
	for _, tt := range tests {
		got := anyApp.ParseLine(tt.line)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseLine(%q) mismatch (-want +got):\n%s", tt.line, diff)
		}
	}
}

// FuzzParse checks the parser's promises on any input: it never panics, it
// returns exactly one of an intent, a reply or nothing, and every intent it
// returns is one the engine can act on without checking it again.
func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add(tt.command, tt.text)
	}
	f.Add("/deploy", "")
	f.Add("/deploy", "help status")
	f.Fuzz(func(t *testing.T, command, text string) {
		for _, p := range []*Parser{anyApp, knownApps} {
			checkResult(t, p, command, p.Parse(command, text))
			line := command + " " + text
			checkResult(t, p, firstWord(line), p.ParseLine(line))
		}
	})
}

// firstWord returns the command ParseLine should see in line, or "" when the
// line does not start with a slash command.
func firstWord(line string) string {
	fields := strings.FieldsFunc(line, unicode.IsSpace)
	if len(fields) == 0 || !strings.HasPrefix(fields[0], "/") {
		return ""
	}
	return fields[0]
}

// checkResult checks the invariants every Result of p.Parse(command, ...)
// must satisfy.
func checkResult(t *testing.T, p *Parser, command string, r Result) {
	t.Helper()
	name := asciiLower(strings.TrimPrefix(strings.TrimSpace(command), "/"))
	ours := name == "deploy" || name == "rollback"
	switch {
	case r.Intent != nil && r.Reply != "":
		t.Fatalf("result has both an intent and a reply: %+v", r)
	case r.Err && r.Reply == "":
		t.Fatalf("error without a reply: %+v", r)
	case r.Ignored() && r.Err:
		t.Fatalf("ignored result marked as error: %+v", r)
	case r.Ignored() == ours:
		t.Fatalf("command %q: Ignored() = %v, want %v (%+v)", command, r.Ignored(), !ours, r)
	}
	if r.Reply != "" {
		if !utf8.ValidString(r.Reply) {
			t.Fatalf("reply is not UTF-8: %q", r.Reply)
		}
		if r.Err && strings.Contains(r.Reply, "\n") {
			t.Fatalf("error reply is more than one line: %q", r.Reply)
		}
	}
	if r.Intent == nil {
		return
	}
	in := r.Intent
	switch in.Kind {
	case KindDeploy, KindRollback, KindLock, KindUnlock, KindUnfreeze, KindHistory, KindWhereIs, KindStats:
		if (in.Kind == KindLock || in.Kind == KindUnlock) && in.App == AllApps {
			break
		}
		checkApp(t, p, in.App)
	case KindStatus:
		if in.App != "" {
			checkApp(t, p, in.App)
		}
	case KindCancel, KindApprove, KindReject:
		if in.RunID == 0 {
			t.Fatalf("%s without a run id: %+v", in.Kind, in)
		}
	default:
		t.Fatalf("unexpected kind %q", in.Kind)
	}
	switch in.Kind {
	case KindDeploy, KindRollback, KindLock, KindUnlock, KindUnfreeze:
		checkEnv(t, p, in.Env)
	case KindHistory, KindStats:
		if in.Env != "" {
			checkEnv(t, p, in.Env)
		}
	default:
		if in.Env != "" {
			t.Fatalf("%s with an environment: %+v", in.Kind, in)
		}
	}
	if in.Version != "" || in.Kind == KindDeploy {
		if err := ValidateVersion(in.Version); err != nil {
			t.Fatalf("intent with invalid version: %v", err)
		}
	}
	if in.Version != "" && in.Kind != KindDeploy && in.Kind != KindRollback {
		t.Fatalf("%s with a version: %+v", in.Kind, in)
	}
	if utf8.RuneCountInString(in.Reason) > maxReasonLen || strings.ContainsFunc(in.Reason, unicode.IsControl) {
		t.Fatalf("bad reason %q", in.Reason)
	}
	if in.Emergency && in.Reason == "" {
		t.Fatalf("emergency without reason: %+v", in)
	}
	if in.Incident && in.Kind != KindRollback {
		t.Fatalf("%s marked as an incident: %+v", in.Kind, in)
	}
	if (in.Kind == KindStats) != (in.Days != 0) || in.Days < 0 || in.Days > MaxStatsDays {
		t.Fatalf("%s with %d days: %+v", in.Kind, in.Days, in)
	}
}

func checkApp(t *testing.T, p *Parser, app string) {
	t.Helper()
	if err := ValidateApp(app); err != nil {
		t.Fatalf("intent with invalid app: %v", err)
	}
	if len(p.Apps) == 0 {
		return
	}
	for _, a := range p.Apps {
		if a == app {
			return
		}
	}
	t.Fatalf("intent with unknown app %q", app)
}

func checkEnv(t *testing.T, p *Parser, env string) {
	t.Helper()
	for _, e := range p.Envs {
		if e.Name == env && env != "" {
			return
		}
	}
	t.Fatalf("intent with environment %q, not a canonical name", env)
}

package commands

import (
	"fmt"
	"strings"
)

// verb is one entry of the verb table: a command form, how it is written,
// what it does, and how to turn its arguments into a Result.
type verb struct {
	// command is the slash command the verb belongs to, without the slash.
	command string
	// name is the subcommand word, or "" for the command's bare form
	// (/deploy <app> ..., /rollback <app> ...).
	name string
	// args are the verb's positional arguments, shown in usage lines and
	// help, and registered as options where commands are typed.
	args []*arg
	// flags are the flags the verb accepts; any other flag is an error.
	flags   []*flag
	summary string
	// brief is the summary in a few words, for platforms that list
	// commands in a menu (Discord).
	brief string
	parse func(p *Parser, c *call) (Result, error)
}

// flag is one --flag the parser knows. A flag with a value placeholder takes
// one argument; one without is a switch. Where commands are typed, it is
// the option named option.
type flag struct {
	name    string
	value   string
	example string // a value, for error messages
	option  string
	desc    string
}

var (
	flagReason    = &flag{name: "--reason", value: `"..."`, example: `"why"`, option: "reason", desc: "Why"}
	flagDryRun    = &flag{name: "--dry-run", option: "dry_run", desc: "Only say what would happen"}
	flagEmergency = &flag{name: "--emergency", option: "emergency", desc: "Deploy outside the environment's windows or during a freeze (break-glass)"}
	flagIncident  = &flag{name: "--incident", option: "incident", desc: "An incident: freeze deploys of the app there until /deploy unfreeze"}
	flagDays      = &flag{name: "--days", value: "N", example: "30", option: "days", desc: "How many days back to look (default 30)"}

	allFlags = []*flag{flagReason, flagDryRun, flagEmergency, flagIncident, flagDays}
)

// verbs is the one place a command is registered: parsing, reserved words and
// help all read it. It is filled in init because those parse functions read
// the table themselves, which a package-level initializer may not do.
var verbs []*verb

func init() {
	verbs = []*verb{
		{
			command: "deploy",
			args:    []*arg{argApp, argVersion, argToEnv},
			flags:   []*flag{flagReason, flagDryRun, flagEmergency},
			summary: "Deploy a version of an app to an environment.",
			brief:   "Deploy a version of an app to an environment",
			parse:   parseDeploy,
		},
		{
			command: "rollback",
			args:    []*arg{argApp, argEnv, argToVersion},
			flags:   []*flag{flagReason, flagIncident},
			summary: "Roll an app back to its last good version, or to the version named.",
			brief:   "Roll an app back to its last good version",
			parse:   parseRollback,
		},
		{
			command: "deploy", name: "status", args: []*arg{argAppOpt},
			summary: "Show what is deploying now, for every app or for one.",
			brief:   "Show what is deploying now",
			parse:   parseStatus,
		},
		{
			command: "deploy", name: "history", args: []*arg{argApp, argEnvOpt},
			summary: "List recent deployments of an app, in every environment or in one.",
			brief:   "List recent deployments of an app",
			parse:   parseHistory,
		},
		{
			command: "deploy", name: "whereis", args: []*arg{argApp},
			summary: "Show which version of an app runs in each environment.",
			brief:   "Show which version of an app runs where",
			parse:   parseWhereIs,
		},
		{
			command: "deploy", name: "stats", args: []*arg{argApp, argEnvOpt},
			flags:   []*flag{flagDays},
			summary: "Show an app's delivery (DORA): deploys a day, lead time, change failure rate, time to restore.",
			brief:   "Show an app's delivery figures (DORA)",
			parse:   parseStats,
		},
		{
			command: "deploy", name: "lock", args: []*arg{argAppOrAll, argEnv, argReason},
			summary: "Stop deployments of an app, or of all apps, to an environment.",
			brief:   "Stop deployments to an environment",
			parse:   parseLock,
		},
		{
			command: "deploy", name: "unlock", args: []*arg{argAppOrAll, argEnv},
			summary: "Allow deployments again after a lock.",
			brief:   "Allow deployments again",
			parse:   parseUnlock,
		},
		{
			command: "deploy", name: "unfreeze", args: []*arg{argApp, argEnv},
			summary: "Allow deployments of an app again after a rollback during an incident froze them.",
			brief:   "Lift an incident freeze",
			parse:   parseUnfreeze,
		},
		{
			command: "deploy", name: "cancel", args: []*arg{argRunID},
			summary: "Cancel a run that has not finished.",
			brief:   "Cancel a run",
			parse:   runParser(KindCancel),
		},
		{
			command: "deploy", name: "approve", args: []*arg{argRunID},
			summary: "Approve a run that is waiting for approval.",
			brief:   "Approve a run",
			parse:   runParser(KindApprove),
		},
		{
			command: "deploy", name: "reject", args: []*arg{argRunID, argReason},
			summary: "Reject a run that is waiting for approval.",
			brief:   "Reject a run",
			parse:   parseReject,
		},
		{
			command: "deploy", name: "help", args: []*arg{argVerb},
			summary: "Show this help, or how to use one verb.",
			brief:   "Show how to use Shipmate",
			parse:   parseHelp,
		},
	}
}

// usage is the verb's full usage line, built from the table entry so that it
// can never disagree with what the parser accepts.
func (v *verb) usage() string {
	parts := []string{"/" + v.command}
	if v.name != "" {
		parts = append(parts, v.name)
	}
	for _, a := range v.args {
		parts = append(parts, a.synopsis)
	}
	for _, f := range v.flags {
		parts = append(parts, "["+f.synopsis()+"]")
	}
	return strings.Join(parts, " ")
}

// accepts reports whether f may be given to the verb.
func (v *verb) accepts(f *flag) bool {
	for _, g := range v.flags {
		if g == f {
			return true
		}
	}
	return false
}

// flagList describes the verb's flags for an error message.
func (v *verb) flagList() string {
	if len(v.flags) == 0 {
		return v.title() + " takes no flags"
	}
	names := make([]string, len(v.flags))
	for i, f := range v.flags {
		names[i] = f.name
	}
	return "flags: " + strings.Join(names, ", ")
}

// title names the verb as a user types it: "/deploy lock", "/rollback".
func (v *verb) title() string {
	if v.name == "" {
		return "/" + v.command
	}
	return "/" + v.command + " " + v.name
}

func (f *flag) synopsis() string {
	if f.value == "" {
		return f.name
	}
	return f.name + " " + f.value
}

// lookupVerb finds the verb a command's first word selects. It returns the
// verb and the arguments left for it; a first word that names no verb is the
// app of the command's bare form. "help" is understood after any command.
func lookupVerb(command string, args []string) (*verb, []string) {
	if len(args) > 0 {
		word := asciiLower(args[0])
		for _, v := range verbs {
			if v.name != "" && v.name == word && (v.command == command || word == "help") {
				return v, args[1:]
			}
		}
	}
	for _, v := range verbs {
		if v.command == command && v.name == "" {
			return v, args
		}
	}
	return nil, nil
}

// isReserved reports whether word is a verb name, which no app may use.
func isReserved(word string) bool {
	for _, v := range verbs {
		if v.name != "" && v.name == word {
			return true
		}
	}
	return false
}

// nearVerb returns the verb name word was probably meant to be, or "". Only
// near misses count, so that a real app name is not taken for a typo.
func nearVerb(word string) string {
	w := asciiLower(word)
	if len(w) < 3 {
		return ""
	}
	for _, v := range verbs {
		if v.name != "" && v.name != w && distance(w, v.name) <= 1 {
			return v.name
		}
	}
	return ""
}

func parseDeploy(p *Parser, c *call) (Result, error) {
	args := c.args
	if len(args) == 4 && isWord(args[2], "to") {
		args = []string{args[0], args[1], args[3]}
	}
	if len(args) != 3 || isWord(args[1], "to") || isWord(args[2], "to") {
		if len(c.args) > 0 {
			if near := nearVerb(c.args[0]); near != "" {
				v, _ := lookupVerb("deploy", []string{near})
				return Result{}, fmt.Errorf("unknown verb %s: did you mean %s? usage: %s", quote(c.args[0]), near, v.usage())
			}
		}
		return Result{}, c.usageError()
	}
	app, err := p.resolveApp(args[0], false)
	if err != nil {
		return Result{}, err
	}
	if err := ValidateVersion(args[1]); err != nil {
		return Result{}, err
	}
	env, err := p.resolveEnv(args[2])
	if err != nil {
		return Result{}, err
	}
	return Result{Intent: &Intent{
		Kind:      KindDeploy,
		App:       app,
		Version:   args[1],
		Env:       env,
		Reason:    c.reason,
		DryRun:    c.dryRun,
		Emergency: c.emergency,
	}}, nil
}

func parseRollback(p *Parser, c *call) (Result, error) {
	args := c.args
	version := ""
	switch {
	case len(args) == 2 && !isWord(args[1], "to"):
	case len(args) == 4 && isWord(args[2], "to") && !isWord(args[1], "to"):
		version = args[3]
	default:
		return Result{}, c.usageError()
	}
	app, err := p.resolveApp(args[0], false)
	if err != nil {
		return Result{}, err
	}
	env, err := p.resolveEnv(args[1])
	if err != nil {
		return Result{}, err
	}
	if version != "" {
		if err := ValidateVersion(version); err != nil {
			return Result{}, err
		}
	}
	return Result{Intent: &Intent{Kind: KindRollback, App: app, Env: env, Version: version, Reason: c.reason, Incident: c.incident}}, nil
}

func parseStatus(p *Parser, c *call) (Result, error) {
	if err := c.wantArgs(0, 1); err != nil {
		return Result{}, err
	}
	in := &Intent{Kind: KindStatus}
	if len(c.args) == 1 {
		app, err := p.resolveApp(c.args[0], false)
		if err != nil {
			return Result{}, err
		}
		in.App = app
	}
	return Result{Intent: in}, nil
}

func parseHistory(p *Parser, c *call) (Result, error) {
	if err := c.wantArgs(1, 2); err != nil {
		return Result{}, err
	}
	app, err := p.resolveApp(c.args[0], false)
	if err != nil {
		return Result{}, err
	}
	in := &Intent{Kind: KindHistory, App: app}
	if len(c.args) == 2 {
		// The environment here narrows the list; leaving it out means every
		// environment, never a default one.
		if in.Env, err = p.resolveEnv(c.args[1]); err != nil {
			return Result{}, err
		}
	}
	return Result{Intent: in}, nil
}

func parseWhereIs(p *Parser, c *call) (Result, error) {
	if err := c.wantArgs(1, 1); err != nil {
		return Result{}, err
	}
	app, err := p.resolveApp(c.args[0], false)
	if err != nil {
		return Result{}, err
	}
	return Result{Intent: &Intent{Kind: KindWhereIs, App: app}}, nil
}

func parseLock(p *Parser, c *call) (Result, error) {
	if err := c.wantArgs(2, -1); err != nil {
		return Result{}, err
	}
	app, err := p.resolveApp(c.args[0], true)
	if err != nil {
		return Result{}, err
	}
	env, err := p.resolveEnv(c.args[1])
	if err != nil {
		return Result{}, err
	}
	reason, err := cleanReason(strings.Join(c.args[2:], " "))
	if err != nil {
		return Result{}, err
	}
	return Result{Intent: &Intent{Kind: KindLock, App: app, Env: env, Reason: reason}}, nil
}

func parseUnlock(p *Parser, c *call) (Result, error) {
	if err := c.wantArgs(2, 2); err != nil {
		return Result{}, err
	}
	app, err := p.resolveApp(c.args[0], true)
	if err != nil {
		return Result{}, err
	}
	env, err := p.resolveEnv(c.args[1])
	if err != nil {
		return Result{}, err
	}
	return Result{Intent: &Intent{Kind: KindUnlock, App: app, Env: env}}, nil
}

func parseUnfreeze(p *Parser, c *call) (Result, error) {
	if err := c.wantArgs(2, 2); err != nil {
		return Result{}, err
	}
	app, err := p.resolveApp(c.args[0], false)
	if err != nil {
		return Result{}, err
	}
	env, err := p.resolveEnv(c.args[1])
	if err != nil {
		return Result{}, err
	}
	return Result{Intent: &Intent{Kind: KindUnfreeze, App: app, Env: env}}, nil
}

// runParser returns the parse function of a verb whose only argument is a
// run id.
func runParser(kind Kind) func(p *Parser, c *call) (Result, error) {
	return func(p *Parser, c *call) (Result, error) {
		if err := c.wantArgs(1, 1); err != nil {
			return Result{}, err
		}
		id, err := parseRunID(c.args[0])
		if err != nil {
			return Result{}, err
		}
		return Result{Intent: &Intent{Kind: kind, RunID: id}}, nil
	}
}

func parseReject(p *Parser, c *call) (Result, error) {
	if err := c.wantArgs(1, -1); err != nil {
		return Result{}, err
	}
	id, err := parseRunID(c.args[0])
	if err != nil {
		return Result{}, err
	}
	reason, err := cleanReason(strings.Join(c.args[1:], " "))
	if err != nil {
		return Result{}, err
	}
	return Result{Intent: &Intent{Kind: KindReject, RunID: id, Reason: reason}}, nil
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

package commands

import (
	"slices"
	"strings"
	"unicode"
)

// Typed commands: a platform that registers its commands with typed
// options (Discord's application commands) gets them from the verb table,
// and turns what a user filled in back into the text the parser reads.

// OptionType is the type of a typed command's option.
type OptionType int

// Option types.
const (
	OptionString OptionType = iota
	OptionBool
	OptionRunID // a run's number, from 1
)

// Choices says what an option's value is chosen from.
type Choices int

// Choice sets.
const (
	NoChoices       Choices = iota
	AppChoices              // the configured apps
	AppOrAllChoices         // "all", then the apps
	EnvChoices              // the environments
)

// Option is one option of a typed command.
type Option struct {
	Name, Description string
	Type              OptionType
	Required          bool
	Choices           Choices
}

// TypedCommand is a slash command as a platform with typed commands
// registers it: with options of its own when it has one form (/rollback),
// else with a subcommand for each verb (/deploy; its bare form is "run").
type TypedCommand struct {
	Name, Description string
	Options           []Option
	Subcommands       []TypedCommand
}

// bareSubcommand names the bare form of a command among its subcommands.
const bareSubcommand = "run"

// commandBriefs say what a command with subcommands is for.
var commandBriefs = map[string]string{"deploy": "Deploy apps and manage deployments"}

// arg is one positional argument of a verb: how usage lines show it, and
// the typed option it is.
type arg struct {
	synopsis string
	option   string
	desc     string
	typ      OptionType
	choices  Choices
	optional bool
	prefix   string // a word written before the value: "to" <version>
	text     bool   // free text to the end of the line (a reason), quoted
}

// The arguments verbs take.
var (
	argApp       = &arg{synopsis: "<app>", option: "app", desc: "The app", choices: AppChoices}
	argAppOpt    = &arg{synopsis: "[app]", option: "app", desc: "The app", choices: AppChoices, optional: true}
	argAppOrAll  = &arg{synopsis: "<app|all>", option: "app", desc: "The app", choices: AppOrAllChoices}
	argVersion   = &arg{synopsis: "<version>", option: "version", desc: "The version to deploy"}
	argEnv       = &arg{synopsis: "<env>", option: "env", desc: "The environment", choices: EnvChoices}
	argToEnv     = &arg{synopsis: "[to] <env>", option: "env", desc: "The environment", choices: EnvChoices}
	argEnvOpt    = &arg{synopsis: "[env]", option: "env", desc: "The environment", choices: EnvChoices, optional: true}
	argToVersion = &arg{synopsis: "[to <version>]", option: "to", desc: "The version to roll back to (default: the last good one)",
		optional: true, prefix: "to"}
	argReason = &arg{synopsis: "[reason words...]", option: "reason", desc: "Why", optional: true, text: true}
	argRunID  = &arg{synopsis: "<id>", option: "id", desc: "The run's number", typ: OptionRunID}
	argVerb   = &arg{synopsis: "[verb]", option: "verb", desc: "A verb to explain", optional: true}
)

// TypedCommands returns the slash commands as platforms with typed
// commands register them, in the order of the verb table.
func TypedCommands() []TypedCommand {
	var out []TypedCommand
	for _, name := range commandNames() {
		forms := verbsOf(name)
		if len(forms) == 1 {
			out = append(out, TypedCommand{Name: name, Description: forms[0].brief, Options: forms[0].options()})
			continue
		}
		c := TypedCommand{Name: name, Description: commandBriefs[name]}
		for _, v := range forms {
			c.Subcommands = append(c.Subcommands, TypedCommand{Name: v.subcommand(), Description: v.brief, Options: v.options()})
		}
		out = append(out, c)
	}
	return out
}

// TypedText returns the command and text the parser reads for a typed
// command: its name, its subcommand ("" for a command with one form), and
// the values filled in by option name (a switch "true", a run's number in
// decimal). ok is false for a command or subcommand not registered.
func TypedText(name, sub string, values map[string]string) (command, text string, ok bool) {
	forms := verbsOf(name)
	var v *verb
	for _, f := range forms {
		if (len(forms) == 1 && sub == "") || (len(forms) > 1 && f.subcommand() == sub) {
			v = f
		}
	}
	if v == nil {
		return "", "", false
	}
	var words []string
	if v.name != "" {
		words = append(words, v.name)
	}
	for _, a := range v.args {
		val := values[a.option]
		switch {
		case val == "" && a.optional:
		case a.text:
			words = append(words, asQuoted(val))
		case a.prefix != "":
			words = append(words, a.prefix, asWord(val))
		default:
			words = append(words, asWord(val))
		}
	}
	for _, f := range v.flags {
		switch val := values[f.option]; {
		case f.value == "" && val == "true":
			words = append(words, f.name)
		case f.value != "" && val != "":
			words = append(words, f.name+"="+asQuoted(val))
		}
	}
	return "/" + v.command, strings.Join(words, " "), true
}

// commandNames returns the slash commands in the order the table first
// names them.
func commandNames() []string {
	var names []string
	for _, v := range verbs {
		if !slices.Contains(names, v.command) {
			names = append(names, v.command)
		}
	}
	return names
}

// verbsOf returns the verbs of a slash command, in table order.
func verbsOf(command string) []*verb {
	var out []*verb
	for _, v := range verbs {
		if v.command == command {
			out = append(out, v)
		}
	}
	return out
}

// subcommand is the verb's name among its command's subcommands.
func (v *verb) subcommand() string {
	if v.name == "" {
		return bareSubcommand
	}
	return v.name
}

// options returns the verb's arguments and flags as typed options. The
// reason says it is needed with --emergency where the verb takes it.
func (v *verb) options() []Option {
	var out []Option
	for _, a := range v.args {
		out = append(out, Option{Name: a.option, Description: a.desc, Type: a.typ, Required: !a.optional, Choices: a.choices})
	}
	for _, f := range v.flags {
		o := Option{Name: f.option, Description: f.desc, Type: OptionString}
		if f.value == "" {
			o.Type = OptionBool
		}
		if f == flagReason && v.accepts(flagEmergency) {
			o.Description += " (needed with emergency)"
		}
		out = append(out, o)
	}
	return out
}

// asWord returns s as one positional word: quoted when it would otherwise
// split, read as a flag or be taken for a quote.
func asWord(s string) string {
	if s != "" && !strings.ContainsFunc(s, unicode.IsSpace) && !strings.HasPrefix(s, "-") &&
		!strings.HasPrefix(s, "—") && !strings.HasPrefix(s, "–") && quoteFamily([]rune(s)[0]) == 0 {
		return s
	}
	return asQuoted(s)
}

// asQuoted wraps s in quotes tokenize reads back as s. A quote closes only
// where a quote of its family is followed by white space or the end, so s
// is wrapped in a family that does not do that inside s; if both do, such
// double quotes in s are made single ones.
func asQuoted(s string) string {
	for _, q := range []rune{'"', '\''} {
		if !closesEarly(s, q) {
			return string(q) + s + string(q)
		}
	}
	rs := []rune(s)
	for i, r := range rs {
		if quoteFamily(r) == '"' {
			rs[i] = '\''
		}
	}
	return `"` + string(rs) + `"`
}

// closesEarly reports whether a quote of family q inside s would end a
// quoted word before s ends.
func closesEarly(s string, q rune) bool {
	rs := []rune(s)
	for i, r := range rs {
		// The last rune is followed by the closing quote, not the end.
		if quoteFamily(r) == q && i+1 < len(rs) && unicode.IsSpace(rs[i+1]) {
			return true
		}
	}
	return false
}

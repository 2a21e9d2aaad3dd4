package discord

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/bwmarrin/discordgo"

	"shipmate/internal/runbook"
)

// maxChoices is the most choices Discord allows on one option; with more
// apps or environments the option takes free text, which the parser checks.
const maxChoices = 25

// applicationCommands returns /deploy and /rollback as Discord registers
// them. The subcommands mirror the text grammar of internal/commands, so
// that an interaction turns into the text the parser understands.
func applicationCommands(apps []string, envs []runbook.Environment) []*discordgo.ApplicationCommand {
	appChoices := choices(apps, nil)
	envNames := make([]string, len(envs))
	envLabels := map[string]string{}
	for i, e := range envs {
		envNames[i] = e.Name
		if len(e.Aliases) > 0 {
			envLabels[e.Name] = e.Name + " (" + strings.Join(e.Aliases, ", ") + ")"
		}
	}
	envChoices := choices(envNames, envLabels)
	allChoices := choices(append([]string{"all"}, apps...), nil)

	app := func(required bool, cs []*discordgo.ApplicationCommandOptionChoice) *discordgo.ApplicationCommandOption {
		return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString,
			Name: "app", Description: "The app", Required: required, Choices: cs}
	}
	env := func(required bool) *discordgo.ApplicationCommandOption {
		return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString,
			Name: "env", Description: "The environment", Required: required, Choices: envChoices}
	}
	str := func(name, desc string, required bool) *discordgo.ApplicationCommandOption {
		return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString,
			Name: name, Description: desc, Required: required}
	}
	boolean := func(name, desc string) *discordgo.ApplicationCommandOption {
		return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionBoolean,
			Name: name, Description: desc}
	}
	one := 1.0
	id := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionInteger,
		Name: "id", Description: "The run's number", Required: true, MinValue: &one}
	sub := func(name, desc string, opts ...*discordgo.ApplicationCommandOption) *discordgo.ApplicationCommandOption {
		if opts == nil {
			opts = []*discordgo.ApplicationCommandOption{}
		}
		return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionSubCommand,
			Name: name, Description: desc, Options: opts}
	}
	return []*discordgo.ApplicationCommand{
		{
			Name: "deploy", Description: "Deploy apps and manage deployments",
			Options: []*discordgo.ApplicationCommandOption{
				sub("run", "Deploy a version of an app to an environment",
					app(true, appChoices), str("version", "The version to deploy", true), env(true),
					str("reason", "Why (needed with emergency)", false),
					boolean("dry_run", "Only say what would happen"),
					boolean("emergency", "Deploy outside the environment's windows (break-glass)")),
				sub("status", "Show what is deploying now", app(false, appChoices)),
				sub("history", "List recent deployments of an app", app(true, appChoices), env(false)),
				sub("whereis", "Show which version of an app runs where", app(true, appChoices)),
				sub("lock", "Stop deployments to an environment", app(true, allChoices), env(true),
					str("reason", "Why", false)),
				sub("unlock", "Allow deployments again", app(true, allChoices), env(true)),
				sub("approve", "Approve a run", id),
				sub("reject", "Reject a run", id, str("reason", "Why", false)),
				sub("cancel", "Cancel a run", id),
				sub("help", "Show how to use Shipmate", str("verb", "A verb to explain", false)),
			},
		},
		{
			Name: "rollback", Description: "Roll an app back to its last good version",
			Options: []*discordgo.ApplicationCommandOption{
				app(true, appChoices), env(true),
				str("to", "The version to roll back to (default: the last good one)", false),
				str("reason", "Why", false),
			},
		},
	}
}

// choices returns the choices for values, or nil (free text) when Discord
// would refuse that many. labels names some of them otherwise.
func choices(values []string, labels map[string]string) []*discordgo.ApplicationCommandOptionChoice {
	if len(values) == 0 || len(values) > maxChoices {
		return nil
	}
	out := make([]*discordgo.ApplicationCommandOptionChoice, len(values))
	for i, v := range values {
		name := v
		if l := labels[v]; l != "" && len(l) <= 100 {
			name = l
		}
		out[i] = &discordgo.ApplicationCommandOptionChoice{Name: name, Value: v}
	}
	return out
}

// commandText turns a slash command's options into the command and text
// the core parser reads ("/deploy", `demo 1.2.0 staging --reason="why"`).
// ok is false for a command Shipmate did not register.
func commandText(data discordgo.ApplicationCommandInteractionData) (command, text string, ok bool) {
	switch data.Name {
	case "rollback":
		o := options(data.Options)
		words := []string{word(o.str("app")), word(o.str("env"))}
		if v := o.str("to"); v != "" {
			words = append(words, "to", word(v))
		}
		words = append(words, reasonFlag(o.str("reason"))...)
		return "/rollback", strings.Join(words, " "), true
	case "deploy":
	default:
		return "", "", false
	}
	if len(data.Options) != 1 || data.Options[0].Type != discordgo.ApplicationCommandOptionSubCommand {
		return "", "", false
	}
	sub := data.Options[0]
	o := options(sub.Options)
	var words []string
	switch sub.Name {
	case "run":
		words = []string{word(o.str("app")), word(o.str("version")), word(o.str("env"))}
		words = append(words, reasonFlag(o.str("reason"))...)
		if o.bool("dry_run") {
			words = append(words, "--dry-run")
		}
		if o.bool("emergency") {
			words = append(words, "--emergency")
		}
	case "status", "history", "whereis", "unlock", "help":
		words = []string{sub.Name}
		for _, k := range []string{"app", "env", "verb"} {
			if v := o.str(k); v != "" {
				words = append(words, word(v))
			}
		}
	case "lock":
		words = []string{"lock", word(o.str("app")), word(o.str("env"))}
		if v := o.str("reason"); v != "" {
			words = append(words, quote(v))
		}
	case "approve", "cancel", "reject":
		words = []string{sub.Name, strconv.FormatInt(o.int("id"), 10)}
		if v := o.str("reason"); v != "" {
			words = append(words, quote(v))
		}
	default:
		return "", "", false
	}
	return "/deploy", strings.Join(words, " "), true
}

// optionMap holds a command's options by name.
type optionMap map[string]*discordgo.ApplicationCommandInteractionDataOption

func options(opts []*discordgo.ApplicationCommandInteractionDataOption) optionMap {
	m := optionMap{}
	for _, o := range opts {
		m[o.Name] = o
	}
	return m
}

func (m optionMap) str(name string) string {
	o, ok := m[name]
	if !ok || o.Type != discordgo.ApplicationCommandOptionString {
		return ""
	}
	return strings.TrimSpace(o.StringValue())
}

func (m optionMap) bool(name string) bool {
	o, ok := m[name]
	return ok && o.Type == discordgo.ApplicationCommandOptionBoolean && o.BoolValue()
}

func (m optionMap) int(name string) int64 {
	o, ok := m[name]
	if !ok || o.Type != discordgo.ApplicationCommandOptionInteger {
		return 0
	}
	return o.IntValue()
}

// word returns s as one positional word of the grammar: quoted when it
// would otherwise split, read as a flag or be taken for a quote.
func word(s string) string {
	if s != "" && !strings.ContainsFunc(s, unicode.IsSpace) && !strings.HasPrefix(s, "-") &&
		!strings.HasPrefix(s, "—") && !strings.HasPrefix(s, "–") && quoteFamily([]rune(s)[0]) == 0 {
		return s
	}
	return quote(s)
}

// reasonFlag returns the --reason flag for reason, or nothing.
func reasonFlag(reason string) []string {
	if reason == "" {
		return nil
	}
	return []string{"--reason=" + quote(reason)}
}

// quote wraps s in quotes the tokenizer reads back as s. A quote closes
// only where a quote of its family is followed by white space or the end,
// so s is wrapped in a family that does not do that inside s; if both do,
// such double quotes in s are made single ones.
func quote(s string) string {
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

// quoteFamily mirrors the parser's: it names the family of a double or
// single quote (straight or smart), or 0 for other runes.
func quoteFamily(r rune) rune {
	switch r {
	case '"', '“', '”', '„':
		return '"'
	case '\'', '‘', '’', '‚':
		return '\''
	}
	return 0
}

package discord

import (
	"strconv"
	"strings"

	"github.com/bwmarrin/discordgo"

	"shipmate/internal/commands"
	"shipmate/internal/runbook"
)

// maxChoices is the most choices Discord allows on one option; with more
// apps or environments the option takes free text, which the parser checks.
const maxChoices = 25

// applicationCommands returns /deploy and /rollback as Discord registers
// them: the typed commands of the verb table that builds the grammar and
// the help, with the apps and environments as choices.
func applicationCommands(apps []string, envs []runbook.Environment) []*discordgo.ApplicationCommand {
	envNames := make([]string, len(envs))
	envLabels := map[string]string{}
	for i, e := range envs {
		envNames[i] = e.Name
		if len(e.Aliases) > 0 {
			envLabels[e.Name] = e.Name + " (" + strings.Join(e.Aliases, ", ") + ")"
		}
	}
	sets := map[commands.Choices][]*discordgo.ApplicationCommandOptionChoice{
		commands.AppChoices:      choices(apps, nil),
		commands.AppOrAllChoices: choices(append([]string{"all"}, apps...), nil),
		commands.EnvChoices:      choices(envNames, envLabels),
	}
	var out []*discordgo.ApplicationCommand
	for _, tc := range commands.TypedCommands() {
		c := &discordgo.ApplicationCommand{Name: tc.Name, Description: tc.Description, Options: options(tc.Options, sets)}
		for _, sub := range tc.Subcommands {
			c.Options = append(c.Options, &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionSubCommand,
				Name: sub.Name, Description: sub.Description, Options: options(sub.Options, sets)})
		}
		out = append(out, c)
	}
	return out
}

// options returns a command's options as Discord types them; never nil.
func options(opts []commands.Option, sets map[commands.Choices][]*discordgo.ApplicationCommandOptionChoice) []*discordgo.ApplicationCommandOption {
	out := []*discordgo.ApplicationCommandOption{}
	for _, o := range opts {
		do := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString,
			Name: o.Name, Description: o.Description, Required: o.Required, Choices: sets[o.Choices]}
		switch o.Type {
		case commands.OptionBool:
			do.Type = discordgo.ApplicationCommandOptionBoolean
		case commands.OptionRunID:
			one := 1.0
			do.Type, do.MinValue = discordgo.ApplicationCommandOptionInteger, &one
		}
		out = append(out, do)
	}
	return out
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
	sub, opts := "", data.Options
	if len(opts) == 1 && opts[0].Type == discordgo.ApplicationCommandOptionSubCommand {
		sub, opts = opts[0].Name, opts[0].Options
	}
	values := map[string]string{}
	for _, o := range opts {
		switch o.Type {
		case discordgo.ApplicationCommandOptionString:
			values[o.Name] = strings.TrimSpace(o.StringValue())
		case discordgo.ApplicationCommandOptionBoolean:
			values[o.Name] = strconv.FormatBool(o.BoolValue())
		case discordgo.ApplicationCommandOptionInteger:
			values[o.Name] = strconv.FormatInt(o.IntValue(), 10)
		}
	}
	return commands.TypedText(data.Name, sub, values)
}

package main

// The command line is built with cobra for what people expect of a tool
// such as kubectl, helm or gh: `bot help CMD`, -h/--help on every command,
// suggestions for a mistyped command, and shell completion for bash, zsh,
// fish and PowerShell generated from the same command tree. Flags are read
// from SHIPMATE_* variables by a few lines of our own (flags.go) rather
// than with viper: the configuration file stays the one YAML the bot
// checks line by line, and a bad variable is refused naming it.

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"shipmate/internal/adaptercfg"
	"shipmate/internal/runbook"
)

// cli is one run of the command line: where it reads the environment and
// writes, and the values its flags take.
type cli struct {
	lookup         func(string) (string, bool)
	stdout, stderr io.Writer
	// fromEnv names, for each flag set from the environment, the variable
	// it was read from, so that an error about its value names it.
	fromEnv map[string]string

	config, listen   string
	level            levelValue
	tick             time.Duration
	online, incident bool
	runs             runsFlags
	from, to         string
}

// execute runs the command line args, reading variables with lookup, and
// returns the exit status.
func execute(args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	c := &cli{lookup: lookup, stdout: stdout, stderr: stderr, fromEnv: map[string]string{}, level: "info"}
	root := c.root()
	root.SetArgs(longDashes(root, args))
	cmd, err := root.ExecuteC()
	return report(cmd, err, stderr)
}

// rootLong is bot's help, before its usage.
const rootLong = `Shipmate is a ChatOps deployment bot. Without a command, bot serves: it
reads its configuration, talks to the configured chats and runs the
deployments people ask for, until SIGTERM drains it.

Every flag can also be set by a variable: SHIPMATE_ and the flag's name in
capitals, dashes as underscores (--log-level: SHIPMATE_LOG_LEVEL). A flag
on the command line wins over its variable, the variable over the
configuration file, and the file over the default; an empty variable
counts as unset.`

// root builds the command tree.
func (c *cli) root() *cobra.Command {
	root := &cobra.Command{
		Use:           "bot",
		Short:         "Shipmate, the ChatOps deployment bot",
		Long:          rootLong,
		Version:       versionLine(),
		SilenceErrors: true,
		SilenceUsage:  true,
		// As cobra's own suggestions do: a typo of up to two letters.
		SuggestionsMinimumDistance: 2,
		Args:                       unknownCommand,
		RunE:                       c.serve,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return c.applyEnv(cmd.Flags())
		},
	}
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetHelpCommand(helpCommand(root))
	c.addCommon(root, "config", "log-level", "tick", "listen")
	root.Flags().BoolP("version", "v", false, "print the version line (as bot version does) and exit")
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the bot (what bot does without a command)",
		Long:  "Run the bot: read the configuration, talk to the configured chats and run the\ndeployments people ask for. SIGTERM drains; a second one exits at once.",
		Args:  usageArgs(0, "usage: bot serve [--config FILE] [--listen ADDR] [--log-level LEVEL] [--tick DURATION]"),
		RunE:  c.serve,
	}
	c.addCommon(serve, "config", "log-level", "tick", "listen")
	root.AddCommand(serve, c.checkCommand(), c.exportCommand(), c.runsCommand(), c.migrateCommand(), c.compactCommand(), versionCommand())
	withEnvHelp(root)
	return root
}

// addCommon adds the flags that serve, check, export and runs share. A
// command accepts them all, as it always has, but shows and reads from the
// environment only those it uses: a SHIPMATE_TICK meant for the bot does
// not trouble bot runs.
func (c *cli) addCommon(cmd *cobra.Command, uses ...string) {
	fs := cmd.Flags()
	fs.StringVar(&c.config, "config", defaultConfig, "configuration `FILE` (YAML); when the default is missing, the copy built into the binary is used")
	fs.Var(&c.level, "log-level", "log `LEVEL`: debug, info, warn, error")
	fs.DurationVar(&c.tick, "tick", defaultTick, "how often timers (expiry, windows, monitoring) are checked")
	fs.StringVar(&c.listen, "listen", "", "listen on `ADDR` (host:port; port 0 picks one) rather than the configuration's listen")
	for _, name := range []string{"config", "log-level", "tick", "listen"} {
		if slices.Contains(uses, name) {
			readEnv(fs, name)
		} else {
			_ = fs.MarkHidden(name)
		}
	}
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	_ = cmd.RegisterFlagCompletionFunc("log-level",
		cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
}

// load reads the configuration --config names and applies --listen.
func (c *cli) load(cmd *cobra.Command) (*adaptercfg.Settings, string, error) {
	cfg, source, err := loadConfig(c.config, cmd.Flags().Changed("config"))
	if err != nil {
		return nil, "", badUsage{err}
	}
	if err := overrideListen(cfg.Config, c.listen, c.flagName("listen")); err != nil {
		return nil, "", badUsage{err}
	}
	return cfg, source, nil
}

// serve is bot and bot serve.
func (c *cli) serve(cmd *cobra.Command, _ []string) error {
	cfg, source, err := c.load(cmd)
	if err != nil {
		return err
	}
	return status(serve(cfg, source, string(c.level), c.tick, c.stderr))
}

func (c *cli) checkCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the configuration (and with --online each service it names) and exit",
		Long: "Check the configuration and exit: 0 when it is valid, 2 with the key and line\n" +
			"of the first mistake otherwise. With --online, also try each configured service\n" +
			"and print one line per thing tried; exit 1 if any fails.",
		Args: usageArgs(0, "usage: bot check [--config FILE] [--online]"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, source, err := c.load(cmd)
			if err != nil {
				return err
			}
			if c.online {
				return status(checkOnline(cfg, source, c.stdout, c.stderr))
			}
			fmt.Fprintf(c.stdout, "%s: ok (%d environments, %d apps)\n", source, len(cfg.Policy.Envs), len(cfg.Apps))
			return nil
		},
	}
	c.addCommon(cmd, "config", "listen")
	cmd.Flags().BoolVar(&c.online, "online", false, "also try each configured service (Slack, Discord, Jenkins, Kubernetes, Prometheus); exit 1 if any fails")
	readEnv(cmd.Flags(), "online")
	return cmd
}

func (c *cli) exportCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export [--incident] RUN-ID",
		Short: "Print one run's record, with its whole audit trail, as JSON",
		Long: "Print one run's record and its whole audit trail as JSON, read from the store,\n" +
			"or asked of the running bot that holds it. With --incident, print the rollback\n" +
			"run's incident record as Markdown instead.",
		Args: usageArgs(1, "usage: bot export [--config FILE] [--incident] RUN-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, err := c.load(cmd)
			if err != nil {
				return err
			}
			return status(exportRun(cfg.Config, args[0], c.incident, string(c.level), c.stdout, c.stderr))
		},
	}
	c.addCommon(cmd, "config", "log-level", "listen")
	cmd.Flags().BoolVar(&c.incident, "incident", false, "print the rollback run's incident record as Markdown instead of the JSON record")
	readEnv(cmd.Flags(), "incident")
	return cmd
}

func (c *cli) runsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List runs, newest first, by app, environment, state and age",
		Long: "List runs, newest first, from the store or from the running bot that holds it.\n" +
			"--since takes an age (7d, 36h, 90m) or a date (2026-12-01).",
		Args: usageArgs(0, "usage: bot runs [--config FILE] [--app APP] [--env ENV] [--state STATES] [--since AGE] [--limit N] [--json]"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := c.load(cmd)
			if err != nil {
				return err
			}
			c.runs.name = c.flagName
			return status(runsCommand(cfg.Config, &c.runs, c.stdout, c.stderr))
		},
	}
	c.addCommon(cmd, "config", "listen")
	c.runs.add(cmd.Flags())
	// Deploy scripts get SHIPMATE_APP, SHIPMATE_ENV … of their run: a
	// listing's filters have variables of their own.
	readEnvAs(cmd.Flags(), envPrefix+"RUNS_", "app", "env", "state", "since", "limit", "json")
	states := make([]string, len(runbook.AllStates))
	for i, s := range runbook.AllStates {
		states[i] = string(s)
	}
	_ = cmd.RegisterFlagCompletionFunc("state", cobra.FixedCompletions(states, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (c *cli) migrateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate --from SRC --to DST",
		Short: "Copy a store (bbolt file or etcd URL) into an empty one, and check the copy",
		Long:  migrateHelp,
		Args:  usageArgs(0, migrateUsage),
		RunE: func(*cobra.Command, []string) error {
			return status(migrateCommand(c.from, c.to, c.stdout, c.stderr))
		},
	}
	cmd.Flags().StringVar(&c.from, "from", "", "the store to copy: a bbolt file or an etcd:// URL")
	cmd.Flags().StringVar(&c.to, "to", "", "the empty store to copy into: a bbolt file or an etcd:// URL")
	readEnv(cmd.Flags(), "from", "to")
	return cmd
}

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version and platform of this binary",
		Args:  usageArgs(0, "usage: bot version"),
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), versionLine())
		},
	}
}

// helpCommand is bot help [command]. Unlike cobra's own, it refuses an
// unknown command with exit status 2.
func helpCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		ValidArgsFunction: func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, _, err := root.Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					names = append(names, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(_ *cobra.Command, args []string) error {
			cmd, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 {
				return fmt.Errorf("no command %q to help with", strings.Join(args, " "))
			}
			cmd.InitDefaultHelpFlag()
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
	}
}

// unknownCommand refuses a word after bot that names no command.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(": did you mean %s?", s[0])
	}
	return fmt.Errorf("%s", msg)
}

// usageArgs wants n arguments, and prints usage otherwise.
func usageArgs(n int, usage string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		fmt.Fprintln(cmd.ErrOrStderr(), usage)
		return exitStatus(exitConfig)
	}
}

package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envPrefix starts the name of every variable that sets a flag:
// --log-level is also read from SHIPMATE_LOG_LEVEL.
const envPrefix = "SHIPMATE_"

// envAnnotation marks a flag that is also read from its variable.
const envAnnotation = "shipmate_env"

// envName is the variable that sets flag, after prefix.
func envName(prefix, flag string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// readEnv has the named flags of fs read from their variables too.
func readEnv(fs *pflag.FlagSet, names ...string) { readEnvAs(fs, envPrefix, names...) }

// readEnvAs has the named flags of fs read from the variables of their
// names after prefix.
func readEnvAs(fs *pflag.FlagSet, prefix string, names ...string) {
	for _, name := range names {
		if err := fs.SetAnnotation(name, envAnnotation, []string{envName(prefix, name)}); err != nil {
			panic(err) // a flag that was never defined: a mistake in this file
		}
	}
}

// applyEnv sets each flag of fs that reads the environment and was not
// given on the command line from its variable, and notes which it set. An
// empty variable counts as unset. A value the flag cannot take is a usage
// error naming the variable.
func (c *cli) applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		env := f.Annotations[envAnnotation]
		if err != nil || f.Changed || len(env) == 0 {
			return
		}
		v, ok := c.lookup(env[0])
		if !ok || v == "" {
			return
		}
		if e := f.Value.Set(v); e != nil {
			err = badUsage{fmt.Errorf("%s=%q: %s", env[0], v, want(f, e))}
			return
		}
		f.Changed = true // as given: --config from SHIPMATE_CONFIG must exist
		c.fromEnv[f.Name] = env[0]
	})
	return err
}

// want says what flag f takes, after e refused a value.
func want(f *pflag.Flag, e error) string {
	switch f.Value.Type() {
	case "duration":
		return "want a duration such as 5s or 200ms"
	case "bool":
		return "want true or false"
	case "int":
		return "want a whole number"
	}
	return e.Error()
}

// flagName names flag as the user gave it: the variable it was read from,
// or the flag itself.
func (c *cli) flagName(flag string) string {
	if env, ok := c.fromEnv[flag]; ok {
		return env
	}
	return "--" + flag
}

// levelValue is --log-level, checked as it is read so that a bad level
// from the environment is refused naming its variable.
type levelValue string

func (l *levelValue) Set(s string) error {
	if _, err := zerolog.ParseLevel(s); err != nil || s == "" {
		return errors.New("want debug, info, warn or error")
	}
	*l = levelValue(s)
	return nil
}

func (l *levelValue) String() string { return string(*l) }
func (l *levelValue) Type() string   { return "level" }

// envHelp lists the variables that set cmd's flags, for its help; "" when
// none does.
func envHelp(cmd *cobra.Command) string {
	type row struct{ env, flag string }
	var rows []row
	width := 0
	cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if env := f.Annotations[envAnnotation]; len(env) > 0 && !f.Hidden {
			rows = append(rows, row{env[0], f.Name})
			width = max(width, len(env[0]))
		}
	})
	lines := make([]string, len(rows))
	for i, r := range rows {
		lines[i] = fmt.Sprintf("  %-*s  sets --%s", width, r.env, r.flag)
	}
	return strings.Join(lines, "\n")
}

// envSection is the part of the usage template that lists envHelp, after
// the command's flags.
const envSection = `{{with envHelp .}}

Environment (a flag given on the command line wins over its variable):
{{.}}{{end}}`

// withEnvHelp has the usage of every command under root list the variables
// next to the flags.
func withEnvHelp(root *cobra.Command) {
	cobra.AddTemplateFunc("envHelp", envHelp)
	tmpl := root.UsageTemplate()
	const after = "{{if .HasAvailableInheritedFlags}}"
	if strings.Contains(tmpl, after) {
		tmpl = strings.Replace(tmpl, after, envSection+after, 1)
	} else {
		tmpl = strings.TrimSuffix(tmpl, "\n") + envSection + "\n"
	}
	root.SetUsageTemplate(tmpl)
}

// longDashes rewrites -config to --config, as Go's flag package, which the
// bot's command line was first written with, read it. A single letter
// stays a shorthand (-h); nothing after "--" is touched.
func longDashes(root *cobra.Command, args []string) []string {
	names := map[string]bool{"help": true, "version": true}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	out := slices.Clone(args)
	for i, a := range out {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && len(name) > 1 && names[name] {
			out[i] = "-" + a
		}
	}
	return out
}

// exitStatus ends a command with a status, what it had to say printed.
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// status is the error RunE returns for code: nil for exitOK.
func status(code int) error {
	if code == exitOK {
		return nil
	}
	return exitStatus(code)
}

// badUsage is a mistake in how the bot was called or configured, printed
// as it is, and exit status 2.
type badUsage struct{ error }

// report prints what err, returned by running cmd, has to say and returns
// the exit status. cobra's own errors (an unknown command or flag, a flag
// without its value) are usage errors: one line and where help is.
func report(cmd *cobra.Command, err error, stderr io.Writer) int {
	var st exitStatus
	var bad badUsage
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &st):
		return int(st)
	case errors.As(err, &bad):
		fmt.Fprintf(stderr, "shipmate: %v\n", bad.error)
		return exitConfig
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	path := "bot"
	if cmd != nil {
		path = cmd.CommandPath()
	}
	fmt.Fprintf(stderr, "shipmate: %s (%s --help says more)\n", msg, path)
	return exitConfig
}

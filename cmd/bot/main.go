// Command bot runs Shipmate, the ChatOps deployment bot.
//
//	bot [--config FILE] [--listen ADDR] [--log-level LEVEL]   run the bot
//	bot export [--config FILE] ID             print one run's record as JSON
//	bot check [--config FILE] [--online]      check the configuration (and try each service) and exit
//	bot runs [--app A] [--env E] [--state S] [--since 7d] [--json]   list runs
//	bot migrate --from SRC --to DST           copy a store (bbolt file, etcd URL) into an empty one
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"shipmate/internal/adaptercfg"
	"syscall"
	_ "time/tzdata" // deployment windows may name IANA zones: carry the zone database

	"shipmate/configs"
	"shipmate/internal/config"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2
)

// defaultConfig is the file used when --config is not given; when it does
// not exist either, the copy embedded in the binary is used.
const defaultConfig = "configs/shipmate.yaml"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "migrate" {
		return migrateCommand(args[1:], stdout, stderr)
	}
	sub := ""
	if len(args) > 0 && (args[0] == "export" || args[0] == "check" || args[0] == "runs") {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("bot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfig, "configuration file (YAML)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	tick := fs.Duration("tick", defaultTick, "how often timers (expiry, windows, monitoring) are checked")
	listen := fs.String("listen", "", "listen address, overriding the configuration's listen (host:port; port 0 picks one)")
	var incident, online *bool
	var runs *runsFlags
	switch sub {
	case "export":
		incident = fs.Bool("incident", false, "print the rollback run's incident record as Markdown instead of the JSON record")
	case "runs":
		runs = addRunsFlags(fs)
	case "check":
		online = fs.Bool("online", false, "also try each configured service (Slack, Discord, Jenkins, Kubernetes, Prometheus); exit 1 if any fails")
	}
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })

	cfg, source, err := loadConfig(*cfgPath, explicit)
	if err != nil {
		fmt.Fprintf(stderr, "shipmate: %v\n", err)
		return exitConfig
	}
	if err := overrideListen(cfg.Config, *listen); err != nil {
		fmt.Fprintf(stderr, "shipmate: %v\n", err)
		return exitConfig
	}
	if sub != "" {
		if incident != nil && *incident {
			sub = "export-incident"
		}
		if runs != nil {
			return runsCommand(fs, cfg.Config, runs, stdout, stderr)
		}
		if online != nil && *online {
			sub = "check-online"
		}
		return subcommand(sub, fs, cfg, source, *level, stdout, stderr)
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "shipmate: unexpected argument %q (commands: export, runs, check, migrate)\n", fs.Arg(0))
		return exitConfig
	}
	log, err := newLogger(*level, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "shipmate: %v\n", err)
		return exitConfig
	}
	log.Info().Str("config", source).Msg("configuration loaded")

	m, err := NewMain(cfg, log, *tick)
	if err != nil {
		log.Error().Err(err).Msg("cannot start")
		fmt.Fprintf(stderr, "shipmate: %v\n", err)
		return exitFail
	}
	defer m.Close()

	// The first signal drains; a second one ends the process at once.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	ctx, stop := context.WithCancel(context.Background())
	go func() {
		s := <-sigs
		log.Info().Str("signal", s.String()).Msg("draining: no new runs; running steps finish (signal again to exit at once)")
		stop()
		s = <-sigs
		log.Warn().Str("signal", s.String()).Msg("exiting at once; unfinished steps resume or end as interrupted on the next start")
		os.Exit(exitFail)
	}()
	if err := m.Run(ctx); err != nil {
		log.Error().Err(err).Msg("stopped with an error")
		return exitFail
	}
	log.Info().Msg("stopped")
	return exitOK
}

// subcommand runs bot check or bot export.
func subcommand(sub string, fs *flag.FlagSet, cfg *adaptercfg.Settings, source, level string, stdout, stderr io.Writer) int {
	switch sub {
	case "check", "check-online":
		if fs.NArg() != 0 {
			fmt.Fprintln(stderr, "usage: bot check [--config FILE] [--online]")
			return exitConfig
		}
		if sub == "check-online" {
			return checkOnline(cfg, source, stdout, stderr)
		}
		fmt.Fprintf(stdout, "%s: ok (%d environments, %d apps)\n", source, len(cfg.Policy.Envs), len(cfg.Apps))
		return exitOK
	case "export", "export-incident":
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "usage: bot export [--config FILE] [--incident] RUN-ID")
			return exitConfig
		}
		do := export
		if sub == "export-incident" {
			do = exportIncident
		}
		log, err := newLogger(level, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "shipmate: %v\n", err)
			return exitConfig
		}
		if err := do(cfg.Config, fs.Arg(0), stdout, log); err != nil {
			fmt.Fprintf(stderr, "shipmate: %v\n", err)
			return exitFail
		}
		return exitOK
	}
	return exitConfig
}

// overrideListen moves the main listener to listen (--listen), when set. A
// local console that comes along, having no listener of its own, must
// stay on loopback.
func overrideListen(cfg *config.Config, listen string) error {
	if listen == "" {
		return nil
	}
	cfg.Listen = listen
	if cfg.Chat.Web.Enabled && cfg.Chat.Web.Listen == "" {
		if err := config.CheckConsoleListen(cfg.Listen, cfg.Chat.Web.UserHeader); err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
	}
	return nil
}

// loadConfig reads the configuration and has each adapter decode and check
// its blocks. Without an explicit --config and without configs/shipmate.yaml
// on disk, the embedded default is used.
func loadConfig(path string, explicit bool) (*adaptercfg.Settings, string, error) {
	data, source := configs.Default, "embedded default configuration"
	if _, err := os.Stat(path); explicit || !errors.Is(err, os.ErrNotExist) {
		if data, err = os.ReadFile(path); err != nil {
			return nil, "", fmt.Errorf("config: %w", err)
		}
		source = path
	}
	s, err := adaptercfg.Parse(data, nil)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", source, err)
	}
	return s, source, nil
}

// Command bot runs Shipmate, the ChatOps deployment bot.
//
//	bot [serve] [--config FILE] [--listen ADDR] [--log-level LEVEL] [--tick DURATION]   run the bot
//	bot check [--config FILE] [--online]      check the configuration (and try each service) and exit
//	bot export [--config FILE] [--incident] ID   print one run's record as JSON
//	bot runs [--app A] [--env E] [--state S] [--since 7d] [--limit N] [--json]   list runs
//	bot migrate --from SRC --to DST           copy a store (bbolt file, etcd URL) into an empty one
//	bot version                               print the version, commit, Go version and platform
//	bot completion bash|zsh|fish|powershell   print a shell completion script
//	bot help [COMMAND]                        help about a command
//
// Every flag is also read from SHIPMATE_<FLAG> (--log-level: SHIPMATE_LOG_LEVEL).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
	_ "time/tzdata" // deployment windows may name IANA zones: carry the zone database

	"shipmate/configs"
	"shipmate/internal/adaptercfg"
	"shipmate/internal/config"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2 // a usage or configuration error
)

// defaultConfig is the file used when --config is not given; when it does
// not exist either, the copy embedded in the binary is used.
const defaultConfig = "configs/shipmate.yaml"

func main() {
	// Shipmate serves no heap profiles: sampling allocations would only
	// cost a stack walk now and then, and the pages of the binary's tables
	// each walk touches.
	runtime.MemProfileRate = 0
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args with the process's environment and
// returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	return execute(args, os.LookupEnv, stdout, stderr)
}

// serve runs the bot on cfg until a signal drains it.
func serve(cfg *adaptercfg.Settings, source, level string, tick time.Duration, stderr io.Writer) int {
	log, err := newLogger(level, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "shipmate: %v\n", err)
		return exitConfig
	}
	log.Info().Str("config", source).Msg("configuration loaded")

	m, err := NewMain(cfg, log, tick)
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

// exportRun is bot export: the run id's record as JSON, or with incident
// its incident record as Markdown.
func exportRun(cfg *config.Config, id string, incident bool, level string, stdout, stderr io.Writer) int {
	do := export
	if incident {
		do = exportIncident
	}
	log, err := newLogger(level, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "shipmate: %v\n", err)
		return exitConfig
	}
	if err := do(cfg, id, stdout, log); err != nil {
		fmt.Fprintf(stderr, "shipmate: %v\n", err)
		return exitFail
	}
	return exitOK
}

// overrideListen moves the main listener to listen, when set; name is
// where it was given (--listen or its variable). A local console that
// comes along, having no listener of its own, must stay on loopback.
func overrideListen(cfg *config.Config, listen, name string) error {
	if listen == "" {
		return nil
	}
	cfg.Listen = listen
	if cfg.Chat.Web.Enabled && cfg.Chat.Web.Listen == "" {
		if err := config.CheckConsoleListen(cfg.Listen, cfg.Chat.Web.UserHeader); err != nil {
			return fmt.Errorf("%s: %w", name, err)
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

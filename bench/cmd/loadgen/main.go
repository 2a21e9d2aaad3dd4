// Command loadgen measures Shipmate as a process, from outside, against a
// bare Go handler that only checks the Slack signature: closed-loop load
// of signed Slack slash commands (each with its own trigger_id) over N
// keep-alive connections, for two reads (/deploy status, /deploy history)
// and a state change (/deploy lock and unlock, alternating), with the
// requests per second, the median and 99th percentile latency, the
// resident memory at idle and at peak, and the time from spawning the
// process to its first 200 (the first spawn and the median of more), with
// an empty store and with 100,000 stored runs; then with 1,000 more runs
// waiting for approval, made through signed /deploy commands, and what
// they cost in memory; and the idle memory on configs/example.yaml. One
// fsync is measured as a small bbolt commit in the stores' folder. It
// prints markdown tables, the last of them the performance targets, each
// with its figure and whether it is met.
//
// The bots under load run a configuration with an app per connection and
// one per waiting run (1,050 apps by default); the median spawns are
// measured on it and on the base configuration of the connections' apps
// only (50), on which the spawn target is judged. The memory per waiting
// run is judged on the live heap (go_gc_heap_live_bytes from the bot's
// /metrics) read after at least two collections, before and after the
// runs are made, loadgen driving them with signed reads; the resident
// memory, which includes the collector's headroom, is shown beside it.
//
//	go run ./bench/cmd/loadgen [-conns 1,50] [-duration 10s] [-bot PATH]
//
// The bot is built from the module unless -bot names a binary. Its Slack
// Web API is a stub on loopback that answers every call at once.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type options struct {
	bot      string
	conns    []int
	duration time.Duration
	settle   time.Duration
	runs     int
	waiting  int
	spawns   int
	cache    string
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-serve-bare" {
		if err := serveBare(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "bare:", err)
			os.Exit(1)
		}
		return
	}
	opt, err := parseFlags()
	if err == nil {
		err = run(opt)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func parseFlags() (options, error) {
	var opt options
	conns := flag.String("conns", "1,50", "numbers of connections to load with, comma-separated")
	flag.StringVar(&opt.bot, "bot", "", "the bot binary (default: ./cmd/bot built as the Dockerfile builds it, without cgo)")
	flag.DurationVar(&opt.duration, "duration", 10*time.Second, "length of each load phase")
	flag.DurationVar(&opt.settle, "settle", 3*time.Second, "wait after start before reading the idle RSS")
	flag.IntVar(&opt.runs, "runs", 100_000, "finished runs in the large store")
	flag.IntVar(&opt.waiting, "waiting", 1000, "runs left waiting for approval in the large store")
	flag.IntVar(&opt.spawns, "spawns", 5, "spawns of the bot on each store, for the median time to its first 200")
	flag.StringVar(&opt.cache, "cache", filepath.Join(os.TempDir(), "shipmate-bench"), "where the large store is kept between runs")
	flag.Parse()
	for _, c := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return opt, fmt.Errorf("-conns %q: want positive numbers", *conns)
		}
		opt.conns = append(opt.conns, n)
	}
	if opt.waiting < 1 || opt.spawns < 1 {
		return opt, fmt.Errorf("-waiting and -spawns: want positive numbers")
	}
	return opt, nil
}

func run(opt options) error {
	work, err := os.MkdirTemp("", "shipmate-loadgen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if opt.bot == "" {
		if opt.bot, err = buildBot(work); err != nil {
			return err
		}
	}
	logf("seeding (or finding) a store of %d runs in %s", opt.runs, opt.cache)
	big, err := seededStore(opt.cache, opt.runs)
	if err != nil {
		return err
	}
	stub := slackStub()
	defer stub.Close()
	rep := newReport(opt)
	logf("fsync reference: 200 bbolt updates in %s", work)
	if rep.fsync, err = measureFsync(work, 200); err != nil {
		return err
	}
	full := botSetup{bin: opt.bot, slackAPI: stub.URL + "/api/", apps: rep.maxConns, waiting: opt.waiting}
	base := full
	base.waiting = 0
	s := setups{base: base, full: full}
	rep.configs = s
	steps := []func() error{
		func() error { return rep.bare(opt) },
		func() error { return rep.empty(opt, s, filepath.Join(work, "empty")) },
		func() error { return rep.large(opt, s, filepath.Join(work, "large"), big) },
		func() error { return rep.example(opt, filepath.Join(work, "example")) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	rep.print(opt)
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
}

// releaseBuild is how the Dockerfile builds the bot that ships: without
// cgo (a static binary, so no C library mapped beside it), without paths
// or debug tables. loadgen measures that build.
var releaseBuild = []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w"}

// buildBot builds ./cmd/bot of the module loadgen runs in, as the release
// does.
func buildBot(dir string) (string, error) {
	bin := filepath.Join(dir, "bot")
	args := append(append([]string{}, releaseBuild...), "-o", bin, "./cmd/bot")
	logf("CGO_ENABLED=0 go %s", strings.Join(args, " "))
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/bot (run loadgen from the module's root): %w", err)
	}
	return bin, nil
}

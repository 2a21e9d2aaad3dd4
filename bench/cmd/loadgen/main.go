// Command loadgen measures Shipmate as a process, from outside, against a
// bare Go handler that only checks the Slack signature: closed-loop load
// of signed Slack slash commands (each with its own trigger_id) over N
// keep-alive connections, for a read (/deploy status) and a state change
// (/deploy lock and unlock, alternating), with the requests per second,
// the median and 99th percentile latency, the resident memory at idle and
// at peak, and the time from spawning the process to its first 200, with
// an empty store and with 100,000 stored runs. It prints markdown tables.
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
	"runtime"
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
	flag.StringVar(&opt.bot, "bot", "", "the bot binary (default: go build ./cmd/bot)")
	flag.DurationVar(&opt.duration, "duration", 10*time.Second, "length of each load phase")
	flag.DurationVar(&opt.settle, "settle", 3*time.Second, "wait after start before reading the idle RSS")
	flag.IntVar(&opt.runs, "runs", 100_000, "finished runs in the large store")
	flag.StringVar(&opt.cache, "cache", filepath.Join(os.TempDir(), "shipmate-bench"), "where the large store is kept between runs")
	flag.Parse()
	for _, c := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return opt, fmt.Errorf("-conns %q: want positive numbers", *conns)
		}
		opt.conns = append(opt.conns, n)
	}
	return opt, nil
}

// row is one load phase of one target; procRow one target's process.
type (
	row struct {
		target, command string
		conns           int
		res             result
	}
	procRow struct {
		target     string
		ready      time.Duration
		idle, file float64 // file: pages of the binary and the store
		peak       float64
	}
)

type report struct {
	rows  []row
	procs []procRow
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
	maxConns := max(1, opt.conns[len(opt.conns)-1])
	for _, c := range opt.conns {
		maxConns = max(maxConns, c)
	}
	var rep report
	if err := rep.bare(opt); err != nil {
		return err
	}
	empty := filepath.Join(work, "empty", "shipmate.db")
	if err := rep.bot(opt, "Shipmate", empty, stub.URL+"/api/", maxConns, opt.conns); err != nil {
		return err
	}
	large := filepath.Join(work, "large", "shipmate.db")
	if err := copyFile(large, big); err != nil {
		return err
	}
	label := fmt.Sprintf("Shipmate, %dk runs", opt.runs/1000)
	if err := rep.bot(opt, label, large, stub.URL+"/api/", maxConns, []int{maxConns}); err != nil {
		return err
	}
	rep.print(opt)
	return nil
}

// bare measures the reference handler.
func (rep *report) bare(opt options) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	logf("bare handler")
	p, err := spawn(addr, nil, self, "-serve-bare", addr)
	if err != nil {
		return err
	}
	defer p.stop()
	return rep.measure(opt, "bare Go", p, opt.conns, map[string]script{"status": statusScript})
}

// bot measures the bot on the store at path.
func (rep *report) bot(opt options, label, path, slackAPI string, apps int, conns []int) error {
	logf("%s", label)
	p, err := startBot(opt.bot, filepath.Dir(path), path, slackAPI, apps)
	if err != nil {
		return err
	}
	defer p.stop()
	return rep.measure(opt, label, p, conns, map[string]script{"status": statusScript, "lock / unlock": lockScript})
}

// measure reads p's idle memory, loads it with every script at every
// number of connections, and reads its peak.
func (rep *report) measure(opt options, label string, p *proc, conns []int, scripts map[string]script) error {
	idle, file, err := p.idle(opt.settle)
	if err != nil {
		return err
	}
	for _, name := range []string{"status", "lock / unlock"} {
		sc, ok := scripts[name]
		if !ok {
			continue
		}
		for _, c := range conns {
			res := load(p.addr, c, opt.duration, sc)
			if res.firstErr != nil {
				logf("%s %s ×%d: %d errors, %d refused; first: %v", label, name, c, res.errors, res.refused, res.firstErr)
			}
			rep.rows = append(rep.rows, row{target: label, command: "/deploy " + name, conns: c, res: res})
		}
	}
	_, peak, err := p.memory()
	if err != nil {
		return err
	}
	rep.procs = append(rep.procs, procRow{target: label, ready: p.ready, idle: idle, file: file, peak: peak})
	return nil
}

func (rep *report) print(opt options) {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\n%d CPUs (GOMAXPROCS %d), load average %s; %s per phase, closed loop, fsync on every commit.\n\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), strings.Join(strings.Fields(string(load))[:3], " "), opt.duration)
	fmt.Println("| target | command | connections | req/s | p50 ms | p99 ms | errors |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, r := range rep.rows {
		fmt.Printf("| %s | %s | %d | %.0f | %.2f | %.2f | %d |\n", r.target, r.command, r.conns, r.res.perSecond(),
			ms(r.res.p50), ms(r.res.p99), r.res.errors+r.res.refused)
	}
	fmt.Println()
	fmt.Println("| target | spawn → first 200, ms | idle RSS, MiB | of which file pages | peak RSS, MiB |")
	fmt.Println("|---|---|---|---|---|")
	for _, p := range rep.procs {
		fmt.Printf("| %s | %.1f | %.1f | %.1f | %.1f |\n", p.target, ms(p.ready), p.idle, p.file, p.peak)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
}

// buildBot builds ./cmd/bot of the module loadgen runs in.
func buildBot(dir string) (string, error) {
	bin := filepath.Join(dir, "bot")
	logf("go build ./cmd/bot")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/bot")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/bot (run loadgen from the module's root): %w", err)
	}
	return bin, nil
}

package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// row is one load phase of one target; procRow one target's process.
type (
	row struct {
		target, command string
		conns           int
		res             result
	}
	procRow struct {
		// config names the configuration the target ran on (its load, its
		// memory and ready).
		target, config string
		// ready is the time from spawn to the first 200; medians the median
		// of the spawns that followed, by the name of the configuration
		// they ran on (none: not measured).
		ready   time.Duration
		medians map[string]time.Duration
		idle    mem
		peak    float64
	}
)

// labels name the targets in the tables.
type labels struct{ bare, empty, large, waiting, example string }

type report struct {
	labels   labels
	configs  setups
	maxConns int
	fsync    fsyncRef
	rows     []row
	procs    []procRow
	growth   growth
	// lockChecks counts the bots asked, after their load, which locks they
	// hold; locksHeld adds up what they answered.
	lockChecks, locksHeld int
}

func newReport(opt options) *report {
	rep := &report{maxConns: 1}
	for _, c := range opt.conns {
		rep.maxConns = max(rep.maxConns, c)
	}
	large := fmt.Sprintf("Shipmate, %dk runs", opt.runs/1000)
	rep.labels = labels{
		bare: "bare Go", empty: "Shipmate", large: large,
		waiting: fmt.Sprintf("%s + %d waiting", large, opt.waiting),
		example: "Shipmate, " + exampleConfig,
	}
	return rep
}

// find returns the result of command at conns on target.
func (rep *report) find(target, command string, conns int) (result, bool) {
	for _, r := range rep.rows {
		if r.target == target && r.command == command && r.conns == conns {
			return r.res, true
		}
	}
	return result{}, false
}

// proc returns target's process row.
func (rep *report) proc(target string) (procRow, bool) {
	for _, p := range rep.procs {
		if p.target == target {
			return p, true
		}
	}
	return procRow{}, false
}

func (rep *report) print(opt options) {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\n%d CPUs (GOMAXPROCS %d), load average %s; %s per phase, closed loop, fsync on every commit.\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), strings.Join(strings.Fields(string(load))[:3], " "), opt.duration)
	fmt.Printf("One fsync (a bbolt Update putting 100 bytes, %d in a row, in %s): median %.2f ms, p99 %.2f ms.\n\n",
		rep.fsync.updates, rep.fsync.dir, ms(rep.fsync.p50), ms(rep.fsync.p99))
	fmt.Println("| target | config | command | connections | req/s | p50 ms | p99 ms | errors |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range rep.rows {
		command := "/deploy " + r.command
		if r.target == rep.labels.bare {
			command = "(any)"
		}
		pr, _ := rep.proc(r.target)
		fmt.Printf("| %s | %s | %s | %d | %.0f | %.2f | %.2f | %d |\n", r.target, pr.config, command, r.conns, r.res.perSecond(),
			ms(r.res.p50), ms(r.res.p99), r.res.errors+r.res.refused)
	}
	fmt.Println()
	base, full := rep.configs.base.name(), rep.configs.full.name()
	fmt.Printf("| target | config | spawn → first 200, ms | median of %d spawns on %s, ms | median of %d spawns on %s, ms | idle RSS, MiB | of which anon | of which file pages | peak RSS, MiB |\n",
		opt.spawns, base, opt.spawns, full)
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, p := range rep.procs {
		fmt.Printf("| %s | %s | %.1f | %s | %s | %.1f | %.1f | %.1f | %.1f |\n", p.target, p.config, ms(p.ready),
			p.median(base), p.median(full), p.idle.rss, p.idle.anon, p.idle.file, p.peak)
	}
	rep.printGrowth()
	fmt.Println()
	fmt.Println("| target | figure | met? |")
	fmt.Println("|---|---|---|")
	for _, t := range rep.targets() {
		fmt.Printf("| %s | %s | %s |\n", t.name, t.figure, t.met)
	}
}

// median is the median time to the first 200 of the spawns on config, in
// ms, or "–".
func (p procRow) median(config string) string {
	if d, ok := p.medians[config]; ok {
		return fmt.Sprintf("%.1f", ms(d))
	}
	return "–"
}

// printGrowth prints what the waiting runs cost: the live heap, read from
// the bot's /metrics after collections it was driven to, and its resident
// memory read right after it.
func (rep *report) printGrowth() {
	g := rep.growth
	live, perRun := "–", "–"
	if pr, ok := g.livePerRun(); ok {
		live, perRun = fmt.Sprintf("%.1f → %.1f", g.liveBefore.mib, g.liveAfter.mib), fmt.Sprintf("%.1f", pr)
	} else if g.runs > 0 {
		live = "not measured: " + g.liveError()
	}
	fmt.Println()
	fmt.Println("| runs waiting for approval | live heap before → after, MiB | live heap per run, KiB | RssAnon before → after, MiB | RssAnon per run, KiB | VmRSS before → after, MiB | VmRSS per run, KiB |")
	fmt.Println("|---|---|---|---|---|---|---|")
	fmt.Printf("| %d | %s | %s | %.1f → %.1f | %.1f | %.1f → %.1f | %.1f |\n", g.runs, live, perRun,
		g.before.anon, g.after.anon, g.perRun(g.after.anon-g.before.anon),
		g.before.rss, g.after.rss, g.perRun(g.after.rss-g.before.rss))
	if g.runs > 0 {
		fmt.Printf("\nEach reading follows at least %d GCs (%s) driven by signed reads (%s, status): before the runs, %s; after them, %s. RSS read right after.\n",
			gcWanted, gcCountMetric, "/deploy "+cmdHistory, g.liveBefore, g.liveAfter)
	}
}

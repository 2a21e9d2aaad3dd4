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
		target string
		// ready is the time from spawn to the first 200; readyMedian the
		// median of the spawns that followed (0: none).
		ready, readyMedian time.Duration
		idle               mem
		peak               float64
	}
)

// labels name the targets in the tables.
type labels struct{ bare, empty, large, waiting, example string }

type report struct {
	labels   labels
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
	fmt.Println("| target | command | connections | req/s | p50 ms | p99 ms | errors |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, r := range rep.rows {
		command := "/deploy " + r.command
		if r.target == rep.labels.bare {
			command = "(any)"
		}
		fmt.Printf("| %s | %s | %d | %.0f | %.2f | %.2f | %d |\n", r.target, command, r.conns, r.res.perSecond(),
			ms(r.res.p50), ms(r.res.p99), r.res.errors+r.res.refused)
	}
	fmt.Println()
	fmt.Printf("| target | spawn → first 200, ms | median of %d spawns, ms | idle RSS, MiB | of which anon | of which file pages | peak RSS, MiB |\n", opt.spawns)
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, p := range rep.procs {
		median := "–"
		if p.readyMedian > 0 {
			median = fmt.Sprintf("%.1f", ms(p.readyMedian))
		}
		fmt.Printf("| %s | %.1f | %s | %.1f | %.1f | %.1f | %.1f |\n", p.target, ms(p.ready), median,
			p.idle.rss, p.idle.anon, p.idle.file, p.peak)
	}
	g := rep.growth
	fmt.Println()
	fmt.Println("| runs waiting for approval | VmRSS before → after, MiB | RssAnon before → after, MiB | anon per run, KiB | VmRSS per run, KiB |")
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| %d | %.1f → %.1f | %.1f → %.1f | %.1f | %.1f |\n", g.runs, g.before.rss, g.after.rss,
		g.before.anon, g.after.anon, g.perRun(g.after.anon-g.before.anon), g.perRun(g.after.rss-g.before.rss))
	fmt.Println()
	fmt.Println("| target | figure | met? |")
	fmt.Println("|---|---|---|")
	for _, t := range rep.targets() {
		fmt.Printf("| %s | %s | %s |\n", t.name, t.figure, t.met)
	}
}

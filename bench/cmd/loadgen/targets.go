package main

import (
	"fmt"
	"time"
)

// target is one "done when" target of the performance issue, with the
// figure of this run that decides it.
type target struct{ name, figure, met string }

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

var unmeasured = target{figure: "not measured", met: "–"}

// targets computes every target from this run's figures: ratios are
// between phases of the same run.
func (rep *report) targets() []target {
	ts := rep.stateChange()
	ts = append(ts, rep.read(), rep.idleExample(), rep.spawnLarge())
	ts = append(ts, rep.growthTargets()...)
	return append(ts, rep.noLostEffect())
}

// named returns t, or unmeasured, under name.
func named(name string, t target, ok bool) target {
	if !ok {
		t = unmeasured
	}
	t.name = name
	return t
}

// stateChange is target 1: the lock and unlock beside the bare handler at
// the most connections, and at one connection beside one fsync.
func (rep *report) stateChange() []target {
	n := rep.maxConns
	bare, okB := rep.find(rep.labels.bare, cmdStatus, n)
	lock, okL := rep.find(rep.labels.empty, cmdLock, n)
	x := lock.perSecond() / bare.perSecond()
	tput := target{figure: fmt.Sprintf("%.0f req/s = %.2f× bare (%.0f)", lock.perSecond(), x, bare.perSecond()), met: yes(x >= 0.5)}
	y := float64(lock.p99) / float64(bare.p99)
	p99 := target{figure: fmt.Sprintf("p99 %.2f ms = %.2f× bare (%.2f ms)", ms(lock.p99), y, ms(bare.p99)), met: yes(y <= 2)}
	one, ok1 := rep.find(rep.labels.empty, cmdLock, 1)
	// Each quantile of the latency against the same quantile of one fsync
	// on this disk, plus 1 ms.
	lim50, lim99 := rep.fsync.p50+time.Millisecond, rep.fsync.p99+time.Millisecond
	single := target{
		figure: fmt.Sprintf("p50 %.2f ms ≤ fsync p50 + 1 ms = %.2f ms; p99 %.2f ms ≤ fsync p99 + 1 ms = %.2f ms",
			ms(one.p50), ms(lim50), ms(one.p99), ms(lim99)),
		met: yes(one.p50 <= lim50 && one.p99 <= lim99),
	}
	return []target{
		named(fmt.Sprintf("1. state change ×%d: req/s ≥ 0.5× bare", n), tput, okB && okL),
		named(fmt.Sprintf("1. state change ×%d: p99 ≤ 2× bare", n), p99, okB && okL),
		named("1. state change ×1: latency ≤ one fsync + 1 ms (p50 and p99 each)", single, ok1),
	}
}

// read is target 2: /deploy status beside the bare handler.
func (rep *report) read() target {
	n := rep.maxConns
	bare, okB := rep.find(rep.labels.bare, cmdStatus, n)
	st, okS := rep.find(rep.labels.empty, cmdStatus, n)
	x := st.perSecond() / bare.perSecond()
	t := target{figure: fmt.Sprintf("%.0f req/s = %.2f× bare (%.0f)", st.perSecond(), x, bare.perSecond()), met: yes(x >= 0.5)}
	return named(fmt.Sprintf("2. read ×%d: req/s ≥ 0.5× bare", n), t, okB && okS)
}

// idleExample is target 3: the idle resident set on the example
// configuration.
func (rep *report) idleExample() target {
	ex, ok := rep.proc(rep.labels.example)
	own, _ := rep.proc(rep.labels.empty)
	t := target{
		figure: fmt.Sprintf("VmRSS %.1f MiB (RssAnon %.1f, RssFile %.1f); loadgen's config (%s), empty store: %.1f MiB",
			ex.idle.rss, ex.idle.anon, ex.idle.file, own.config, own.idle.rss),
		met: yes(ex.idle.rss <= 20),
	}
	return named("3. idle RSS ≤ 20 MiB ("+exampleConfig+")", t, ok)
}

// spawnLarge is target 4: spawn to the first 200 on the large store, the
// median of the spawns on the base configuration (the apps the state
// change uses), beside those on the full one.
func (rep *report) spawnLarge() target {
	base, full := rep.configs.base.name(), rep.configs.full.name()
	large, ok := rep.proc(rep.labels.large)
	empty, _ := rep.proc(rep.labels.empty)
	med, okM := large.medians[base]
	t := target{
		figure: fmt.Sprintf("median %.1f ms on %s (on %s: median %s ms, first spawn %.1f ms); empty store: median %s ms on %s, %s ms on %s",
			ms(med), base, full, large.median(full), ms(large.ready), empty.median(base), base, empty.median(full), full),
		met: yes(med <= 50*time.Millisecond),
	}
	return named(fmt.Sprintf("4. spawn → first 200 ≤ 50 ms, %s, on %s", rep.labels.large, base), t, ok && okM)
}

// growthTargets is target 5: with the history and the waiting runs, the
// state change's p99 beside the empty store's, the reads' latency at one
// connection, and the memory per waiting run.
func (rep *report) growthTargets() []target {
	n := rep.maxConns
	empty, okE := rep.find(rep.labels.empty, cmdLock, n)
	loaded, okL := rep.find(rep.labels.waiting, cmdLock, n)
	x := float64(loaded.p99) / float64(empty.p99)
	lock := target{figure: fmt.Sprintf("p99 %.2f ms = %.2f× empty store's (%.2f ms); %s", ms(loaded.p99), x, ms(empty.p99),
		rep.sameConfig(rep.labels.waiting, rep.labels.empty)), met: yes(x <= 1.5)}
	ts := []target{named(fmt.Sprintf("5a. state change ×%d p99, %s: ≤ 1.5× empty store's", n, rep.labels.waiting), lock, okE && okL)}
	for _, c := range []string{cmdStatus, cmdHistory} {
		e, okE := rep.find(rep.labels.empty, c, 1)
		l, okL := rep.find(rep.labels.waiting, c, 1)
		t := target{
			figure: fmt.Sprintf("p50 / p99: %.2f / %.2f ms loaded; %.2f / %.2f ms empty", ms(l.p50), ms(l.p99), ms(e.p50), ms(e.p99)),
			met:    yes(l.p99 <= 10*time.Millisecond && e.p99 <= 10*time.Millisecond),
		}
		ts = append(ts, named("5b. /deploy "+c+" ×1 ≤ 10 ms", t, okE && okL))
	}
	g := rep.growth
	anon := g.perRun(g.after.anon - g.before.anon)
	rss := fmt.Sprintf("RssAnon %+.1f KiB per run, which includes the collector's headroom; VmRSS %+.1f KiB per run", anon, g.perRun(g.after.rss-g.before.rss))
	live, ok := g.livePerRun()
	mem := target{
		figure: fmt.Sprintf("live heap %+.1f KiB per run, %+.1f MiB for %d (%s)", live, g.liveAfter.mib-g.liveBefore.mib, g.runs, rss),
		met:    yes(live <= 10),
	}
	if !ok {
		mem = target{figure: fmt.Sprintf("live heap not measured, %s (%s)", g.liveError(), rss), met: "–"}
	}
	return append(ts, named("5c. memory ≤ 10 KiB per waiting run (live heap, after GC)", mem, g.runs > 0))
}

// sameConfig says which configuration the targets a and b ran on.
func (rep *report) sameConfig(a, b string) string {
	pa, _ := rep.proc(a)
	pb, _ := rep.proc(b)
	if pa.config == pb.config {
		return "both on " + pa.config
	}
	return fmt.Sprintf("loaded on %s, empty on %s", pa.config, pb.config)
}

// noLostEffect is target 6: every lock and unlock answered as done, and no
// lock left held after the load.
func (rep *report) noLostEffect() target {
	var locks, unlocks, bad int
	for _, r := range rep.rows {
		if r.command != cmdLock || r.target == rep.labels.bare {
			continue
		}
		locks += r.res.matched[lockedAnswer]
		unlocks += r.res.matched[unlockedAnswer]
		bad += r.res.errors + r.res.refused
	}
	t := target{
		figure: fmt.Sprintf("%d locks and %d unlocks answered as done, %d not; %d locks held after the load (%d bots asked)",
			locks, unlocks, bad, rep.locksHeld, rep.lockChecks),
		met: yes(locks == unlocks && bad == 0 && rep.locksHeld == 0 && rep.lockChecks > 0),
	}
	return named("6. no lost or doubled effect", t, locks > 0)
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The commands the load phases send, as the tables name them after
// "/deploy ".
const (
	cmdStatus  = "status"
	cmdLock    = "lock / unlock"
	cmdHistory = "history " + historyApp + " " + historyEnv
)

var scripts = map[string]script{cmdStatus: statusScript, cmdLock: lockScript, cmdHistory: historyScript}

// phase is one closed-loop load: a command at a number of connections.
type phase struct {
	command string
	conns   int
}

// phases is every command at every number of connections, in that order.
func phases(conns []int, commands ...string) []phase {
	var ps []phase
	for _, c := range commands {
		for _, n := range conns {
			ps = append(ps, phase{c, n})
		}
	}
	return ps
}

// withOne adds each command at one connection where ps lacks it.
func withOne(ps []phase, commands ...string) []phase {
	for _, c := range commands {
		if !slices.Contains(ps, phase{c, 1}) {
			ps = append(ps, phase{c, 1})
		}
	}
	return ps
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
	logf("%s", rep.labels.bare)
	p, err := spawn(addr, nil, self, "-serve-bare", addr)
	if err != nil {
		return err
	}
	defer p.stop()
	pr := procRow{target: rep.labels.bare, config: "–", ready: p.ready}
	if pr.idle, err = p.idle(opt.settle); err != nil {
		return err
	}
	rep.load(opt, pr.target, p, phases(opt.conns, cmdStatus))
	return rep.finish(pr, p, false)
}

// empty measures the bot on an empty store, on the full configuration
// (like the bot with the waiting runs it is compared with): every command
// at every number of connections, and the reads and the state change at
// one; then the median time to the first 200 of spawns on fresh stores,
// on each configuration.
func (rep *report) empty(opt options, s setups, dir string) error {
	logf("%s", rep.labels.empty)
	err := rep.session(opt, s.full, rep.labels.empty, filepath.Join(dir, "main", "shipmate.db"), func(p *proc) error {
		rep.load(opt, rep.labels.empty, p, withOne(phases(opt.conns, cmdStatus, cmdLock), cmdStatus, cmdLock, cmdHistory))
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range []botSetup{s.base, s.full} {
		err := rep.median(opt, c, rep.labels.empty, func(i int) string {
			return filepath.Join(dir, fmt.Sprintf("spawn-%d-%d", c.apps+c.waiting, i), "shipmate.db")
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// large measures the bot on a copy of the seeded store, on the full
// configuration: the read and the state change at the most connections;
// the median time to the first 200 on each configuration (target 4 is
// judged on the base one); then a bot on the same store that first leaves
// opt.waiting runs waiting for approval.
func (rep *report) large(opt options, s setups, dir, seeded string) error {
	path := filepath.Join(dir, "shipmate.db")
	if err := copyFile(path, seeded); err != nil {
		return err
	}
	logf("%s", rep.labels.large)
	err := rep.session(opt, s.full, rep.labels.large, path, func(p *proc) error {
		rep.load(opt, rep.labels.large, p, phases([]int{rep.maxConns}, cmdStatus, cmdLock))
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range []botSetup{s.base, s.full} {
		if err := rep.median(opt, c, rep.labels.large, func(int) string { return path }); err != nil {
			return err
		}
	}
	logf("%s", rep.labels.waiting)
	return rep.session(opt, s.full, rep.labels.waiting, path, rep.waiting(opt))
}

// waiting measures what opt.waiting runs left waiting for approval cost:
// the live heap and resident memory after collections before they are
// made, and again once they are made and the bot has settled; then the
// state change at the most connections and the reads at one.
func (rep *report) waiting(opt options) func(*proc) error {
	return func(p *proc) error {
		logf("live heap before the waiting runs: driving %d GCs with reads", gcWanted)
		liveBefore, before, err := postGC(p)
		if err != nil {
			return err
		}
		logf("%d deploys to production, each left waiting for approval", opt.waiting)
		began := time.Now()
		if err := makeWaiting(p.addr, opt.waiting); err != nil {
			return err
		}
		logf("%d runs waiting after %.1fs", opt.waiting, time.Since(began).Seconds())
		time.Sleep(opt.settle)
		logf("live heap after the waiting runs: driving %d GCs with reads", gcWanted)
		liveAfter, after, err := postGC(p)
		if err != nil {
			return err
		}
		rep.growth = growth{runs: opt.waiting, before: before, after: after, liveBefore: liveBefore, liveAfter: liveAfter}
		rep.load(opt, rep.labels.waiting, p, []phase{{cmdLock, rep.maxConns}, {cmdStatus, 1}, {cmdHistory, 1}})
		return nil
	}
}

// session starts the bot on store with the configuration s, reads its idle
// memory, runs work, checks that it holds no lock, and reads its peak. The
// row it adds is on rep.procs while work runs.
func (rep *report) session(opt options, s botSetup, label, store string, work func(*proc) error) error {
	p, err := startBot(s, store)
	if err != nil {
		return err
	}
	defer p.stop()
	idle, err := p.idle(opt.settle)
	if err != nil {
		return err
	}
	rep.procs = append(rep.procs, procRow{target: label, config: s.name(), ready: p.ready, idle: idle})
	if err := work(p); err != nil {
		return err
	}
	return rep.finish(rep.procs[len(rep.procs)-1], p, true)
}

// median spawns the bot opt.spawns times with the configuration s on the
// stores path names and notes the median time to the first 200 on label's
// row, under s's name.
func (rep *report) median(opt options, s botSetup, label string, path func(int) string) error {
	logf("%s: %d spawns on %s", label, opt.spawns, s.name())
	med, err := spawnMedian(s, opt.spawns, path)
	if err != nil {
		return err
	}
	for i := range rep.procs {
		if rep.procs[i].target == label {
			if rep.procs[i].medians == nil {
				rep.procs[i].medians = map[string]time.Duration{}
			}
			rep.procs[i].medians[s.name()] = med
		}
	}
	return nil
}

// example reads the idle memory of the bot on the example configuration.
func (rep *report) example(opt options, dir string) error {
	logf("%s", rep.labels.example)
	p, err := startExample(opt.bot, dir)
	if err != nil {
		return err
	}
	defer p.stop()
	pr := procRow{target: rep.labels.example, config: exampleConfig, ready: p.ready}
	if pr.idle, err = p.idle(opt.settle); err != nil {
		return err
	}
	return rep.finish(pr, p, false)
}

// load runs the phases against p and adds their rows.
func (rep *report) load(opt options, label string, p *proc, ps []phase) {
	for _, ph := range ps {
		res := load(p.addr, ph.conns, opt.duration, scripts[ph.command])
		if res.firstErr != nil {
			logf("%s %s ×%d: %d errors, %d refused; first: %v", label, ph.command, ph.conns, res.errors, res.refused, res.firstErr)
		}
		rep.rows = append(rep.rows, row{target: label, command: ph.command, conns: ph.conns, res: res})
	}
}

// finish checks, when locks, that p holds no lock, reads its peak memory
// and sets pr as p's row (replacing the last row if it is p's).
func (rep *report) finish(pr procRow, p *proc, locks bool) error {
	if locks {
		held, err := heldLocks(p.addr)
		if err != nil {
			return fmt.Errorf("%s: /deploy status after the load: %w", pr.target, err)
		}
		rep.lockChecks++
		rep.locksHeld += held
	}
	m, err := p.memory()
	if err != nil {
		return err
	}
	pr.peak = m.peak
	if n := len(rep.procs); n > 0 && rep.procs[n-1].target == pr.target {
		rep.procs[n-1] = pr
	} else {
		rep.procs = append(rep.procs, pr)
	}
	return nil
}

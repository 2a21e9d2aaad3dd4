package main

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// growth is what the runs left waiting for approval cost: the bot's live
// heap and resident memory before and after they were made, each read
// after collections loadgen drove (and, after, once the bot has settled).
type growth struct {
	runs                  int
	before, after         mem
	liveBefore, liveAfter liveHeap
}

// perRun is how much d (MiB) grew per waiting run, in KiB.
func (g growth) perRun(d float64) float64 { return d * 1024 / float64(g.runs) }

// livePerRun is how much the live heap grew per waiting run, in KiB, and
// whether both readings were made.
func (g growth) livePerRun() (float64, bool) {
	if g.liveBefore.err != nil || g.liveAfter.err != nil {
		return 0, false
	}
	return g.perRun(g.liveAfter.mib - g.liveBefore.mib), true
}

// liveError says why the live heap per run is missing.
func (g growth) liveError() string {
	if g.liveBefore.err != nil {
		return "before the runs: " + g.liveBefore.err.Error()
	}
	return "after the runs: " + g.liveAfter.err.Error()
}

// postGC drives collections in the bot and reads its live heap, then its
// resident memory.
func postGC(p *proc) (liveHeap, mem, error) {
	h := heapAfterGC(p.addr)
	if h.err != nil {
		logf("live heap: %v", h.err)
	}
	m, err := p.memory()
	return h, m, err
}

// waitingAnswer is what a deploy to production answers once its run is
// stored; the run then waits for a release manager.
const waitingAnswer = "requested"

// awaiting is how /deploy status shows a run waiting for approval.
const awaiting = "awaiting approval"

// makeWaiting sends n signed "/deploy wait-N v1.0.0 production" over a few
// connections, checks that each answer says the run was requested, and
// then that /deploy status lists n runs awaiting approval.
func makeWaiting(addr string, n int) error {
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			hc := client()
			defer hc.CloseIdleConnections()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				text := fmt.Sprintf("%s v1.0.0 production", waitName(i))
				out, err := send(hc, addr, text)
				if err == nil && !bytes.Contains(out, []byte(waitingAnswer)) {
					err = fmt.Errorf("%q answered %s", text, out)
				}
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	return awaitWaiting(addr, n)
}

// awaitWaiting asks /deploy status wait-N of each of the n apps until each
// shows its run awaiting approval, for up to 30s in all.
func awaitWaiting(addr string, n int) error {
	hc := client()
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < n; {
		out, err := send(hc, addr, "status "+waitName(i))
		if err != nil {
			return err
		}
		if strings.Contains(string(out), awaiting) {
			i++
			continue
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/deploy status %s: %s; want its run %s", waitName(i), out, awaiting)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// heldLocks asks /deploy status which locks the bot holds (each listed as
// "<app> in <env> is locked by …"), and returns how many.
func heldLocks(addr string) (int, error) {
	hc := client()
	defer hc.CloseIdleConnections()
	out, err := send(hc, addr, "status")
	if err != nil {
		return 0, err
	}
	return strings.Count(string(out), " is locked by "), nil
}

// spawnMedian starts the bot n times, on the store path(i) names for the
// i-th, each until its first 200, and returns the median of those times.
func spawnMedian(s botSetup, n int, path func(i int) string) (time.Duration, error) {
	took := make([]time.Duration, 0, n)
	for i := range n {
		p, err := startBot(s, path(i))
		if err != nil {
			return 0, err
		}
		took = append(took, p.ready)
		p.stop()
	}
	slices.Sort(took)
	return took[n/2], nil
}
